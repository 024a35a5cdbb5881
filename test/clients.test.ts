// Real clients: WebSocket implementations nobody on this project wrote, talking to the
// plugin over loopback. Python's websockets (asyncio) and websocket-client (hand-built
// frames) run as child processes (scripts in test/clients/, JSON lines on stdout);
// faye-websocket and WebSocket-Node (npm `websocket`) run in this process. Every wait
// is bounded: child processes are killed after `childTimeout`, events go through `within`.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type net from 'node:net'
import { Type } from '@sinclair/typebox'
import type { client as WsNodeClient, connection as WsNodeConnection, Message as WsNodeMessage } from 'websocket'
import { listen, within } from './helpers.js'

// ---------------------------------------------------------------------------------------
// Availability: a missing client fails the file in CI, and is skipped (with the reason
// printed) elsewhere, so a developer without Debian's Python packages can still run it.

const inCI = process.env.CI !== undefined && process.env.CI !== ''
/** Debian's python3-websockets and python3-websocket install for /usr/bin/python3 only (TEST_PYTHON overrides it, e.g. to try the missing-client paths). */
const python = process.env.TEST_PYTHON ?? '/usr/bin/python3'
const childTimeout = 15_000

type Availability = { version: string } | { missing: string }

/** A top-level test that runs only when its client is there (see above for when it is not). */
function clientTest (name: string, client: Availability, fn: (t: Test) => Promise<void>): void {
  if ('version' in client) {
    t.test(name, fn)
  } else if (inCI) {
    t.test(name, async (t) => { t.fail(`${client.missing}; CI must provide it (see .ci/run)`) })
  } else {
    t.comment(`skipping "${name}": ${client.missing}`)
    t.test(name, { skip: client.missing }, async () => {})
  }
}

interface ChildResult { lines: Array<Record<string, unknown>>, exitCode: number | null, stderr: string, failure: string | undefined }

/** Runs a Python client script to its end (or kills it after `childTimeout`). */
async function runPython (script: string, args: string[]): Promise<ChildResult> {
  const path = fileURLToPath(new URL(`./clients/${script}`, import.meta.url))
  return await new Promise((resolve) => {
    execFile(python, [path, ...args], { timeout: childTimeout, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const lines = stdout.split('\n').filter((line) => line.trim() !== '').map((line) => {
        try { return JSON.parse(line) as Record<string, unknown> } catch { return { unparsed: line } }
      })
      const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : null
      const failure = error === null ? undefined : error.killed ? `killed after ${childTimeout} ms` : error.message
      resolve({ lines, exitCode, stderr, failure })
    })
  })
}

async function probePython (script: string, library: string): Promise<Availability> {
  const { lines, exitCode, failure, stderr } = await runPython(script, ['version'])
  const [first] = lines
  if (exitCode === 0 && first !== undefined && typeof first.version === 'string') {
    return { version: `${library} ${first.version} (Python ${String(first.python)} at ${python})` }
  }
  if (first !== undefined && typeof first.missing === 'string') return { missing: `${python} cannot import ${library}: ${String(first.error)}` }
  return { missing: `${python} cannot run ${script}: ${failure ?? 'no output'} ${stderr.trim()}`.trim() }
}

const require = createRequire(import.meta.url)

/** Loads a CommonJS npm client, or says why it cannot. */
function loadNpm<T> (name: string): { module: T, availability: Availability } | { module: undefined, availability: Availability } {
  try {
    const module = require(name) as T
    const { version } = require(`${name}/package.json`) as { version: string }
    return { module, availability: { version: `${name} ${version}` } }
  } catch (error) {
    return { module: undefined, availability: { missing: `npm package ${name} cannot be loaded: ${(error as Error).message}` } }
  }
}

// faye-websocket has no type declarations: the part of its client used here.
interface FayeEvent { data?: string | Buffer, code?: number, reason?: string, message?: string }
interface FayeClient {
  on: (event: 'open' | 'message' | 'close' | 'error', listener: (event: FayeEvent) => void) => void
  send: (data: string | Buffer) => boolean
  close: (code?: number, reason?: string) => boolean
}
interface FayeModule { Client: new (url: string, protocols?: string[], options?: Record<string, unknown>) => FayeClient }
interface WsNodeModule { client: typeof WsNodeClient }

const [pyWebsockets, pyFrames] = await Promise.all([
  probePython('websockets_client.py', 'websockets'),
  probePython('frames_client.py', 'websocket-client')
])
const faye = loadNpm<FayeModule>('faye-websocket')
const wsNode = loadNpm<WsNodeModule>('websocket')
for (const [client, availability] of [['Python websockets', pyWebsockets], ['Python websocket-client', pyFrames], ['faye-websocket', faye.availability], ['WebSocket-Node', wsNode.availability]] as const) {
  t.comment(`${client}: ${'version' in availability ? availability.version : `MISSING (${availability.missing})`}`)
}

// ---------------------------------------------------------------------------------------
// The server under test.

interface ServerClose { route: string, code: number, reason: string }

async function clientServer () {
  // Every route reports its connections' close events here, to check what the server saw.
  const closes = new EventEmitter<{ close: [ServerClose] }>()
  const observe = (route: string, socket: { on: (event: 'close', listener: (code: number, reason: string) => void) => unknown }): void => {
    socket.on('close', (code, reason) => { closes.emit('close', { route, code, reason }) })
  }
  const server = await listen((app) => {
    app.get('/typed', {
      websocket: true,
      schema: { message: Type.Object({ n: Type.Integer() }), send: Type.Object({ doubled: Type.Integer() }) }
    }, (socket) => {
      observe('/typed', socket)
      socket.on('message', (message) => { socket.send({ doubled: message.n * 2 }) })
    })
    app.get('/echo', { websocket: true }, (socket) => {
      observe('/echo', socket)
      socket.on('message', (data, isBinary) => { socket.raw.send(data, { binary: isBinary }) })
    })
    app.get('/chat', { websocket: { protocols: ['chat.v2', 'chat.v1'] } }, (socket) => {
      observe('/chat', socket)
      socket.send(`speaking ${socket.protocol}`)
    })
    app.get('/deflate', { websocket: { perMessageDeflate: { threshold: 0 } } }, (socket) => {
      observe('/deflate', socket)
      socket.on('message', (data, isBinary) => { socket.raw.send(data, { binary: isBinary }) })
    })
    app.get('/small', { websocket: { maxPayload: 1024 } }, (socket) => {
      observe('/small', socket)
      socket.on('message', (data, isBinary) => { socket.raw.send(data, { binary: isBinary }) })
    })
    app.get('/closer', { websocket: true }, (socket) => {
      observe('/closer', socket)
      socket.on('message', (data, isBinary) => {
        if (!isBinary && data.toString() === 'close-me') socket.close(4321, 'as you wish')
        else socket.raw.send(data, { binary: isBinary })
      })
    })
  })
  /**
   * The next close event the server sees on `route` (start waiting before causing it).
   * Other routes' closes are ignored: a connection an earlier test ended may close late.
   */
  const nextServerClose = async (route: string): Promise<ServerClose> => {
    let listener: ((close: ServerClose) => void) | undefined
    const seen = new Promise<ServerClose>((resolve) => {
      listener = (close) => { if (close.route === route) resolve(close) }
      closes.on('close', listener)
    })
    try {
      return await within(seen, 5000, `the server-side close event on ${route}`)
    } finally {
      if (listener !== undefined) closes.off('close', listener)
    }
  }
  return { ...server, nextServerClose }
}

/** Runs one case of a Python client script against `url` and checks it ran to its end. */
async function pythonCase (t: Test, script: string, url: string, name: string): Promise<Array<Record<string, unknown>>> {
  const result = await runPython(script, [url, name])
  t.equal(result.failure, undefined, `${script} ${name} exited cleanly`, { stderr: result.stderr, lines: result.lines })
  t.same(result.lines.at(-1), { event: 'done' }, `${script} ${name} ran to its end`)
  return result.lines
}

const events = (lines: Array<Record<string, unknown>>, event: string): Array<Record<string, unknown>> => lines.filter((line) => line.event === event)

// ---------------------------------------------------------------------------------------
// 1. Python websockets: typed messages, subprotocols, permessage-deflate, close codes.

clientTest('Python websockets', pyWebsockets, async (t) => {
  const { app, url, nextServerClose } = await clientServer()
  t.teardown(() => app.close())
  const script = 'websockets_client.py'

  t.test('typed round trip, then an invalid message closes with 1008 naming /n', async (t) => {
    const lines = await pythonCase(t, script, url, 'typed')
    t.same(events(lines, 'message'), [{ event: 'message', data: { doubled: 42 } }], '{"n": 21} -> {"doubled": 42}')
    const [closed] = events(lines, 'closed')
    t.equal(closed?.code, 1008, 'close_code 1008 (policy violation)')
    t.match(closed?.reason, /\/n\b/, `close_reason names /n: ${String(closed?.reason)}`)
    t.equal(closed?.reason, 'Expected integer at /n')
  })

  t.test('subprotocol: offered chat.v1, chat.v2; the route prefers chat.v2', async (t) => {
    const lines = await pythonCase(t, script, url, 'subprotocol')
    t.equal(events(lines, 'open')[0]?.subprotocol, 'chat.v2', 'the client negotiated chat.v2')
    t.equal(events(lines, 'message')[0]?.data, 'speaking chat.v2', 'and the server reports it')
  })

  t.test('compression: permessage-deflate negotiated, a 10 KB message round-trips compressed', async (t) => {
    // A server of its own, so its byte counters hold this one connection only.
    const own = await clientServer()
    t.teardown(() => own.app.close())
    const serverClosed = own.nextServerClose('/deflate')
    const lines = await pythonCase(t, script, own.url, 'compression')
    await serverClosed
    const [open] = events(lines, 'open')
    t.match(open?.header, /^permessage-deflate\b/, `Sec-WebSocket-Extensions: ${String(open?.header)}`)
    t.same(open?.extensions, ['permessage-deflate'], 'the client runs the extension')
    t.same(events(lines, 'echo'), [{ event: 'echo', sent: 10240, received: 10240, equal: true }])
    // Both directions were compressed on the wire: the whole connection (handshake included)
    // moved far fewer bytes than the 10 KB message each way.
    const { bytesIn, bytesOut } = own.app.websocketStats()
    t.ok(bytesIn > 0 && bytesIn < 2048, `the server read ${bytesIn} bytes`)
    t.ok(bytesOut > 0 && bytesOut < 2048, `the server wrote ${bytesOut} bytes`)
  })

  t.test("close code: the server's 4321 'as you wish' reaches the client", async (t) => {
    const serverClosed = nextServerClose('/closer')
    const lines = await pythonCase(t, script, url, 'close')
    t.same(events(lines, 'closed'), [{ event: 'closed', code: 4321, reason: 'as you wish' }], 'close_code and close_reason')
    t.same(await serverClosed, { route: '/closer', code: 4321, reason: 'as you wish' })
  })
})

// ---------------------------------------------------------------------------------------
// 2. Python websocket-client with hand-built frames: protocol errors and fragmentation.

clientTest('Python websocket-client, hand-built frames', pyFrames, async (t) => {
  const { app, url } = await clientServer()
  t.teardown(() => app.close())
  const script = 'frames_client.py'

  /** The close frame the server sent, as websocket-client read it. */
  const closeOf = async (t: Test, name: string): Promise<Record<string, unknown> | undefined> => {
    const lines = await pythonCase(t, script, url, name)
    t.equal(events(lines, 'open')[0]?.status, 101)
    const closes = events(lines, 'close')
    t.equal(closes.length, 1, 'the server sent a close frame', { lines })
    return closes[0]
  }

  t.test('an unmasked client frame: 1002', async (t) => {
    t.equal((await closeOf(t, 'unmasked'))?.code, 1002)
  })

  t.test('RSV1 set on a route without compression: 1002', async (t) => {
    t.equal((await closeOf(t, 'rsv1'))?.code, 1002)
  })

  t.test('invalid UTF-8 in a text frame: 1007', async (t) => {
    t.equal((await closeOf(t, 'invalid-utf8'))?.code, 1007)
  })

  t.test('a 2 KB message on the maxPayload 1024 route: 1009', async (t) => {
    t.equal((await closeOf(t, 'oversized'))?.code, 1009)
  })

  t.test('three fragments with a ping between them: pong first, then the reassembled echo', async (t) => {
    const lines = await pythonCase(t, script, url, 'fragmented')
    t.same(lines.filter((line) => line.event === 'pong' || line.event === 'text'), [
      { event: 'pong', data: 'are you there?' },
      { event: 'text', data: 'frag-one frag-two é frag-three', fin: 1 }
    ], 'the ping is answered at once with its payload; the message is echoed whole')
    t.same(events(lines, 'closed by client'), [{ event: 'closed by client' }])
  })
})

// ---------------------------------------------------------------------------------------
// 3. faye-websocket: text and binary echo, the closing handshake in both directions.

/** A faye client whose messages queue up until read; every wait bounded. */
async function fayeConnect (Faye: FayeModule, url: string) {
  const client = new Faye.Client(url)
  const unread: FayeEvent[] = []
  const waiting: Array<(event: FayeEvent) => void> = []
  client.on('message', (event) => { const waiter = waiting.shift(); if (waiter !== undefined) waiter(event); else unread.push(event) })
  const closeEvent = new Promise<FayeEvent>((resolve) => { client.on('close', resolve) })
  await within(new Promise<void>((resolve, reject) => {
    client.on('open', () => { resolve() })
    client.on('error', (event) => { reject(new Error(`faye error: ${event.message ?? ''}`)) })
  }), 3000, 'faye open')
  const next = async (): Promise<FayeEvent> => {
    const event = unread.shift()
    if (event !== undefined) return event
    return await within(new Promise<FayeEvent>((resolve) => { waiting.push(resolve) }), 3000, 'a faye message')
  }
  const closed = async (): Promise<FayeEvent> => await within(closeEvent, 3000, 'the faye close event')
  return { client, next, closed }
}

clientTest('faye-websocket', faye.availability, async (t) => {
  const Faye = faye.module as FayeModule
  const { app, url, nextServerClose } = await clientServer()
  t.teardown(() => app.close())

  t.test('text and binary echo, including a message over 64 KiB (64-bit length)', async (t) => {
    const { client, next, closed } = await fayeConnect(Faye, `${url}/echo`)
    client.send('hello from faye')
    t.equal((await next()).data, 'hello from faye')
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256))
    client.send(bytes)
    const binary = (await next()).data
    t.ok(Buffer.isBuffer(binary), 'a binary frame comes back as a Buffer')
    t.ok(Buffer.isBuffer(binary) && binary.equals(bytes), 'the same 4096 bytes')
    const large = 'é'.repeat(40_000) // 80,000 bytes of UTF-8
    client.send(large)
    t.equal((await next()).data, large, '80,000-byte text echoed')
    client.close()
    await closed()
  })

  t.test('client-initiated close 1000: the server sees 1000 and its reason', async (t) => {
    const { client, closed } = await fayeConnect(Faye, `${url}/closer`)
    const serverClosed = nextServerClose('/closer')
    client.close(1000, 'bye')
    t.same(await serverClosed, { route: '/closer', code: 1000, reason: 'bye' })
    const event = await closed()
    t.same({ code: event.code, reason: event.reason }, { code: 1000, reason: 'bye' }, "faye's close event once the server answered")
  })

  t.test('server-initiated close 4321 reaches faye with its reason', async (t) => {
    const { client, closed } = await fayeConnect(Faye, `${url}/closer`)
    const serverClosed = nextServerClose('/closer')
    client.send('close-me')
    const event = await closed()
    t.same({ code: event.code, reason: event.reason }, { code: 4321, reason: 'as you wish' })
    t.same(await serverClosed, { route: '/closer', code: 4321, reason: 'as you wish' })
  })
})

// ---------------------------------------------------------------------------------------
// 4. WebSocket-Node: client-side fragmentation, and the closing handshake both ways.

/** Connects a WebSocket-Node client that fragments what it sends above 1024 bytes. */
async function wsNodeConnect (Client: typeof WsNodeClient, url: string) {
  const client = new Client({ fragmentOutgoingMessages: true, fragmentationThreshold: 1024 })
  const connection = await within(new Promise<WsNodeConnection>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('connectFailed', reject)
    client.connect(url)
  }), 3000, 'WebSocket-Node connect')
  // The wire, seen from the client: each frame it writes (WebSocket-Node writes one frame
  // per socket.write), and every chunk it reads.
  const written: Buffer[] = []
  const received: Buffer[] = []
  const socket = connection.socket as net.Socket & { write: (...args: unknown[]) => boolean }
  const write = socket.write.bind(socket)
  socket.write = (chunk: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(chunk)) written.push(Buffer.from(chunk))
    return write(chunk, ...rest)
  }
  socket.on('data', (chunk: Buffer) => { received.push(chunk) })
  const unread: WsNodeMessage[] = []
  const waiting: Array<(message: WsNodeMessage) => void> = []
  connection.on('message', (message) => { const waiter = waiting.shift(); if (waiter !== undefined) waiter(message); else unread.push(message) })
  const closeEvent = new Promise<{ code: number, reason: string }>((resolve) => {
    connection.on('close', (code, reason) => { resolve({ code, reason }) })
  })
  const closed = async (): Promise<{ code: number, reason: string }> => await within(closeEvent, 3000, 'the WebSocket-Node close event')
  const next = async (): Promise<WsNodeMessage> => {
    const message = unread.shift()
    if (message !== undefined) return message
    return await within(new Promise<WsNodeMessage>((resolve) => { waiting.push(resolve) }), 3000, 'a WebSocket-Node message')
  }
  return { connection, written, received, next, closed }
}

/** Decodes a single close frame (masked or not, payload under 126 bytes). */
function closeFrame (frame: Buffer | undefined): { code: number | undefined, reason: string } | undefined {
  if (frame === undefined || frame[0] !== 0x88) return undefined
  const length = (frame[1] as number) & 0x7f
  const masked = ((frame[1] as number) & 0x80) !== 0
  const mask = masked ? frame.subarray(2, 6) : Buffer.alloc(4)
  const payload = Buffer.from(frame.subarray(masked ? 6 : 2, (masked ? 6 : 2) + length).map((byte, i) => byte ^ (mask[i % 4] as number)))
  return { code: payload.length >= 2 ? payload.readUInt16BE(0) : undefined, reason: payload.subarray(2).toString() }
}

clientTest('WebSocket-Node (npm websocket)', wsNode.availability, async (t) => {
  const Client = (wsNode.module as WsNodeModule).client
  const { app, url, nextServerClose } = await clientServer()
  t.teardown(() => app.close())
  const firstBytes = (frames: Buffer[]): number[] => frames.map((frame) => frame[0] as number)

  t.test('a 10 KB text message sent in 10 fragments is echoed whole', async (t) => {
    const { connection, written, next, closed } = await wsNodeConnect(Client, `${url}/echo`)
    const text = 'aé€ '.repeat(1463) // 10,241 bytes: fragment boundaries fall inside characters
    t.equal(Buffer.byteLength(text), 10241)
    t.equal((Buffer.from(text)[1024] as number) & 0xc0, 0x80, 'the first boundary splits a UTF-8 sequence')
    connection.sendUTF(text)
    const echo = await next()
    t.equal(echo.type, 'utf8')
    t.equal(echo.type === 'utf8' ? echo.utf8Data : undefined, text, 'the reassembled message')
    t.same(firstBytes(written), [0x01, ...Array<number>(9).fill(0x00), 0x80], 'on the wire: text FIN=0, 9 continuations, the last with FIN')

    written.length = 0
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256))
    connection.sendBytes(bytes)
    const binary = await next()
    t.ok(binary.type === 'binary' && binary.binaryData.equals(bytes), '3000 binary bytes in 3 fragments echoed whole')
    t.same(firstBytes(written), [0x02, 0x00, 0x80], 'binary FIN=0, a continuation, the last with FIN')
    connection.close()
    await closed()
  })

  t.test('client-initiated close 4001: the server sees code and reason, and echoes them', async (t) => {
    const { connection, received, closed } = await wsNodeConnect(Client, `${url}/closer`)
    const serverClosed = nextServerClose('/closer')
    connection.close(4001, 'client done')
    t.same(await serverClosed, { route: '/closer', code: 4001, reason: 'client done' })
    t.same(await closed(), { code: 4001, reason: 'client done' }, "the client's close event")
    // WebSocket-Node reports its own code once it initiated; the wire shows the server's answer.
    t.same(closeFrame(Buffer.concat(received)), { code: 4001, reason: 'client done' }, 'the server echoed code and reason')
  })

  t.test('server-initiated close 4321 reaches WebSocket-Node with its reason', async (t) => {
    const { connection, written, closed } = await wsNodeConnect(Client, `${url}/closer`)
    const serverClosed = nextServerClose('/closer')
    connection.sendUTF('close-me')
    t.same(await closed(), { code: 4321, reason: 'as you wish' })
    // WebSocket-Node answers a close with 1000 and no reason rather than echoing the code,
    // and the server's 'close' event carries the code it received (RFC 6455 section 7.1.5,
    // as in ws), so here it is 1000, not 4321.
    t.same(closeFrame(written.at(-1)), { code: 1000, reason: '' }, "WebSocket-Node's answer on the wire")
    t.same(await serverClosed, { route: '/closer', code: 1000, reason: '' }, 'the code the server received')
  })
})
