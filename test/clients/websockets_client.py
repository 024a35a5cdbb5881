"""A client for test/clients.test.ts built on Python's `websockets` (asyncio API).

Usage: /usr/bin/python3 websockets_client.py <base url> <case>
Prints one JSON object per line; the test parses them. Every wait is bounded.
Exit code 3 (with {"missing": ...}) when the library cannot be imported.
"""
import asyncio
import json
import sys

try:
    import websockets
    from websockets.exceptions import ConnectionClosed
except ImportError as error:  # the test decides whether that is a skip or a failure
    print(json.dumps({"missing": "websockets", "error": str(error)}), flush=True)
    sys.exit(3)

TIMEOUT = 5


def emit(**fields):
    print(json.dumps(fields), flush=True)


def connect(url, **options):
    return websockets.connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **options)


async def closed(ws):
    """Waits for the server to close the connection and reports how."""
    try:
        message = await asyncio.wait_for(ws.recv(), TIMEOUT)
        emit(event="unexpected message", data=message)
    except ConnectionClosed:
        pass
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    emit(event="closed", code=ws.close_code, reason=ws.close_reason)


async def typed(base):
    async with connect(base + "/typed") as ws:
        await ws.send(json.dumps({"n": 21}))
        emit(event="message", data=json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        await ws.send(json.dumps({"n": "x"}))
        await closed(ws)


async def subprotocol(base):
    async with connect(base + "/chat", subprotocols=["chat.v1", "chat.v2"]) as ws:
        emit(event="open", subprotocol=ws.subprotocol)
        emit(event="message", data=await asyncio.wait_for(ws.recv(), TIMEOUT))


async def compression(base):
    # compression="deflate" is websockets' default: stated here so the case says what it tests.
    async with connect(base + "/deflate", compression="deflate") as ws:
        emit(
            event="open",
            header=ws.response_headers.get("Sec-WebSocket-Extensions"),
            extensions=[extension.name for extension in ws.extensions],
        )
        message = "fastify-upgrade " * 640  # 10,240 bytes, very compressible
        await ws.send(message)
        echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
        emit(event="echo", sent=len(message), received=len(echo), equal=echo == message)


async def close_code(base):
    async with connect(base + "/closer") as ws:
        await ws.send("close-me")
        await closed(ws)


async def main():
    base, case = sys.argv[1], sys.argv[2]
    cases = {"typed": typed, "subprotocol": subprotocol, "compression": compression, "close": close_code}
    await asyncio.wait_for(cases[case](base), 3 * TIMEOUT)
    emit(event="done")


if __name__ == "__main__":
    if sys.argv[1:] == ["version"]:
        emit(library="websockets", version=websockets.__version__, python=sys.version.split()[0])
    else:
        asyncio.run(main())
