// HTTP/2 has no Upgrade mechanism (RFC 9113 section 8.2.2): on an http2 Fastify app the
// plugin must register cleanly, answer upgrade-only routes with 505 (never a 426 that
// names an Upgrade the client cannot perform), leave dual routes' HTTP side alone, and
// keep upgrading HTTP/1.1 clients that an `allowHTTP1` TLS server still accepts.
import { readFileSync } from 'node:fs'
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { WebSocket } from 'ws'
import fastifyUpgrade, { upgradeRequired } from '../lib/index.js'
import { nextMessage, parseResponse, track, within, type RawResponse } from './helpers.js'

// A self-signed certificate for CN=localhost (SAN DNS:localhost, IP:127.0.0.1), made once
// with openssl for these tests only. It protects nothing: never use it outside the tests.
const key = readFileSync(new URL('./fixtures/localhost-key.pem', import.meta.url))
const cert = readFileSync(new URL('./fixtures/localhost-cert.pem', import.meta.url))

/** The routes of every app here: upgrade-only WebSocket, dual, and a non-WebSocket protocol. */
async function addRoutes (app: FastifyInstance): Promise<void> {
  await app.register(fastifyUpgrade)
  app.get('/ws', { websocket: true }, (socket) => {
    socket.on('message', (data) => { socket.send(`echo ${data.toString()}`) })
  })
  app.get('/dual', {
    wsHandler: (socket) => { socket.send('ws side') }
  }, async () => ({ http: true }))
  app.get('/line', { upgrade: { 'line/1': (stream) => { stream.end('hi\n') } } }, upgradeRequired)
}

// The instance type is the HTTP/1 one so that the route options the plugin adds type-check
// the same way as everywhere else; the servers created are still http2 ones.
async function listenHttp2 (options: Record<string, unknown>): Promise<{ app: FastifyInstance, port: number }> {
  const app = Fastify(options as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance
  await addRoutes(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, port: (app.server.address() as AddressInfo).port }
}

// The subtest type (the last overload of t.test is `(cb)`).
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

interface H2Response { status: number, headers: IncomingHttpHeaders & IncomingHttpStatusHeader, body: string }

/** One GET over an existing HTTP/2 session, bounded in time. */
async function h2get (session: ClientHttp2Session, path: string): Promise<H2Response> {
  return await within(new Promise<H2Response>((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': path })
    let headers: IncomingHttpHeaders & IncomingHttpStatusHeader = {}
    let body = ''
    stream.setEncoding('utf8')
    stream.on('response', (received) => { headers = received })
    stream.on('data', (chunk: string) => { body += chunk })
    stream.on('end', () => { resolve({ status: Number(headers[':status']), headers, body }) })
    stream.on('error', reject)
    stream.end()
  }), 3000, `HTTP/2 GET ${path}`)
}

/** Opens an HTTP/2 session, closed (then destroyed if it lingers) in the test's teardown. */
async function h2connect (t: Test, authority: string, options: http2.SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  const session = http2.connect(authority, options)
  t.teardown(async () => { await closeSession(session) })
  await within(new Promise<void>((resolve, reject) => {
    session.once('connect', () => { resolve() })
    session.once('error', reject)
  }), 3000, `HTTP/2 connection to ${authority}`)
  return session
}

async function closeSession (session: ClientHttp2Session): Promise<void> {
  if (session.destroyed) return
  try {
    await within(new Promise<void>((resolve) => { session.close(resolve) }), 1000, 'HTTP/2 session close')
  } catch {
    session.destroy()
  }
}

function assertHttp2Unsupported (t: Test, response: H2Response, what: string): void {
  t.equal(response.status, 505, `${what}: 505`)
  t.match(JSON.parse(response.body), { statusCode: 505, code: 'FST_UPGRADE_HTTP2_UNSUPPORTED' }, `${what}: error body`)
  t.equal(response.headers.upgrade, undefined, `${what}: no Upgrade header`)
  t.equal(response.headers.connection, undefined, `${what}: no Connection header`)
}

t.test('the plugin registers on a cleartext HTTP/2 app and the app closes', async (t) => {
  const app = Fastify({ http2: true }) as unknown as FastifyInstance
  await t.resolves(addRoutes(app), 'registration does not throw')
  await app.ready()
  await t.resolves(within(app.close(), 3000, 'app.close()'))
})

t.test('cleartext HTTP/2 (prior knowledge): upgrade-only routes answer 505, dual routes serve HTTP', async (t) => {
  const { app, port } = await listenHttp2({ http2: true })
  t.teardown(async () => { await within(app.close(), 3000, 'app.close()') })
  const session = await h2connect(t, `http://127.0.0.1:${port}`)

  assertHttp2Unsupported(t, await h2get(session, '/ws'), 'GET /ws')
  assertHttp2Unsupported(t, await h2get(session, '/line'), 'GET /line')

  const dual = await h2get(session, '/dual')
  t.equal(dual.status, 200)
  t.same(JSON.parse(dual.body), { http: true })
  t.equal(dual.headers.upgrade, undefined)
})

t.test('HTTP/2 over TLS with allowHTTP1: HTTP/1.1 still upgrades, HTTP/2 gets 505', async (t) => {
  const { app, port } = await listenHttp2({ http2: true, https: { allowHTTP1: true, key, cert } })
  t.teardown(async () => { await within(app.close(), 3000, 'app.close()') })

  t.test('a ws client upgrades over HTTP/1.1 and gets its echo', async (t) => {
    const client = track(new WebSocket(`wss://127.0.0.1:${port}/ws`, { rejectUnauthorized: false }))
    t.teardown(() => { client.terminate() })
    await within(new Promise<void>((resolve, reject) => {
      client.once('open', resolve)
      client.once('error', reject)
      client.once('unexpected-response', (_request, response) => { reject(new Error(`unexpected response ${response.statusCode ?? 0}`)) })
    }), 3000, 'the wss handshake')
    client.send('over tls')
    t.equal(await nextMessage(client), 'echo over tls')
    const closed = within(new Promise<number>((resolve) => { client.once('close', resolve) }), 3000, 'close')
    client.close(1000)
    t.equal(await closed, 1000)
  })

  t.test('an HTTP/2 client still gets 505 without an Upgrade header', async (t) => {
    const session = await h2connect(t, `https://127.0.0.1:${port}`, { rejectUnauthorized: false })
    t.equal(session.alpnProtocol, 'h2', 'negotiated HTTP/2')
    assertHttp2Unsupported(t, await h2get(session, '/ws'), 'GET /ws')
    assertHttp2Unsupported(t, await h2get(session, '/line'), 'GET /line')
    const dual = await h2get(session, '/dual')
    t.equal(dual.status, 200)
    t.same(JSON.parse(dual.body), { http: true })
  })

  t.test('a plain HTTP/1.1 request over TLS gets 426 naming websocket', async (t) => {
    const response = await tlsExchange(port, 'GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    t.ok(response.closedByServer, 'the server ended the exchange')
    t.equal(response.status, 426)
    t.equal(response.headers.upgrade, 'websocket')
    t.match(response.headers.connection, /^upgrade\b/i)
    t.match(JSON.parse(response.body), { statusCode: 426, code: 'FST_UPGRADE_REQUIRED' })
  })
})

/** Sends raw bytes over TLS (ALPN http/1.1) and collects the answer until the server closes. */
async function tlsExchange (port: number, request: string, ms = 3000): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false }, () => {
      socket.write(request)
    })
    const chunks: Buffer[] = []
    let closedByServer = true
    const timer = setTimeout(() => { closedByServer = false; socket.destroy() }, ms)
    socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    socket.on('error', (error) => { clearTimeout(timer); reject(error) })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1'), closedByServer))
    })
  })
}
