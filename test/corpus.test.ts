// A table-driven corpus of malformed (and borderline valid) upgrade handshakes over raw
// TCP, all against one listening server. Each row names the bytes a client sends (in one
// write, or as a script of writes, pauses, a half-close or a hang-up) and what the server
// must answer: an exact status, or 'closed' (the server closes without a response), or
// 'hangup' (the client hangs up first; the server must survive and let go of the socket).
// Every row is bounded in time; an exception thrown from the server fails the row, and so
// does a socket the row leaves open. After the corpus the server must hold no socket at all
// and still serve a normal WebSocket client.
import t, { type Test } from 'tap'
import net from 'node:net'
import { connect, delay, handshake, listen, nextMessage, nodeDecidesUpgrades, openConnections, parseResponse, rawExchange, validKey, within, type RawResponse } from './helpers.js'

// ---------------------------------------------------------------------------------------
// The server

// Short timeouts so a stalled client is answered within the test's budget (Node's
// defaults: headersTimeout 60 s, checked every 30 s). The check interval must be short too,
// or the timeouts only fire when it runs.
const timeouts = { requestTimeout: 1000, http: { headersTimeout: 1000, connectionsCheckingInterval: 100 } }

const { app, port, url } = await listen((app) => {
  app.get('/ws', { websocket: true }, (socket) => { socket.on('message', (data) => { socket.send(data.toString()) }) })
  app.get('/proto', { websocket: { protocols: ['chat.v2', 'chat.v1'] } }, (socket) => { socket.send(socket.protocol) })
  app.get('/origin', { websocket: { allowedOrigins: ['https://good.example'] } }, () => {})
  app.get('/plain', async () => 'plain')
  app.post('/plain', async (request) => ({ body: request.body }))
}, { closeTimeout: 500 }, timeouts)
t.teardown(() => app.close())

// An exception thrown from a server event would end the whole run: record it instead, so
// the row that caused it fails and the rest of the corpus still runs.
const crashes: Error[] = []
const recordCrash = (error: Error): void => { crashes.push(error) }
process.on('uncaughtException', recordCrash)
t.teardown(() => { process.off('uncaughtException', recordCrash) })

// ---------------------------------------------------------------------------------------
// Rows

/**
 * A scripted client: writes, pauses, waiting until `responses` complete responses have
 * arrived, a half-close, a hang-up (destroy), or a stall (stop writing, keep the socket).
 */
type Step = string | Buffer | { pause: number } | { responses: number } | 'end' | 'hangup' | 'stall'

interface Row {
  name: string
  send: string | Buffer | Step[]
  /** The status of the (last) response, 'closed' (no response, server closes), or 'hangup' (client leaves). */
  expect: number | 'closed' | 'hangup'
  /** Pipelined rows: the statuses of every response, in order (the last is `expect`). */
  responses?: number[]
  /** Headers the (last) response must carry: exact value, or a pattern. */
  headers?: Record<string, string | RegExp>
  /** Headers the (last) response must not carry. */
  absent?: string[]
  body?: string | RegExp
  /**
   * A plain keep-alive answer: the server may keep the connection (and the row stops once
   * the response is complete). Otherwise every non-101 answer must close the connection.
   */
  keepsOpen?: boolean
  /** 101 rows: wait for this many bytes after the head (WebSocket frames) before stopping. */
  frames?: number
  /** 101 rows: the server must close after the head (and its frames). */
  closesAfter101?: boolean
  /** How long the server has to answer (default 1500 ms; loopback answers take a few ms). */
  ms?: number
  /** Extra checks on the bytes after the (last) response head. */
  check?: (t: Test, after: Buffer) => void
}

const base = handshake('/ws')
/** The valid /ws handshake with one extra header line (for duplicates, which `handshake` cannot express). */
const withLine = (line: string, request = base): string => request.replace(/\r\n\r\n$/, `\r\n${line}\r\n\r\n`)
const manyHeaders = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n')
// A masked client text frame "hi" (RFC 6455 section 5.3: clients mask, servers do not).
const maskedHi = Buffer.from([0x81, 0x82, 0x01, 0x02, 0x03, 0x04, 0x68 ^ 0x01, 0x69 ^ 0x02])
// Random-looking binary (a TLS ClientHello prefix and high bytes), fixed so the row is reproducible.
const garbage = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0xff, 0x9a, 0x00, 0x7f, 0x0d, 0x0a, 0x0d, 0x0a])
const plainGet = 'GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n'
const json = /^application\/json/

const rows: Row[] = [
  // --- What Node's HTTP parser refuses before any route sees the request.
  { name: 'binary garbage instead of a request', send: garbage, expect: 400 },
  { name: 'a header line without a colon', send: withLine('NoColonHere'), expect: 400 },
  { name: 'a NUL byte in a header value', send: withLine('X-Nul: a\0b'), expect: 400 },
  { name: 'a 20 KB header value', send: handshake('/ws', { 'X-Big': 'a'.repeat(20 * 1024) }), expect: 431 },
  { name: 'too many headers (3000 header lines)', send: withLine(manyHeaders), expect: 431 },
  // Past Node's 16 KB header limit, but small enough to be read in one go: with more
  // unread bytes, Node 24 closes with a reset that may destroy its own 431 in flight.
  { name: 'a 20 KB request line', send: handshake('/ws', {}, `GET /ws?${'q'.repeat(20 * 1024)} HTTP/1.1`), expect: 431 },
  { name: 'bare LF line endings', send: base.replace(/\r\n/g, '\n'), expect: 400 },
  { name: 'an obs-fold continuation line', send: withLine('X-Fold: a\r\n b'), expect: 400 },
  { name: 'whitespace between header name and colon', send: withLine('X-Space : a'), expect: 400 },
  { name: 'Content-Length together with Transfer-Encoding', send: `${handshake('/ws', { 'Content-Length': '4', 'Transfer-Encoding': 'chunked' })}0\r\n\r\n`, expect: 400 },
  { name: 'a raw non-ASCII byte in the request target', send: handshake('/ws', {}, 'GET /w\u00e9 HTTP/1.1'), expect: 400 },
  { name: 'a request target that is no origin-form (no leading slash)', send: handshake('/ws', {}, 'GET ws HTTP/1.1'), expect: 400 },
  { name: 'CONNECT (no connect listener: Node closes)', send: 'CONNECT localhost:80 HTTP/1.1\r\nHost: localhost:80\r\n\r\n', expect: 'closed' },

  // --- Request line and Host.
  // Node enforces Host only on the requests it serves itself (requireHostHeader), not on
  // those it hands to the 'upgrade' event: the plugin must.
  { name: 'missing Host (RFC 9112 section 3.2: MUST answer 400)', send: handshake('/ws', { Host: null }), expect: 400 },
  // RFC 9112 section 3.2.2: a server MUST accept the absolute-form; Fastify routes it by its path.
  { name: 'absolute-form request target', send: handshake('/ws', {}, 'GET http://localhost/ws HTTP/1.1'), expect: 101 },
  // Asterisk-form is for OPTIONS only; Fastify answers "Route GET:* not found", as for a plain request.
  { name: 'asterisk-form request target', send: handshake('/ws', {}, 'GET * HTTP/1.1'), expect: 404, headers: { connection: 'close' } },
  { name: 'HTTP/1.0 with Upgrade (ignored: served as plain, 426)', send: handshake('/ws', {}, 'GET /ws HTTP/1.0'), expect: 426, headers: { upgrade: 'websocket', connection: 'Upgrade, close' } },
  // HTTP/2 has no Upgrade; the route's answer for an HTTP/2 request is 505.
  { name: 'HTTP/2.0 in an HTTP/1 request line', send: handshake('/ws', {}, 'GET /ws HTTP/2.0'), expect: 505 },
  { name: 'a query string on the handshake', send: handshake('/ws?x=1&y'), expect: 101 },
  { name: 'handshake to an unknown path', send: handshake('/nowhere'), expect: 404 },
  { name: 'handshake to a plain route (served as plain HTTP, never 101)', send: handshake('/plain'), expect: 200, body: 'plain', headers: { connection: 'close' } },

  // --- Connection and Upgrade.
  { name: 'Connection: keep-alive only', send: handshake('/ws', { Connection: 'keep-alive' }), expect: 426, keepsOpen: true, headers: { upgrade: 'websocket', connection: 'Upgrade' } },
  { name: 'Upgrade without Connection', send: handshake('/ws', { Connection: null }), expect: 426, keepsOpen: true, headers: { upgrade: 'websocket' } },
  { name: 'Connection: upgrade without an Upgrade header', send: handshake('/ws', { Upgrade: null }), expect: 426, keepsOpen: true, headers: { upgrade: 'websocket' } },
  { name: 'Upgrade: h2c', send: handshake('/ws', { Upgrade: 'h2c' }), expect: 426, headers: { upgrade: 'websocket', connection: 'Upgrade, close' } },
  { name: 'Upgrade: websocket/13', send: handshake('/ws', { Upgrade: 'websocket/13' }), expect: 101, headers: { upgrade: 'websocket', 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' } },
  { name: 'Upgrade: foo, websocket', send: handshake('/ws', { Upgrade: 'foo, websocket' }), expect: 101 },
  { name: 'two Upgrade lines (foo, then websocket)', send: withLine('Upgrade: websocket', handshake('/ws', { Upgrade: 'foo' })), expect: 101 },
  { name: 'mixed case Upgrade: WebSocket and Connection: uPgRaDe', send: handshake('/ws', { Upgrade: 'WebSocket', Connection: 'uPgRaDe' }), expect: 101 },
  { name: 'Connection: Upgrade, close', send: handshake('/ws', { Connection: 'Upgrade, close' }), expect: 101 },

  // --- Sec-WebSocket-Key and Sec-WebSocket-Version.
  { name: 'missing Sec-WebSocket-Key', send: handshake('/ws', { 'Sec-WebSocket-Key': null }), expect: 400, headers: { 'content-type': json }, body: /missing Sec-WebSocket-Key/ },
  { name: 'duplicated Sec-WebSocket-Key', send: withLine('Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=='), expect: 400, body: /malformed Sec-WebSocket-Key/ },
  { name: 'empty Sec-WebSocket-Key', send: handshake('/ws', { 'Sec-WebSocket-Key': '' }), expect: 400 },
  { name: 'short Sec-WebSocket-Key (10 bytes encoded)', send: handshake('/ws', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZQ==' }), expect: 400 },
  { name: 'long Sec-WebSocket-Key (28 characters)', send: handshake('/ws', { 'Sec-WebSocket-Key': `${validKey}AAAA` }), expect: 400 },
  { name: 'non-base64 Sec-WebSocket-Key', send: handshake('/ws', { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' }), expect: 400 },
  { name: 'Sec-WebSocket-Key of 24 characters with wrong padding', send: handshake('/ws', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ=A' }), expect: 400 },
  { name: 'Sec-WebSocket-Key with surrounding whitespace (OWS, trimmed)', send: handshake('/ws', { 'Sec-WebSocket-Key': `  ${validKey}  ` }), expect: 101 },
  { name: 'Sec-WebSocket-Version: 8', send: handshake('/ws', { 'Sec-WebSocket-Version': '8' }), expect: 426, headers: { 'sec-websocket-version': '13' } },
  { name: 'Sec-WebSocket-Version: 14', send: handshake('/ws', { 'Sec-WebSocket-Version': '14' }), expect: 426, headers: { 'sec-websocket-version': '13' } },
  // Not a version at all (RFC 6455 section 4.1: 1 to 3 digits): a malformed handshake.
  { name: 'Sec-WebSocket-Version: abc', send: handshake('/ws', { 'Sec-WebSocket-Version': 'abc' }), expect: 400 },
  { name: 'missing Sec-WebSocket-Version', send: handshake('/ws', { 'Sec-WebSocket-Version': null }), expect: 400, body: /missing Sec-WebSocket-Version/, absent: ['sec-websocket-version'] },
  {
    // Node joins the two lines into "13, 13". RFC 6455 section 11.3.5: the header MUST NOT
    // appear more than once in a request, so the handshake is malformed (section 4.2.1: 400),
    // not a version the server does not speak (426 "speaks 13" to a client that sent 13).
    name: 'duplicated Sec-WebSocket-Version (13, 13)',
    send: withLine('Sec-WebSocket-Version: 13'),
    expect: 400,
    absent: ['sec-websocket-version']
  },

  // --- Subprotocols (/proto speaks chat.v2, chat.v1, in that order of preference).
  { name: 'subprotocol chat.v1 offered', send: handshake('/proto', { 'Sec-WebSocket-Protocol': 'chat.v1' }), expect: 101, headers: { 'sec-websocket-protocol': 'chat.v1' } },
  { name: 'subprotocols chat.v1, chat.v2 offered (server preference wins)', send: handshake('/proto', { 'Sec-WebSocket-Protocol': 'chat.v1, chat.v2' }), expect: 101, headers: { 'sec-websocket-protocol': 'chat.v2' } },
  { name: 'only an unknown subprotocol offered', send: handshake('/proto', { 'Sec-WebSocket-Protocol': 'other' }), expect: 400, body: /FST_UPGRADE_UNSUPPORTED_PROTOCOL/ },
  { name: 'no subprotocol offered to a route that requires one', send: handshake('/proto'), expect: 400, body: /FST_UPGRADE_PROTOCOL_REQUIRED/ },
  { name: 'malformed subprotocol list (a b)', send: handshake('/proto', { 'Sec-WebSocket-Protocol': 'a b' }), expect: 400, body: /malformed Sec-WebSocket-Protocol/ },
  { name: 'duplicate subprotocol (chat.v1, chat.v1)', send: handshake('/proto', { 'Sec-WebSocket-Protocol': 'chat.v1, chat.v1' }), expect: 400, body: /malformed Sec-WebSocket-Protocol/ },
  {
    // RFC 9110 section 5.6.1: recipients MUST ignore empty list elements; lib/subprotocol.ts
    // does, and picks chat.v1. ws re-parses the header with a stricter grammar.
    name: 'subprotocol list with an empty element (x, , chat.v1)',
    send: handshake('/proto', { 'Sec-WebSocket-Protocol': 'x, , chat.v1' }),
    expect: 101,
    headers: { 'sec-websocket-protocol': 'chat.v1' }
  },

  // --- Extensions (no route here enables permessage-deflate).
  { name: 'malformed Sec-WebSocket-Extensions (permessage-deflate; =x)', send: handshake('/ws', { 'Sec-WebSocket-Extensions': 'permessage-deflate; =x' }), expect: 400, body: /malformed Sec-WebSocket-Extensions/ },
  { name: 'valid permessage-deflate offer to a route without deflate', send: handshake('/ws', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }), expect: 101, absent: ['sec-websocket-extensions'] },
  { name: 'unknown extension offered', send: handshake('/ws', { 'Sec-WebSocket-Extensions': 'x-unknown; a=1, x-other' }), expect: 101, absent: ['sec-websocket-extensions'] },

  // --- Origins (/origin allows https://good.example only).
  { name: 'allowed Origin', send: handshake('/origin', { Origin: 'https://good.example' }), expect: 101 },
  { name: 'allowed Origin in upper case (scheme and host are case-insensitive)', send: handshake('/origin', { Origin: 'HTTPS://GOOD.EXAMPLE' }), expect: 101 },
  { name: 'refused Origin', send: handshake('/origin', { Origin: 'https://evil.example' }), expect: 403, body: /FST_UPGRADE_ORIGIN_REFUSED/ },
  { name: 'Origin: null (sandboxed or file: page)', send: handshake('/origin', { Origin: 'null' }), expect: 403 },
  { name: 'no Origin header (not a browser)', send: handshake('/origin'), expect: 101 },

  // --- Methods and bodies.
  // Node 22.21+ and 24.9+ serve these itself (shouldUpgradeCallback) and keep the connection;
  // older Node hands them to the plugin, which serves them with Connection: close.
  { name: 'POST with Upgrade to a plain route (served with its body)', send: `${handshake('/plain', { 'Content-Type': 'application/json', 'Content-Length': '7' }, 'POST /plain HTTP/1.1')}{"a":1}`, expect: 200, body: '{"body":{"a":1}}', headers: { connection: nodeDecidesUpgrades ? 'keep-alive' : 'close' }, keepsOpen: nodeDecidesUpgrades },
  { name: 'POST with Upgrade, body in a later write', send: [handshake('/plain', { 'Content-Type': 'application/json', 'Content-Length': '7' }, 'POST /plain HTTP/1.1'), { pause: 100 }, '{"a":1}'], expect: 200, body: '{"body":{"a":1}}', keepsOpen: nodeDecidesUpgrades },
  { name: 'POST with Upgrade and a chunked body', send: `${handshake('/plain', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, 'POST /plain HTTP/1.1')}7\r\n{"a":1}\r\n0\r\n\r\n`, expect: 200, body: '{"body":{"a":1}}', keepsOpen: nodeDecidesUpgrades },
  { name: 'POST with Upgrade to a WebSocket route', send: `${handshake('/ws', { 'Content-Length': '2' }, 'POST /ws HTTP/1.1')}hi`, expect: 404, keepsOpen: nodeDecidesUpgrades },
  { name: 'HEAD with Upgrade to a WebSocket route', send: handshake('/ws', {}, 'HEAD /ws HTTP/1.1'), expect: 426, body: '', keepsOpen: nodeDecidesUpgrades },
  { name: 'GET handshake with a Content-Length body', send: `${handshake('/ws', { 'Content-Length': '4' })}abcd`, expect: 426, headers: { connection: nodeDecidesUpgrades ? 'Upgrade' : 'Upgrade, close' }, keepsOpen: nodeDecidesUpgrades },
  { name: 'GET handshake with a chunked body', send: `${handshake('/ws', { 'Transfer-Encoding': 'chunked' })}4\r\nabcd\r\n0\r\n\r\n`, expect: 426, keepsOpen: nodeDecidesUpgrades },
  { name: 'GET handshake with Content-Length: 0', send: handshake('/ws', { 'Content-Length': '0' }), expect: 101 },

  // --- Timing, fragmentation and hang-ups.
  { name: 'handshake written in four pieces with pauses', send: [base.slice(0, 5), { pause: 50 }, base.slice(5, 40), { pause: 50 }, base.slice(40, -2), { pause: 50 }, '\r\n'], expect: 101 },
  { name: 'half the headers, then a stall (headersTimeout 1 s)', send: [base.slice(0, 40), 'stall'], expect: 408, ms: 2500 },
  { name: 'POST with Upgrade whose body never comes (requestTimeout 1 s)', send: [`${handshake('/plain', { 'Content-Type': 'application/json', 'Content-Length': '10' }, 'POST /plain HTTP/1.1')}{"a"`, 'stall'], expect: 408, ms: 2500 },
  { name: 'half the headers, then a hang-up', send: [base.slice(0, 40), { pause: 50 }, 'hangup'], expect: 'hangup' },
  { name: 'a complete handshake, then an immediate hang-up', send: [base, 'hangup'], expect: 'hangup' },
  { name: 'a refused handshake, then an immediate hang-up', send: [handshake('/ws', { 'Sec-WebSocket-Key': 'x' }), 'hangup'], expect: 'hangup' },
  { name: 'a complete handshake, then a half-close', send: [base, 'end'], expect: 101, closesAfter101: true },
  {
    name: 'garbage after valid headers (101, then close 1002)',
    send: `${base}garbage\r\n`,
    expect: 101,
    frames: 4,
    closesAfter101: true,
    check: (t, after) => {
      t.equal(after[0], 0x88, 'a close frame (FIN + opcode 8)')
      t.ok(((after[1] ?? 0) & 0x7f) >= 2, 'with a status code')
      t.equal(after.length >= 4 ? after.readUInt16BE(2) : -1, 1002, 'protocol error')
    }
  },
  {
    name: 'a masked frame in a later write is echoed',
    send: [base, { pause: 50 }, maskedHi],
    expect: 101,
    frames: 4,
    check: (t, after) => { t.same([...after.subarray(0, 4)], [0x81, 0x02, 0x68, 0x69], 'unmasked text frame "hi"') }
  },
  { name: 'bytes pipelined after a refused handshake are dropped', send: `${handshake('/ws', { 'Sec-WebSocket-Key': 'x' })}${plainGet}`, expect: 400, responses: [400] },
  { name: 'a keep-alive plain request, then a handshake on the same connection', send: [plainGet, { responses: 1 }, base], expect: 101, responses: [200, 101] },
  {
    name: 'two pipelined plain requests and a handshake in one write',
    send: plainGet + plainGet + base,
    expect: 101,
    responses: [200, 200, 101]
  },
  {
    name: 'a pipelined plain request and a POST with Upgrade and a body, in one write',
    send: plainGet + handshake('/plain', { 'Content-Type': 'application/json', 'Content-Length': '7' }, 'POST /plain HTTP/1.1') + '{"a":1}',
    expect: 200,
    responses: [200, 200],
    body: '{"body":{"a":1}}',
    keepsOpen: nodeDecidesUpgrades
  }
]

// ---------------------------------------------------------------------------------------
// Running a row

interface Exchange { bytes: Buffer, closedByServer: boolean, elapsed: number }

/** Splits what the server sent into consecutive responses (a 101's tail is its frames). */
function splitResponses (bytes: Buffer): Array<{ response: RawResponse, after: Buffer }> {
  const found: Array<{ response: RawResponse, after: Buffer }> = []
  let rest = bytes
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    if (end === -1) { found.push({ response: parseResponse(rest.toString('latin1')), after: Buffer.alloc(0) }); break }
    const response = parseResponse(rest.subarray(0, end + 4).toString('latin1'))
    let after = rest.subarray(end + 4)
    const length = response.headers['content-length']
    if (response.status !== 101 && length !== undefined) {
      rest = after.subarray(Number(length))
      after = after.subarray(0, Number(length))
    } else {
      rest = Buffer.alloc(0)
    }
    response.body = after.toString('latin1')
    found.push({ response, after })
  }
  return found
}

/** How many complete non-101 responses (head and Content-Length body) `bytes` holds. */
function completeResponses (bytes: Buffer): number {
  return splitResponses(bytes).filter(({ response, after }) =>
    response.text.includes('\r\n\r\n') && after.length >= Number(response.headers['content-length'] ?? 0)).length
}

/** When a row that the server may leave open has seen everything it waits for. */
function complete (row: Row, bytes: Buffer): boolean {
  const responses = splitResponses(bytes)
  const wanted = row.responses?.length ?? 1
  if (responses.length < wanted) return false
  const last = responses[wanted - 1] as { response: RawResponse, after: Buffer }
  if (!last.response.text.includes('\r\n\r\n')) return false
  if (last.response.status === 101) return last.after.length >= (row.frames ?? 0)
  return last.after.length >= Number(last.response.headers['content-length'] ?? 0)
}

/** May the row stop before the server closes? Only where the server rightly keeps the connection. */
function stopsEarly (row: Row): boolean {
  return (row.expect === 101 && row.closesAfter101 !== true) || row.keepsOpen === true
}

/** Runs a scripted client; resolves when the server closes, the row is complete, or `ms` elapse. */
async function scripted (row: Row, steps: Step[], ms: number): Promise<Exchange> {
  const started = Date.now()
  return await new Promise((resolve) => {
    const chunks: Buffer[] = []
    let closedByServer = true
    let done = false
    const socket = net.connect(port, '127.0.0.1')
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ bytes: Buffer.concat(chunks), closedByServer, elapsed: Date.now() - started })
    }
    const timer = setTimeout(() => { closedByServer = false; finish() }, ms)
    let waiting: { count: number, resume: () => void } | undefined
    socket.on('data', (chunk) => {
      chunks.push(chunk)
      const bytes = Buffer.concat(chunks)
      if (waiting !== undefined && completeResponses(bytes) >= waiting.count) waiting.resume()
      if (stopsEarly(row) && complete(row, bytes)) { closedByServer = false; finish() }
    })
    socket.on('error', () => { /* a reset counts as a close; the checks decide */ })
    socket.on('close', finish)
    socket.once('connect', () => {
      void (async () => {
        for (const step of steps) {
          if (done) return
          if (step === 'end') socket.end()
          else if (step === 'hangup') {
            closedByServer = false
            finish()
            return
          } else if (step === 'stall') return
          else if (typeof step === 'object' && 'pause' in step) await delay(step.pause)
          else if (typeof step === 'object' && 'responses' in step) {
            const count = step.responses
            await new Promise<void>((resolve) => {
              waiting = { count, resume: resolve }
              if (completeResponses(Buffer.concat(chunks)) >= count) resolve()
            })
            waiting = undefined
          } else socket.write(step)
        }
      })()
    })
  })
}

async function run (row: Row): Promise<Exchange> {
  const ms = row.ms ?? 1500
  if (Array.isArray(row.send)) return await scripted(row, row.send, ms)
  if (row.responses !== undefined || row.frames !== undefined) return await scripted(row, [row.send], ms)
  // One write: the helper's exchange, stopping after the head where the server keeps the socket.
  const started = Date.now()
  const response = await rawExchange(port, row.send, ms, stopsEarly(row) ? 'head' : false)
  return { bytes: Buffer.from(response.text, 'latin1'), closedByServer: response.closedByServer, elapsed: Date.now() - started }
}

/** The server's open connections, polled until they are down to `target` or `ms` elapse. */
async function noOpenSockets (ms = 2000, target = 0): Promise<number> {
  const deadline = Date.now() + ms
  let count = await openConnections(app)
  while (count > target && Date.now() < deadline) {
    await delay(20)
    count = await openConnections(app)
  }
  return count
}

function checkRow (t: Test, row: Row, exchange: Exchange): void {
  const { bytes, closedByServer } = exchange
  if (row.expect === 'hangup') {
    t.pass('the client hung up; the server must carry on')
    return
  }
  if (row.expect === 'closed') {
    t.equal(bytes.length, 0, 'no response')
    t.ok(closedByServer, 'the server closed the connection')
    return
  }
  const responses = splitResponses(bytes)
  const first = responses[0]?.response
  // The strict check first: the very first bytes are an HTTP/1.1 status line with the first expected code.
  const firstCode = row.responses?.[0] ?? row.expect
  t.match(first?.statusLine ?? '', new RegExp(`^HTTP/1\\.1 ${firstCode} `), `status line starts with HTTP/1.1 ${firstCode}`)
  t.same(responses.map(({ response }) => response.status), row.responses ?? [row.expect], 'responses')
  const last = responses[responses.length - 1]
  if (last === undefined) return
  for (const [name, value] of Object.entries(row.headers ?? {})) {
    if (typeof value === 'string') t.equal(last.response.headers[name], value, `header ${name}`)
    else t.match(last.response.headers[name], value, `header ${name}`)
  }
  for (const name of row.absent ?? []) t.notOk(name in last.response.headers, `no ${name} header`)
  if (row.body !== undefined) {
    if (typeof row.body === 'string') t.equal(last.response.body, row.body, 'body')
    else t.match(last.response.body, row.body, 'body')
  }
  if (row.check !== undefined) row.check(t, last.after)
  if (row.expect !== 101) {
    if (row.keepsOpen !== true) t.ok(closedByServer, 'the server closed the connection after its answer')
  } else {
    t.equal(last.response.headers.upgrade, 'websocket', 'Upgrade: websocket')
    t.match(last.response.headers.connection, /^upgrade$/i, 'Connection: Upgrade')
    if (row.closesAfter101 === true) t.ok(closedByServer, 'the server closed the connection after the 101')
  }
}

// ---------------------------------------------------------------------------------------
// The corpus

t.test('the corpus has at least 40 rows with unique names', async (t) => {
  t.ok(rows.length >= 40, `${rows.length} rows`)
  t.equal(new Set(rows.map((row) => row.name)).size, rows.length)
})

for (const row of rows) {
  t.test(row.name, { timeout: (row.ms ?? 1500) + 4000 }, async (t) => {
    const crashed = crashes.length
    // Sockets an earlier (failed) row leaked are its failure, not this row's.
    const before = await openConnections(app)
    const exchange = await run(row)
    t.same(crashes.slice(crashed).map((error) => error.stack), [], 'the server did not throw')
    checkRow(t, row, exchange)
    if (row.expect === 408) t.ok(exchange.elapsed < 2200, `answered within the timeout budget (${exchange.elapsed} ms)`)
    t.equal(await noOpenSockets(1500, before), before, 'the server holds no socket of this row afterwards')
  })
}

t.test('after the corpus: no socket left, and a normal client still upgrades and echoes', async (t) => {
  t.same(crashes.map((error) => error.message), [], 'nothing was thrown from the server during the corpus')
  const left = await noOpenSockets()
  t.equal(left, 0, 'no open connections (polled up to 2 s)')
  const client = await within(connect(`${url}/ws`), 2000, 'a ws client to open')
  client.send('still alive')
  t.equal(await nextMessage(client, 2000), 'still alive')
  const closed = new Promise((resolve) => client.once('close', resolve))
  client.close()
  await within(closed, 2000, 'the client to close')
  t.ok(await noOpenSockets(2000, left) <= left, 'and its socket is released')
})
