// Contract point 6: a request that carries `Connection: Upgrade` + `Upgrade: websocket`
// but may not upgrade (a POST with a body, a GET with a body, a HEAD) is served as a plain
// request on every server kind: plain HTTP, `Fastify({ https })` and
// `Fastify({ http2: true, https: { allowHTTP1: true } })`. On Node with
// shouldUpgradeCallback, Node serves it itself (keep-alive); on older Node, Node hands it to
// the 'upgrade' listener and the plugin gives the connection back to Node's HTTP parser
// (then `Connection: close`). On a TLS server that hand-back must not start a second TLS
// handshake on the already-decrypted stream (the client would get no answer), and on every
// kind a user's 'connection' / 'secureConnection' listener must run once per TCP connection.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import { nodeDecidesUpgrades, parseResponse, type RawResponse } from './helpers.js'

// The test certificate of http2.test.ts (CN=localhost, self-signed, for the tests only).
const key = readFileSync(new URL('./fixtures/localhost-key.pem', import.meta.url))
const cert = readFileSync(new URL('./fixtures/localhost-cert.pem', import.meta.url))

interface Kind {
  name: string
  tls: boolean
  options: Record<string, unknown>
}

const kinds: Kind[] = [
  { name: 'plain HTTP', tls: false, options: {} },
  { name: 'Fastify({ https })', tls: true, options: { https: { key, cert } } },
  { name: 'Fastify({ http2: true, https: { allowHTTP1: true } })', tls: true, options: { http2: true, https: { allowHTTP1: true, key, cert } } }
]

/** The app of one kind: a POST echo, an upgrade-only WebSocket route and a dual route. */
async function listenKind (kind: Kind): Promise<{ app: FastifyInstance, port: number }> {
  // Typed as the HTTP/1 instance so the plugin's route options type-check as elsewhere;
  // the server created is still the kind's (as in http2.test.ts).
  const app = Fastify(kind.options as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance
  await app.register(fastifyUpgrade)
  app.post('/echo', async (request) => request.body)
  app.get('/ws', { websocket: true }, (socket) => { socket.send('ws side') })
  app.get('/dual', { wsHandler: (socket) => { socket.send('ws side') } }, async () => ({ http: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, port: (app.server.address() as net.AddressInfo).port }
}

interface Exchange {
  response: RawResponse
  /** The whole response arrived (head, and a body of its Content-Length unless HEAD). */
  complete: boolean
  /** The server closed the connection within the time allowed. */
  closedByServer: boolean
}

/** Whether `text` holds a whole response (this app always sends Content-Length). */
function isComplete (text: string, head: boolean): boolean {
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) return false
  if (head) return true
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? NaN)
  return Buffer.byteLength(text.slice(end + 4), 'latin1') >= length
}

/**
 * Writes `request` on a fresh connection (TLS with ALPN http/1.1, or plain TCP) and
 * collects the answer until the server closes, or `ms` elapse after the response is
 * complete (a kept-alive connection) or without it (closedByServer false).
 */
async function exchange (secure: boolean, port: number, request: string, ms = 2000): Promise<Exchange> {
  return await new Promise((resolve, reject) => {
    const socket = secure
      ? tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false }, () => { socket.write(request) })
      : net.connect(port, '127.0.0.1', () => { socket.write(request) })
    const chunks: Buffer[] = []
    const isHead = request.startsWith('HEAD ')
    let closedByServer = true
    let complete = false
    let timer = setTimeout(() => { closedByServer = false; socket.destroy() }, ms)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (!complete && isComplete(Buffer.concat(chunks).toString('latin1'), isHead)) {
        complete = true
        // Kept alive or not: a connection the server keeps is closed by us 200 ms later.
        clearTimeout(timer)
        timer = setTimeout(() => { closedByServer = false; socket.destroy() }, 200)
      }
    })
    socket.on('error', (error) => { clearTimeout(timer); reject(error) })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ response: parseResponse(Buffer.concat(chunks).toString('latin1'), closedByServer), complete, closedByServer })
    })
  })
}

/** A request head with the upgrade headers of a WebSocket handshake, and optionally a body. */
function upgradeRequest (requestLine: string, body?: { text: string, chunked?: boolean }): string {
  let text = `${requestLine}\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
  if (body === undefined) return `${text}\r\n`
  text += 'Content-Type: text/plain\r\n'
  if (body.chunked === true) {
    const length = Buffer.byteLength(body.text).toString(16)
    return `${text}Transfer-Encoding: chunked\r\n\r\n${length}\r\n${body.text}\r\n0\r\n\r\n`
  }
  return `${text}Content-Length: ${Buffer.byteLength(body.text)}\r\n\r\n${body.text}`
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return { notJson: text }
  }
}

interface Case {
  name: string
  request: string
  status: number
  /** The exact body, or a check of the parsed JSON body. */
  body: string | Record<string, unknown>
}

const cases: Case[] = [
  {
    name: 'POST with a Content-Length body: the route echoes it',
    request: upgradeRequest('POST /echo HTTP/1.1', { text: 'hello over upgrade headers' }),
    status: 200,
    body: 'hello over upgrade headers'
  },
  {
    name: 'POST with a chunked body: the route echoes it',
    request: upgradeRequest('POST /echo HTTP/1.1', { text: 'chunked hello', chunked: true }),
    status: 200,
    body: 'chunked hello'
  },
  {
    name: 'GET with a body to the dual route: its HTTP handler answers',
    request: upgradeRequest('GET /dual HTTP/1.1', { text: 'a body' }),
    status: 200,
    body: { http: true }
  },
  {
    name: 'GET with a body to the WebSocket-only route: 426',
    request: upgradeRequest('GET /ws HTTP/1.1', { text: 'a body' }),
    status: 426,
    body: { statusCode: 426, code: 'FST_UPGRADE_REQUIRED' }
  },
  {
    name: 'HEAD to the WebSocket-only route: its plain answer, 426 without a body',
    request: upgradeRequest('HEAD /ws HTTP/1.1'),
    status: 426,
    body: ''
  },
  {
    name: 'HEAD to the dual route: 200 without a body',
    request: upgradeRequest('HEAD /dual HTTP/1.1'),
    status: 200,
    body: ''
  }
]

for (const kind of kinds) {
  t.test(`${kind.name}: requests with upgrade headers that may not upgrade are served as plain requests`, async (t) => {
    const { app, port } = await listenKind(kind)
    t.teardown(async () => { await app.close() })
    // A user's listeners: each must run once per TCP connection.
    let connections = 0
    let secureConnections = 0
    app.server.on('connection', () => { connections++ })
    app.server.on('secureConnection', () => { secureConnections++ })

    // One TCP connection per request, all at once (a server that never answers costs 2 s, not 2 s each).
    const exchanges = await Promise.all(cases.map(async (item) => await exchange(kind.tls, port, item.request)))
    cases.forEach((item, i) => {
      const { response, complete, closedByServer } = exchanges[i] as Exchange
      t.test(item.name, async (t) => {
        t.ok(complete, 'the whole response arrived within 2 s', { received: response.text.slice(0, 300) })
        t.equal(response.status, item.status, 'status')
        if (typeof item.body === 'string') t.equal(response.body, item.body, 'body')
        else t.match(parseJson(response.body), item.body, 'JSON body')
        t.notOk(response.statusLine.includes(' 101 '), 'never a 101')
        if (nodeDecidesUpgrades) {
          t.notOk(closedByServer, 'Node served it as an ordinary request: the connection is kept alive')
        } else {
          t.match(response.headers.connection ?? '', /\bclose\b/i, 'Connection: close')
          t.ok(closedByServer, 'the server closed the connection after the response')
        }
      })
    })

    t.equal(connections, cases.length, `the 'connection' listener ran once per TCP connection (${cases.length})`)
    if (kind.tls) t.equal(secureConnections, cases.length, `the 'secureConnection' listener ran once per TLS connection (${cases.length})`)
    else t.equal(secureConnections, 0, "no 'secureConnection' on plain HTTP")
  })
}
