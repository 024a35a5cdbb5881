"""Hand-built frames for test/clients.test.ts, sent through Python's websocket-client.

Usage: /usr/bin/python3 frames_client.py <base url> <case>
websocket-client does the handshake and reads the server's frames; the frames we send
are built with websocket.ABNF and written on the raw socket (ws.sock.sendall), so they
can break the rules on purpose. Prints one JSON object per line; every read is bounded.
Exit code 3 (with {"missing": ...}) when the library cannot be imported.
"""
import json
import struct
import sys
import time

try:
    import websocket
    from websocket import ABNF
except ImportError as error:  # the test decides whether that is a skip or a failure
    print(json.dumps({"missing": "websocket-client", "error": str(error)}), flush=True)
    sys.exit(3)

TIMEOUT = 5


def emit(**fields):
    print(json.dumps(fields), flush=True)


def frame(opcode, data, fin=1, rsv1=0, mask=1):
    return ABNF(fin=fin, rsv1=rsv1, opcode=opcode, mask=mask, data=data).format()


def report(opcode, received):
    """Reports one frame read by websocket-client (close frames with their code)."""
    if opcode == ABNF.OPCODE_CLOSE:
        data = received.data
        code = struct.unpack("!H", data[0:2])[0] if len(data) >= 2 else None
        emit(event="close", code=code, reason=data[2:].decode("utf-8", "replace"))
    elif opcode == ABNF.OPCODE_TEXT:
        emit(event="text", data=received.data.decode("utf-8"), fin=received.fin)
    else:
        emit(event=ABNF.OPCODE_MAP.get(opcode, str(opcode)), data=received.data.decode("latin-1"))


def read_until_close(ws):
    """Reads frames until the server's close frame (websocket-client answers it), or a timeout."""
    try:
        while True:
            opcode, received = ws.recv_data_frame(True)
            report(opcode, received)
            if opcode == ABNF.OPCODE_CLOSE:
                return
    except websocket.WebSocketTimeoutException:
        emit(event="timeout")
    except websocket.WebSocketConnectionClosedException:
        emit(event="connection closed without a close frame")


def unmasked(ws):
    ws.sock.sendall(frame(ABNF.OPCODE_TEXT, b"hello", mask=0))
    read_until_close(ws)


def rsv1(ws):
    ws.sock.sendall(frame(ABNF.OPCODE_TEXT, b"hello", rsv1=1))
    read_until_close(ws)


def invalid_utf8(ws):
    ws.sock.sendall(frame(ABNF.OPCODE_TEXT, b"\xff\xfe"))
    read_until_close(ws)


def fragmented(ws):
    # One text message in three fragments, a ping between the first two. Each frame goes
    # out on its own, a little apart, so the server sees them in separate reads.
    frames = [
        frame(ABNF.OPCODE_TEXT, b"frag-one ", fin=0),
        frame(ABNF.OPCODE_PING, b"are you there?"),
        frame(ABNF.OPCODE_CONT, "frag-two \u00e9 ".encode("utf-8"), fin=0),
        frame(ABNF.OPCODE_CONT, b"frag-three", fin=1),
    ]
    for raw in frames:
        ws.sock.sendall(raw)
        time.sleep(0.02)
    for _ in range(2):  # the pong, then the echo
        try:
            opcode, received = ws.recv_data_frame(True)
        except websocket.WebSocketTimeoutException:
            emit(event="timeout")
            return
        report(opcode, received)
    ws.close(timeout=TIMEOUT)  # websocket-client's own closing handshake (1000)
    emit(event="closed by client")


def oversized(ws):
    ws.sock.sendall(frame(ABNF.OPCODE_TEXT, b"x" * 2048))
    read_until_close(ws)


CASES = {
    "unmasked": ("/echo", unmasked),
    "rsv1": ("/echo", rsv1),
    "invalid-utf8": ("/echo", invalid_utf8),
    "fragmented": ("/echo", fragmented),
    "oversized": ("/small", oversized),
}

if __name__ == "__main__":
    if sys.argv[1:] == ["version"]:
        emit(library="websocket-client", version=websocket.__version__, python=sys.version.split()[0])
        sys.exit(0)
    base, case = sys.argv[1], sys.argv[2]
    path, run = CASES[case]
    ws = websocket.create_connection(base + path, timeout=TIMEOUT)
    emit(event="open", status=ws.getstatus())
    run(ws)
    emit(event="done")
