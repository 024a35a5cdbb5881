// Limits a hostile client can ignore: a raw TCP peer that floods frames after a policy
// close and never answers it, ping floods, bytes trickled against the handshake deadline
// and against the linger after a refusal, and options that would bypass the hooks or the
// origin check. Every peer here is a raw TCP client with hand-built frames.
import t from 'tap'
import net from 'node:net'
import Fastify, { type FastifyError } from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import { delay, handshake, listen, parseResponse, rawExchange, within, type RawResponse } from './helpers.js'

/** A response body as JSON, or as text when it is not JSON (e.g. empty after a 101). */
function json (body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return body
  }
}

const opcode = { text: 0x1, close: 0x8, ping: 0x9, pong: 0xa } as const

/** A masked client frame (RFC 6455 section 5.2) with FIN set and a payload under 126 bytes. */
function frame (code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const mask = [0x12, 0x34, 0x56, 0x78]
  const out = Buffer.alloc(6 + payload.length)
  out[0] = 0x80 | code
  out[1] = 0x80 | payload.length
  out.set(mask, 2)
  for (let i = 0; i < payload.length; i++) out[6 + i] = (payload[i] as number) ^ (mask[i % 4] as number)
  return out
}

function closePayload (code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  return payload
}

interface Frame { opcode: number, payload: Buffer }

/** Splits the server's (unmasked) frames off `bytes`; an incomplete frame is left in `rest`. */
function parseFrames (bytes: Buffer): { frames: Frame[], rest: Buffer } {
  const frames: Frame[] = []
  let offset = 0
  for (;;) {
    if (bytes.length - offset < 2) break
    let length = (bytes[offset + 1] as number) & 0x7f
    let start = offset + 2
    if (length === 126) {
      if (bytes.length - offset < 4) break
      length = bytes.readUInt16BE(offset + 2)
      start = offset + 4
    } else if (length === 127) {
      if (bytes.length - offset < 10) break
      length = Number(bytes.readBigUInt64BE(offset + 2))
      start = offset + 10
    }
    if (bytes.length < start + length) break
    frames.push({ opcode: (bytes[offset] as number) & 0x0f, payload: bytes.subarray(start, start + length) })
    offset = start + length
  }
  return { frames, rest: bytes.subarray(offset) }
}

interface RawPeer {
  socket: net.Socket
  /** Every frame the server sent, in order. */
  frames: Frame[]
  /** The server's close frame: code, reason, and when it arrived. */
  closeFrame: Promise<{ code: number, reason: string, at: number }>
  /** When the server ended or destroyed the TCP connection ('end' or 'close' on the client). */
  gone: Promise<number>
}

/**
 * A raw TCP client that completes a WebSocket handshake, then only collects what the
 * server sends: it never answers a close frame. allowHalfOpen: it does not end its side
 * when the server half-closes, like a stubborn peer.
 */
async function rawPeer (port: number, path: string): Promise<RawPeer> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  // Writes after the server hung up fail with EPIPE/ECONNRESET: expected of this peer.
  socket.on('error', () => {})
  const gone = new Promise<number>((resolve) => {
    socket.once('end', () => { resolve(Date.now()) })
    socket.once('close', () => { resolve(Date.now()) })
  })
  const frames: Frame[] = []
  let closeFrameArrived: (value: { code: number, reason: string, at: number }) => void = () => {}
  const closeFrame = new Promise<{ code: number, reason: string, at: number }>((resolve) => { closeFrameArrived = resolve })
  const opened = new Promise<void>((resolve, reject) => {
    let pending: Buffer = Buffer.alloc(0)
    let inHead = true
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      if (inHead) {
        const end = pending.indexOf('\r\n\r\n')
        if (end === -1) return
        const status = parseResponse(pending.subarray(0, end + 4).toString('latin1')).status
        if (status !== 101) { reject(new Error(`expected 101, got ${status}`)); return }
        inHead = false
        pending = pending.subarray(end + 4)
        resolve()
      }
      const parsed = parseFrames(pending)
      pending = parsed.rest
      for (const received of parsed.frames) {
        frames.push(received)
        if (received.opcode === opcode.close) {
          const code = received.payload.length >= 2 ? received.payload.readUInt16BE(0) : 1005
          closeFrameArrived({ code, reason: received.payload.subarray(2).toString(), at: Date.now() })
        }
      }
    })
  })
  socket.write(handshake(path))
  await within(opened, 2000, 'the 101')
  return { socket, frames, closeFrame, gone }
}

/** Writes `chunk` every `everyMs` ms until stopped or the socket is gone; counts the writes. */
function keepWriting (socket: net.Socket, chunk: Buffer, everyMs: number): { stop: () => void, writes: () => number } {
  let writes = 0
  const timer = setInterval(() => {
    if (socket.destroyed) { clearInterval(timer); return }
    socket.write(chunk)
    writes++
  }, everyMs)
  return { stop: () => { clearInterval(timer) }, writes: () => writes }
}

/** Resolves with the time `promise` settled, or undefined when `ms` passed first. */
async function timeOf (promise: Promise<number>, ms: number): Promise<number | undefined> {
  return await within(promise, ms).catch(() => undefined)
}

function repeat (chunk: Buffer, times: number): Buffer {
  return Buffer.concat(Array.from({ length: times }, () => chunk))
}

t.test("4a: after 1008 'rate limit exceeded' nothing more is delivered and a peer that keeps flooding is cut within 3 s", async (t) => {
  let handled = 0
  const { app, port } = await listen((app) => {
    app.get('/flood', { websocket: { rateLimit: { rate: 10, burst: 10, policy: 'close' }, heartbeat: false } }, (socket) => {
      socket.on('message', () => { handled++ })
    })
  }, { closeTimeout: 200 })
  const peer = await rawPeer(port, '/flood')
  const text = frame(opcode.text, Buffer.from('x'))
  peer.socket.write(repeat(text, 2000))
  // Then 50 more frames every 10 ms, for as long as the connection lasts (bounded below by within()).
  const writer = keepWriting(peer.socket, repeat(text, 50), 10)
  t.teardown(async () => {
    writer.stop()
    peer.socket.destroy()
    await app.close()
  })
  const closed = await within(peer.closeFrame, 3000, 'the close frame')
  const handledAtClose = handled
  const writesAtClose = writer.writes()
  t.same({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'rate limit exceeded' }, 'the close frame the client received')
  t.ok(handledAtClose <= 10 + 2, `${handledAtClose} messages handled before the close (burst 10)`)
  const goneAt = await timeOf(peer.gone, 3000)
  const writesAfterClose = writer.writes() - writesAtClose
  writer.stop()
  t.ok(goneAt !== undefined, 'the server ended the TCP connection within 3 s of its close frame')
  if (goneAt !== undefined) t.comment(`connection gone ${goneAt - closed.at} ms after the close frame`)
  t.ok(writesAfterClose > 0, `the client kept writing after the close frame (${writesAfterClose * 50} more frames)`)
  t.equal(handled, handledAtClose, 'no message was delivered after the close frame')
  t.notOk(peer.frames.some((received) => received.opcode === opcode.text), 'the server sent no data frame')
})

for (const control of ['ping', 'pong'] as const) {
  t.test(`4b: a ${control} flood counts against rateLimit: 'close' answers 1008 'rate limit exceeded' and cuts the peer`, async (t) => {
    const { app, port } = await listen((app) => {
      app.get('/pings', { websocket: { rateLimit: { rate: 10, policy: 'close' }, heartbeat: false } }, (socket) => {
        socket.on('message', () => {})
      })
    }, { closeTimeout: 200 })
    const peer = await rawPeer(port, '/pings')
    // Unsolicited pongs: the server sent no ping (heartbeat off).
    const controlFrame = frame(opcode[control], Buffer.from('p'))
    peer.socket.write(repeat(controlFrame, 1000))
    const writer = keepWriting(peer.socket, repeat(controlFrame, 50), 10)
    t.teardown(async () => {
      writer.stop()
      peer.socket.destroy()
      await app.close()
    })
    const closed = await within(peer.closeFrame, 3000, 'the close frame')
    t.same({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'rate limit exceeded' })
    const goneAt = await timeOf(peer.gone, 3000)
    writer.stop()
    t.ok(goneAt !== undefined, 'the server ended the TCP connection within 3 s of its close frame')
  })
}

t.test("4b: with 'drop', pings over the limit are counted and not handled; ws still answers each (RFC 6455 section 5.5.2)", async (t) => {
  let pingsHandled = 0
  const { app, port } = await listen((app) => {
    app.get('/pings', { websocket: { rateLimit: { rate: 10, policy: 'drop' }, heartbeat: false } }, (socket) => {
      socket.on('message', () => {})
      socket.on('ping', () => { pingsHandled++ })
    })
  }, { closeTimeout: 200 })
  const peer = await rawPeer(port, '/pings')
  t.teardown(async () => {
    peer.socket.destroy()
    await app.close()
  })
  // 50 pings in one write (under ws' own limit of 60 unanswered pings, past which ws
  // terminates), then a close frame: the server handles frames in order, so every pong it
  // sends for those pings comes before its answering close frame.
  peer.socket.write(Buffer.concat([repeat(frame(opcode.ping, Buffer.from('p')), 50), frame(opcode.close, closePayload(1000))]))
  await within(Promise.race([peer.closeFrame, peer.gone]), 3000, "the server's answering close frame")
  const pongs = peer.frames.filter((received) => received.opcode === opcode.pong).length
  t.equal(pongs, 50, 'a ping is always answered: the RFC requires it')
  t.ok(pingsHandled >= 10 && pingsHandled <= 10 + 2, `${pingsHandled} pings reached the route's listener (burst 10)`)
  t.ok(app.websocketStats().droppedMessages >= 50 - 10 - 2, `${app.websocketStats().droppedMessages} pings dropped and counted`)
  t.ok(peer.frames.some((received) => received.opcode === opcode.close), 'the closing handshake completed: the connection was kept')
})

t.test('a ping flood from a peer that never reads its pongs is cut off by ws (60 unanswered), rate limit or not', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/pings', { websocket: { heartbeat: false } }, (socket) => { socket.on('message', () => {}) })
  })
  const peer = await rawPeer(port, '/pings')
  peer.socket.pause() // never reads: the pongs pile up on the server
  const writer = keepWriting(peer.socket, repeat(frame(opcode.ping, Buffer.alloc(125)), 500), 10)
  t.teardown(async () => {
    writer.stop()
    peer.socket.destroy()
    await app.close()
  })
  const goneAt = await timeOf(peer.gone, 5000)
  writer.stop()
  t.ok(goneAt !== undefined, 'the server cut the connection within 5 s')
  t.same(app.websocketStats().closes, { 1006: 1 }, 'terminated, without a closing handshake')
})

interface StubbornClient {
  /** The complete HTTP response (head and Content-Length body), and when it was complete. */
  response: Promise<{ response: RawResponse, at: number }>
  /** When the client's socket closed (the server hung up). */
  closed: Promise<number>
  sentAt: number
  destroy: () => void
}

/**
 * Sends `request`, then trickles one byte every 300 ms (an attacker keeping the socket
 * busy) until the socket closes or `destroy` is called.
 */
function stubbornClient (port: number, request: string): StubbornClient {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => {
    socket.once('close', () => {
      clearInterval(trickle)
      resolve(Date.now())
    })
  })
  const response = new Promise<{ response: RawResponse, at: number }>((resolve) => {
    let received: Buffer = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const parsed = parseResponse(received.toString('latin1'))
      const end = received.indexOf('\r\n\r\n')
      if (end !== -1 && Buffer.byteLength(parsed.body, 'latin1') >= Number(parsed.headers['content-length'] ?? 0)) {
        resolve({ response: parsed, at: Date.now() })
      }
    })
  })
  const client: StubbornClient = {
    response,
    closed,
    sentAt: Date.now(),
    destroy: () => {
      clearInterval(trickle)
      socket.destroy()
    }
  }
  socket.write(request)
  const trickle = setInterval(() => { if (!socket.destroyed) socket.write('x') }, 300)
  return client
}

for (const errorHandler of [false, true]) {
  const shaped = errorHandler ? ", shaped by the app's setErrorHandler" : ''
  t.test(`4c: handshakeTimeout is absolute: a hook that never finishes gets 503 even while the client trickles bytes${shaped}`, async (t) => {
    const { app, port } = await listen((app) => {
      if (errorHandler) {
        app.setErrorHandler<FastifyError>((error, _request, reply) => {
          void reply.code(error.statusCode ?? 500).send({ custom: true, code: error.code })
        })
      }
      // A callback-style hook that never calls done.
      app.get('/hang', { websocket: true, onRequest: (_request, _reply, _done) => {} }, () => {})
    }, { handshakeTimeout: 500, closeTimeout: 200 })
    const client = stubbornClient(port, handshake('/hang'))
    t.teardown(async () => {
      client.destroy()
      await app.close()
    })
    const { response, at } = await within(client.response, 3000, 'the 503')
    t.equal(response.status, 503)
    t.equal(response.headers['retry-after'], '5')
    if (errorHandler) t.same(json(response.body), { custom: true, code: 'FST_UPGRADE_UNAVAILABLE' }, "the app's error handler wrote the body")
    else t.match(json(response.body), { statusCode: 503, code: 'FST_UPGRADE_UNAVAILABLE' })
    t.ok(at - client.sentAt < 2000, `answered ${at - client.sentAt} ms after the request (handshakeTimeout 500 ms)`)
  })
}

t.test('4c: the deadline passes while an earlier pipelined request is still answered: that answer completes, then 503', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/slow', async () => { await new Promise((resolve) => setTimeout(resolve, 700)); return 'slow done' })
    app.get('/ws', { websocket: true }, () => {})
  }, { handshakeTimeout: 200, closeTimeout: 200 })
  t.teardown(() => app.close())
  const started = Date.now()
  const { text, closedByServer } = await rawExchange(port, `GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n${handshake('/ws')}`, 3000)
  const [first, second] = text.split(/(?=HTTP\/1\.1 )/)
  t.match(first, /^HTTP\/1\.1 200 [\s\S]*slow done$/, 'the earlier response is whole')
  t.equal(parseResponse(second ?? '').status, 503, 'then the upgrade, past its deadline, gets 503')
  t.match(json(parseResponse(second ?? '').body), { code: 'FST_UPGRADE_UNAVAILABLE' })
  t.ok(closedByServer, 'and the connection ends')
  t.ok(Date.now() - started < 2000, `all within ${Date.now() - started} ms`)
  t.same(app.websocketStats().rejectedHandshakes, { FST_UPGRADE_UNAVAILABLE: 1 })
})

t.test('4c: staggered upgrades each get their 503 at their own deadline, past 100 refused ones still lingering between them, and again after a quiet spell', async (t) => {
  // One timer keeps every handshake deadline (lib/handshake-deadlines.ts): set for the
  // oldest pending upgrade, then again for the next one. Refused upgrades whose sockets
  // linger are pending too, but no longer wait for a deadline: the timer never meets them.
  const timeout = 300
  const { app, port } = await listen((app) => {
    app.get('/hang', { websocket: true, onRequest: (_request, _reply, _done) => {} }, () => {})
    app.get('/refuse', { websocket: true, onRequest: async (_request, reply) => { await reply.code(401).send('no') } }, () => {})
  }, { handshakeTimeout: timeout, refusalLinger: 3000, closeTimeout: 200 })
  const lingering: net.Socket[] = []
  t.teardown(async () => {
    for (const socket of lingering) socket.destroy()
    await app.close()
  })
  /** A hanging handshake: when its answer came, in ms after it was sent. */
  const timed = async (): Promise<{ status: number, after: number, at: number }> => {
    const sent = performance.now()
    const response = await rawExchange(port, handshake('/hang'), 3000)
    const at = performance.now()
    return { status: response.status, after: at - sent, at }
  }
  /** A refused handshake whose client stays connected: the server lingers on it. */
  const refused = async (): Promise<string> => await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(handshake('/refuse')) })
    lingering.push(socket)
    socket.once('data', (chunk) => { resolve(chunk.toString('latin1').split('\r\n')[0] ?? '') })
  })
  const first = timed()
  await delay(50)
  const statuses = await Promise.all(Array.from({ length: 100 }, refused))
  t.same(new Set(statuses), new Set(['HTTP/1.1 401 Unauthorized']), '100 refused upgrades linger between the two')
  await delay(100)
  const second = timed()
  const [a, b] = await Promise.all([first, second])
  t.same([a.status, b.status], [503, 503], 'both hanging handshakes got 503')
  t.ok(a.after >= timeout - 2, `the first after its own deadline (${a.after.toFixed(0)} ms)`)
  t.ok(b.after >= timeout - 2, `the second after its own deadline, not the first's (${b.after.toFixed(0)} ms)`)
  t.ok(b.at > a.at, 'in the order they were sent')
  t.ok(b.after < 2000, `and not long after it (${b.after.toFixed(0)} ms)`)
  // Nothing pending any more but the lingering socket: the timer has stopped. A new one starts it again.
  const third = await timed()
  t.equal(third.status, 503)
  t.ok(third.after >= timeout - 2 && third.after < 2000, `after a quiet spell, again at its deadline (${third.after.toFixed(0)} ms)`)
  t.same(app.websocketStats().rejectedHandshakes, { FST_UPGRADE_UNAVAILABLE: 3, 'status 401': 100 })
})

t.test('4c: a refusal that starts and never finishes (a stalled stream) is cut at the deadline', async (t) => {
  const { PassThrough } = await import('node:stream')
  const { app, port } = await listen((app) => {
    app.get('/ws', {
      websocket: true,
      onRequest: (_request, reply, _done) => {
        const stream = new PassThrough()
        stream.write('the start of an answer that never ends')
        void reply.code(401).header('content-type', 'text/plain').send(stream)
      }
    }, () => {})
  }, { handshakeTimeout: 300, closeTimeout: 200 })
  t.teardown(() => app.close())
  const started = Date.now()
  const response = await rawExchange(port, handshake('/ws'), 3000)
  t.equal(response.status, 401, 'the answer had started')
  t.ok(response.closedByServer, 'the server cut the socket')
  t.ok(Date.now() - started < 1500, `${Date.now() - started} ms after the request (handshakeTimeout 300 ms)`)
})

t.test('4d: ws verifyClient is refused at registration (it would bypass the hooks)', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close().catch(() => {}) })
  await t.rejects(async () => {
    // Excluded from the option type as well; here the run-time refusal, for JavaScript callers.
    await app.register(fastifyUpgrade, { options: { verifyClient: () => true } as object })
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: /hook/i })
})

t.test('4e: allowedOrigins returning a non-boolean refuses with 500; a boolean function still works', async (t) => {
  // Deliberately mistyped, as JavaScript callers can: the function returns a Promise.
  const asyncFalse = (async () => false) as unknown as (origin: string) => boolean
  const asyncTrue = (async () => true) as unknown as (origin: string) => boolean
  const { app, port } = await listen((app) => {
    app.get('/async-false', { websocket: { allowedOrigins: asyncFalse } }, () => {})
    app.get('/async-true', { websocket: { allowedOrigins: asyncTrue } }, () => {})
    app.get('/sync', { websocket: { allowedOrigins: (origin) => origin === 'https://good.example' } }, () => {})
  }, { closeTimeout: 200 }, { logger: false })
  t.teardown(() => app.close())
  for (const path of ['/async-false', '/async-true']) {
    const evil = await rawExchange(port, handshake(path, { Origin: 'https://evil.example' }))
    t.equal(evil.status, 500, `${path}: a hostile origin gets 500, never 101`)
    t.ok(evil.closedByServer, `${path}: and the socket is closed`)
    t.match(json(evil.body), { code: 'FST_UPGRADE_INVALID_OPTION' }, `${path}: the body names the misconfiguration`)
  }
  const good = await rawExchange(port, handshake('/sync', { Origin: 'https://good.example' }), 2000, 'head')
  t.equal(good.status, 101, 'a boolean function: the allowed origin upgrades')
  const evil = await rawExchange(port, handshake('/sync', { Origin: 'https://evil.example' }))
  t.equal(evil.status, 403, 'a boolean function: another origin gets 403')
  t.match(json(evil.body), { code: 'FST_UPGRADE_ORIGIN_REFUSED' })
})
