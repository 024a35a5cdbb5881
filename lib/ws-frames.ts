// A topic's frame, built once per publish and written as is to every subscriber's socket:
// the one place the plugin relies on ws' Sender internals (test/ws-frames.test.ts fails
// if they change). ws' own send() frames the data again for each socket (a header buffer,
// option objects, two writes); a frame built once costs one write. It may be written only
// where ws itself would send at once: its sender idle (not compressing or reading a Blob,
// nothing queued) and not in the middle of a fragmented message; elsewhere ws' send() is used.

/** What the fan-out hands each subscriber: the payload, its type, and the frame of both. */
export interface TopicFrame {
  payload: Buffer
  isBinary: boolean
  /** FIN, text or binary opcode, unmasked (server to client), the payload length, the payload. */
  wire: Buffer
}

const opcodeText = 0x1
const opcodeBinary = 0x2
const fin = 0x80

export function topicFrame (payload: Buffer, isBinary: boolean): TopicFrame {
  const length = payload.length
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10
  const wire = Buffer.allocUnsafe(headerLength + length)
  wire[0] = fin | (isBinary ? opcodeBinary : opcodeText)
  if (length < 126) {
    wire[1] = length
  } else if (length < 65536) {
    wire[1] = 126
    wire.writeUInt16BE(length, 2)
  } else {
    wire[1] = 127
    wire.writeUInt32BE(Math.floor(length / 0x100000000), 2)
    wire.writeUInt32BE(length >>> 0, 6)
  }
  payload.copy(wire, headerLength)
  return { payload, isBinary, wire }
}

/** ws' Sender, as far as this module reads it (ws 8: lib/sender.js). */
interface SenderState {
  /** 0 (DEFAULT): idle; 1 (DEFLATING) and 2 (GET_BLOB_DATA): busy, sends are queued. */
  _state: number
  _queue: unknown[]
  /** False between the first and the last frame of a fragmented message. */
  _firstFragment: boolean
}

const idle = 0

/** Whether a frame written to the socket now lands where ws' own send() would put it. */
export function senderIsIdle (socket: object): boolean {
  const sender = (socket as { _sender?: SenderState | null })._sender
  return sender !== undefined && sender !== null && sender._state === idle && sender._queue.length === 0 && sender._firstFragment
}
