// Plain HTTP/2 requests on an http2 Fastify app: HTTP/2 has no Upgrade (RFC 9113 section
// 8.2.2), so upgrade-only routes answer 505 naming how they can be reached (an extended
// CONNECT for WebSocket routes, test/http2-websocket.test.ts; HTTP/1.1 for other
// protocols), never a 426 that names an Upgrade the client cannot perform; dual routes'
// HTTP side is left alone, and HTTP/1.1 clients of an `allowHTTP1` TLS server still upgrade.
import tls from 'node:tls'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { WebSocket } from 'ws'
import fastifyUpgrade, { upgradeRequired } from '../lib/index.js'
import { nextMessage, parseResponse, track, within, type RawResponse } from './helpers.js'
import { h2connect, h2get, listenHttp2, type H2Response, type Test } from './http2-helpers.js'

/** The routes of every app here: upgrade-only WebSocket, dual, and a non-WebSocket protocol. */
function addRoutes (app: FastifyInstance): void {
  app.get('/ws', { websocket: true }, (socket) => {
    socket.on('message', (data) => { socket.send(`echo ${data.toString()}`) })
  })
  app.get('/dual', {
    wsHandler: (socket) => { socket.send('ws side') }
  }, async () => ({ http: true }))
  app.get('/line', { upgrade: { 'line/1': (stream) => { stream.end('hi\n') } } }, upgradeRequired)
}

function assertHttp2Unsupported (t: Test, response: H2Response, what: string, how: RegExp): void {
  t.equal(response.status, 505, `${what}: 505`)
  t.match(JSON.parse(response.body), { statusCode: 505, code: 'FST_UPGRADE_HTTP2_UNSUPPORTED', message: how }, `${what}: error body naming how to connect`)
  t.equal(response.headers.upgrade, undefined, `${what}: no Upgrade header`)
  t.equal(response.headers.connection, undefined, `${what}: no Connection header`)
}

const viaExtendedConnect = /extended CONNECT \(RFC 8441, :protocol websocket\), or over HTTP\/1\.1 with Upgrade: websocket$/
const viaHttp1 = /connect with HTTP\/1\.1 and Upgrade: line\/1$/

t.test('the plugin registers on a cleartext HTTP/2 app and the app closes', async (t) => {
  const app = Fastify({ http2: true }) as unknown as FastifyInstance
  await t.resolves(async () => { await app.register(fastifyUpgrade) }, 'registration does not throw')
  addRoutes(app)
  await app.ready()
  await t.resolves(within(app.close(), 3000, 'app.close()'))
})

t.test('cleartext HTTP/2 (prior knowledge): plain requests to upgrade-only routes get 505, dual routes serve HTTP', async (t) => {
  const { app, origin } = await listenHttp2(addRoutes, { tls: false })
  t.teardown(async () => { await within(app.close(), 3000, 'app.close()') })
  const session = await h2connect(t, origin)

  assertHttp2Unsupported(t, await h2get(session, '/ws'), 'GET /ws', viaExtendedConnect)
  assertHttp2Unsupported(t, await h2get(session, '/line'), 'GET /line', viaHttp1)

  const dual = await h2get(session, '/dual')
  t.equal(dual.status, 200)
  t.same(JSON.parse(dual.body), { http: true })
  t.equal(dual.headers.upgrade, undefined)
})

t.test('HTTP/2 over TLS with allowHTTP1: HTTP/1.1 still upgrades, plain HTTP/2 requests get 505', async (t) => {
  const { app, port, origin } = await listenHttp2(addRoutes)
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

  t.test('a plain HTTP/2 request still gets 505 without an Upgrade header', async (t) => {
    const session = await h2connect(t, origin)
    t.equal(session.alpnProtocol, 'h2', 'negotiated HTTP/2')
    assertHttp2Unsupported(t, await h2get(session, '/ws'), 'GET /ws', viaExtendedConnect)
    assertHttp2Unsupported(t, await h2get(session, '/line'), 'GET /line', viaHttp1)
    const dual = await h2get(session, '/dual')
    t.equal(dual.status, 200)
    t.same(JSON.parse(dual.body), { http: true })
  })

  t.test('an HTTP/1.1 CONNECT is still dropped as Node drops it without a listener', async (t) => {
    const response = await tlsExchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')
    t.ok(response.closedByServer, 'the server closed the connection')
    t.equal(response.text, '', 'without an answer')
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
