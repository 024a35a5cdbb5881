// WebSocket over HTTP/2 (RFC 8441 extended CONNECT) on a real TLS HTTP/2 server, and on
// cleartext HTTP/2: Node's http2 client opens CONNECT streams with :protocol websocket,
// ws runs in client mode over each stream (test/http2-helpers.ts). The same routes,
// hooks, negotiation, limits, stats and shutdown as HTTP/1.1 upgrades.
import { constants, type ClientHttp2Stream, type Http2ServerRequest, type ServerHttp2Stream } from 'node:http2'
import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { WebSocket } from 'ws'
import { CloseCode, type WebSocketConnection } from '../lib/index.js'
import { closeEvent, connect, messages, nextMessage, within } from './helpers.js'
import { closeSession, h2connect, h2get, h2request, h2WebSocket, listenHttp2, openH2WebSocket, type Http2App, type Test } from './http2-helpers.js'

/** Polls `check` until it is true, failing after `ms`. */
async function until (check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Waits until the app has no open WebSocket left (server-side closes follow the client's). */
async function allClosed (app: Http2App['app']): Promise<void> {
  await until(() => app.websocketStats().open === 0, 'every connection to be closed on the server')
}

async function streamClosed (stream: ClientHttp2Stream): Promise<number> {
  if (stream.closed && stream.destroyed) return stream.rstCode as number
  return await within(new Promise<number>((resolve) => { stream.once('close', () => { resolve(stream.rstCode as number) }) }), 3000, 'the stream to close')
}

async function withApp (t: Test, setup: Parameters<typeof listenHttp2>[0], options: Parameters<typeof listenHttp2>[1] = {}): Promise<Http2App> {
  const server = await listenHttp2(setup, options)
  t.teardown(async () => { await within(server.app.close(), 5000, 'app.close()') })
  return server
}

t.test('echo over TLS HTTP/2: text and binary, routed like an upgrade (params, query and header schemas, request.ws, HTTP/2 request)', async (t) => {
  const seen: Array<{ hook: string, ws: boolean, method: string }> = []
  const { app, origin } = await withApp(t, (app) => {
    app.addHook('onRequest', async (request) => { seen.push({ hook: 'onRequest', ws: request.ws, method: request.method }) })
    app.addHook('preHandler', async (request) => { seen.push({ hook: 'preHandler', ws: request.ws, method: request.method }) })
    app.get('/rooms/:room', {
      websocket: true,
      schema: {
        params: Type.Object({ room: Type.String({ pattern: '^[a-z]+$' }) }),
        querystring: Type.Object({ user: Type.String() }),
        headers: Type.Object({ 'x-client': Type.String() })
      }
    }, (socket, request) => {
      const { room } = request.params as { room: string }
      const { user } = request.query as { user: string }
      socket.send(`${room}/${user} over HTTP/${request.raw.httpVersion} ws=${String(request.ws)} :method=${String(request.headers[':method'])}`)
      socket.on('message', (data, isBinary) => { socket.send(isBinary ? data : `echo ${data.toString()}`) })
    })
  })
  const session = await h2connect(t, origin)
  t.equal(session.remoteSettings.enableConnectProtocol, true, 'the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL')

  const { ws, headers } = await openH2WebSocket(session, '/rooms/lobby?user=ada', { headers: { 'x-client': 'test' } })
  t.equal(headers[':status'], 200, 'RFC 8441: :status 200')
  t.equal(headers['sec-websocket-accept'], undefined, 'no Sec-WebSocket-Accept when no key was sent')
  t.equal(await nextMessage(ws), 'lobby/ada over HTTP/2.0 ws=true :method=CONNECT', 'params, query, HTTP/2 request, request.ws; headers as sent')
  ws.send('hello')
  t.equal(await nextMessage(ws), 'echo hello')
  const binary = new Promise<Buffer>((resolve) => { ws.once('message', (data: Buffer) => { resolve(data) }) })
  ws.send(Buffer.from([0, 1, 2, 255]))
  t.same([...await within(binary)], [0, 1, 2, 255], 'binary comes back binary')
  t.same(seen, [{ hook: 'onRequest', ws: true, method: 'GET' }, { hook: 'preHandler', ws: true, method: 'GET' }], 'hooks see a WebSocket request, routed as the GET it replaces')

  const closed = closeEvent(ws)
  ws.close(CloseCode.Normal, 'bye')
  t.same(await closed, { code: 1000, reason: 'bye' })
  await allClosed(app)
  const stats = app.websocketStats()
  t.equal(stats.closes['1000'], 1)
  t.ok(stats.bytesIn > 0 && stats.bytesOut > 0, 'the stream\'s bytes are counted')

  t.test('schemas refuse bad params, query and headers with real HTTP/2 400s', async (t) => {
    for (const [path, headers] of [['/rooms/BAD?user=ada', { 'x-client': 'a' }], ['/rooms/lobby', { 'x-client': 'a' }], ['/rooms/lobby?user=ada', {}]] as const) {
      const refused = await h2WebSocket(session, path, { headers })
      t.equal(refused.status, 400, `${path} ${JSON.stringify(headers)}: 400`)
      t.match('body' in refused ? JSON.parse(refused.body) : {}, { statusCode: 400, code: 'FST_ERR_VALIDATION' })
    }
  })

  t.test('a key sent by the client gets its Sec-WebSocket-Accept (undici checks it)', async (t) => {
    const { ws, headers } = await openH2WebSocket(session, '/rooms/lobby?user=k', { headers: { 'x-client': 'a', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    t.equal(headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'RFC 6455 section 1.3\'s example')
    ws.terminate()
  })
})

t.test('subprotocols and permessage-deflate are negotiated as over HTTP/1.1', async (t) => {
  const { app, origin } = await withApp(t, (app) => {
    app.get('/chat', { websocket: { protocols: ['chat.v2', 'chat.v1'] } }, (socket) => { socket.send(`protocol ${socket.protocol}`) })
    app.get('/feed', { websocket: { perMessageDeflate: true } }, (socket) => {
      socket.on('message', (data) => { socket.send(data.toString()) })
    })
    app.get('/any', { websocket: true }, (socket) => { socket.send(`first offered: ${socket.protocol}`) })
  })
  const session = await h2connect(t, origin)

  const chat = await openH2WebSocket(session, '/chat', { protocols: ['chat.v1', 'chat.v2'] })
  t.equal(chat.headers['sec-websocket-protocol'], 'chat.v2', 'the route\'s order wins')
  t.equal(await nextMessage(chat.ws), 'protocol chat.v2')
  t.equal(chat.ws.protocol, 'chat.v2')
  const none = await h2WebSocket(session, '/chat', { protocols: ['other'] })
  t.equal(none.status, 400)
  t.match('body' in none ? JSON.parse(none.body) : {}, { code: 'FST_UPGRADE_UNSUPPORTED_PROTOCOL' })
  const any = await openH2WebSocket(session, '/any', { protocols: ['b', 'a'] })
  t.equal(await nextMessage(any.ws), 'first offered: b', 'routes without protocols keep ws\' rule')

  const feed = await openH2WebSocket(session, '/feed', { deflate: true })
  t.match(feed.headers['sec-websocket-extensions'], /^permessage-deflate/, 'deflate accepted')
  const big = 'compressible '.repeat(10_000)
  feed.ws.send(big)
  t.equal(await nextMessage(feed.ws), big, 'a compressed message both ways')
  await until(() => app.websocketStats().bytesIn > 0, 'bytes counted')
  t.ok(app.websocketStats().bytesIn < big.length / 10, 'what crossed the stream was compressed')

  const plain = await openH2WebSocket(session, '/chat', { protocols: ['chat.v1'], deflate: true })
  t.equal(plain.headers['sec-websocket-extensions'], undefined, 'no deflate on a route without it')
  t.equal(await nextMessage(plain.ws), 'protocol chat.v1')

  const badParams = await h2WebSocket(session, '/feed', { headers: { 'sec-websocket-extensions': 'permessage-deflate; server_max_window_bits=99' } })
  t.equal(badParams.status, 400, 'parameters ws refuses: 400 before the handshake')
  t.match('body' in badParams ? JSON.parse(badParams.body) : {}, { code: 'FST_UPGRADE_BAD_HANDSHAKE' })
  for (const client of [chat.ws, any.ws, feed.ws, plain.ws]) client.terminate()
  await allClosed(app)
})

t.test('message schemas and close codes', async (t) => {
  const { app, origin } = await withApp(t, (app) => {
    app.get('/typed', {
      websocket: true,
      schema: { message: Type.Object({ n: Type.Integer() }) }
    }, (socket) => {
      socket.on('message', (message) => { socket.send(JSON.stringify({ doubled: message.n * 2 })) })
    })
    app.get('/closer', { websocket: true }, (socket) => { socket.on('message', (data) => { socket.close(4000 + Number(data.toString()), 'as asked') }) })
  })
  const session = await h2connect(t, origin)
  const { ws } = await openH2WebSocket(session, '/typed')
  ws.send('{"n":21}')
  t.equal(await nextMessage(ws), '{"doubled":42}')
  const refused = closeEvent(ws)
  ws.send('{"n":"x"}')
  t.match(await refused, { code: CloseCode.PolicyViolation }, 'a message against the schema: 1008')
  const notJson = await openH2WebSocket(session, '/typed')
  const undecodable = closeEvent(notJson.ws)
  notJson.ws.send('{')
  t.match(await undecodable, { code: CloseCode.InvalidPayload }, 'undecodable: 1007')

  const closer = await openH2WebSocket(session, '/closer')
  const byServer = closeEvent(closer.ws)
  closer.ws.send('7')
  t.same(await byServer, { code: 4007, reason: 'as asked' }, 'a close code of the handler\'s')
  t.equal(await streamClosed(closer.stream), constants.NGHTTP2_NO_ERROR, 'the closing handshake ends the stream, without a reset')
  await allClosed(app)
  t.match(app.websocketStats().closes, { 1007: 1, 1008: 1, 4007: 1 })
})

t.test('refusals are real HTTP/2 responses: a hook\'s 401, an origin, limits, plain requests, CONNECTs that are no WebSocket', async (t) => {
  let terminated: ServerHttp2Stream | undefined
  const { app, origin } = await withApp(t, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ error: 'who are you?' })
    })
    app.get('/ws', { websocket: { allowedOrigins: ['https://good.example'] } }, (socket, request) => {
      socket.on('message', () => {
        terminated = (request.raw as unknown as Http2ServerRequest).stream
        socket.terminate()
      })
    })
    app.get('/one', { websocket: { maxConnections: 1 } }, () => {})
    app.get('/plain', async () => 'plain')
    app.route({ method: ['GET', 'POST'], url: '/form', handler: async () => 'form' })
    app.get('/line', { upgrade: { 'line/1': (stream) => { stream.end() } } }, async () => 'line route')
  })
  const session = await h2connect(t, origin)
  const auth = { authorization: 'Bearer ok' }

  const unauthorized = await h2WebSocket(session, '/ws')
  t.equal(unauthorized.status, 401, 'the hook\'s status')
  t.same('body' in unauthorized ? JSON.parse(unauthorized.body) : {}, { error: 'who are you?' }, 'and its body')
  t.equal(await streamClosed(unauthorized.stream), constants.NGHTTP2_NO_ERROR, 'the refused stream ends')

  const foreign = await h2WebSocket(session, '/ws', { headers: { ...auth, origin: 'https://evil.example' } })
  t.equal(foreign.status, 403)
  t.match('body' in foreign ? JSON.parse(foreign.body) : {}, { code: 'FST_UPGRADE_ORIGIN_REFUSED' })
  const good = await openH2WebSocket(session, '/ws', { headers: { ...auth, origin: 'https://good.example' } })
  good.ws.send('terminate me')
  await streamClosed(good.stream)
  t.equal(terminated?.rstCode, constants.NGHTTP2_CANCEL, 'the server\'s terminate() resets the stream with CANCEL (RFC 8441 section 5)')

  const first = await openH2WebSocket(session, '/one', { headers: auth })
  const second = await h2WebSocket(session, '/one', { headers: auth })
  t.equal(second.status, 503, 'maxConnections')
  t.equal(second.headers['retry-after'], '5')
  first.ws.terminate()

  const version = await h2WebSocket(session, '/ws', { headers: { ...auth, 'sec-websocket-version': '8' } })
  t.equal(version.status, 426, 'an unsupported version')
  t.equal(version.headers['sec-websocket-version'], '13')

  const plainRoute = await h2WebSocket(session, '/plain', { headers: auth })
  t.equal(plainRoute.status, 405, 'a WebSocket CONNECT to a route without WebSocket: 405')
  t.equal(plainRoute.headers.allow, 'GET', 'with the route\'s methods')
  t.match('body' in plainRoute ? JSON.parse(plainRoute.body) : {}, { code: 'FST_UPGRADE_CONNECT_NOT_ALLOWED' })
  t.equal((await h2WebSocket(session, '/form', { headers: auth })).headers.allow, 'GET, POST', 'Allow names every method of the route')
  t.equal((await h2WebSocket(session, '/line', { headers: auth })).status, 405, 'a route of other protocols only: 405 too')
  t.equal((await h2WebSocket(session, '/nowhere', { headers: auth })).status, 404, 'no route: 404')

  const get = await h2request(session, { ':method': 'GET', ':path': '/ws', ...auth })
  t.equal(get.status, 505, 'a plain HTTP/2 GET to a WebSocket-only route: 505')
  t.match(JSON.parse(get.body), { code: 'FST_UPGRADE_HTTP2_UNSUPPORTED', message: /extended CONNECT \(RFC 8441, :protocol websocket\), or over HTTP\/1\.1/ }, 'naming both ways in')
  t.equal((await h2request(session, { ':method': 'GET', ':path': '/plain', ...auth })).body, 'plain', 'plain routes are untouched')

  const unknown = await h2request(session, { ':method': 'CONNECT', ':protocol': 'chat-tunnel', ':scheme': 'https', ':path': '/ws', ':authority': 'localhost' })
  t.equal(unknown.status, 501, 'an unknown :protocol: 501 (RFC 9220 section 3)')
  t.match(JSON.parse(unknown.body), { code: 'FST_UPGRADE_CONNECT_UNSUPPORTED', message: /"chat-tunnel"/ })
  const tunnel = await h2request(session, { ':method': 'CONNECT', ':authority': 'example.com:443' })
  t.equal(tunnel.status, 501, 'a CONNECT without :protocol (a tunnel): 501 (RFC 9110 section 15.6.2)')
  t.match(JSON.parse(tunnel.body), { code: 'FST_UPGRADE_CONNECT_UNSUPPORTED', message: /without :protocol/ })

  await allClosed(app)
  t.match(app.websocketStats().rejectedHandshakes, {
    'status 401': 1,
    FST_UPGRADE_ORIGIN_REFUSED: 1,
    FST_UPGRADE_UNAVAILABLE: 1,
    FST_UPGRADE_UNSUPPORTED_VERSION: 1,
    FST_UPGRADE_CONNECT_NOT_ALLOWED: 3,
    'status 404': 1,
    FST_UPGRADE_CONNECT_UNSUPPORTED: 2
  }, 'each refusal counted once')
})

t.test('several WebSockets multiplexed on one session, plain requests between them', async (t) => {
  const { app, origin } = await withApp(t, (app) => {
    app.get('/ws/:id', { websocket: true }, (socket, request) => {
      const { id } = request.params as { id: string }
      socket.on('message', (data) => { socket.send(`${id}:${data.toString()}`) })
    })
    app.get('/plain/:id', async (request) => `plain ${(request.params as { id: string }).id}`)
  })
  const session = await h2connect(t, origin)
  const sockets: WebSocket[] = []
  for (let id = 0; id < 5; id++) {
    sockets.push((await openH2WebSocket(session, `/ws/${id}`)).ws)
    t.equal((await h2get(session, `/plain/${id}`)).body, `plain ${id}`)
  }
  t.equal(app.websocketStats().open, 5)
  for (let round = 0; round < 3; round++) {
    for (const socket of sockets) socket.send(`m${round}`)
  }
  for (const [id, socket] of sockets.entries()) t.same(await messages(socket, 3), [`${id}:m0`, `${id}:m1`, `${id}:m2`], `socket ${id} got its own echoes in order`)
  t.equal(app.server.listenerCount('connect'), 1)
  for (const socket of sockets) socket.close()
  await allClosed(app)
})

t.test('flow control: a held socket and a slow consumer stall only their own streams', async (t) => {
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  let heldReceived = 0
  let slowSocket: WebSocketConnection | undefined
  const { app, origin } = await withApp(t, (app) => {
    app.get('/held', { websocket: { maxHeldBytes: 16 * 1024 * 1024, maxPayload: 64 * 1024 } }, async (socket) => {
      await released // messages are held (the stream paused) until the handler listens
      socket.on('message', () => { heldReceived++ })
    })
    app.get('/slow', { websocket: { maxBackpressure: 64 * 1024 * 1024 } }, (socket) => { slowSocket = socket })
    app.get('/echo', { websocket: true }, (socket) => { socket.on('message', (data) => { socket.send(data.toString()) }) })
  })
  const session = await h2connect(t, origin)

  // The client sends far more than a stream's window (65,535 bytes) to a socket whose handler is not listening yet.
  const held = await openH2WebSocket(session, '/held')
  const chunk = Buffer.alloc(32 * 1024, 1)
  const sent = 40
  for (let i = 0; i < sent; i++) held.ws.send(chunk)
  await until(() => held.ws.bufferedAmount > 0 && held.stream.writableLength > 0, 'the held stream to stop taking data')

  // The server sends far more than a window to a client that does not read its stream.
  const slow = await openH2WebSocket(session, '/slow')
  slow.stream.pause()
  await until(() => slowSocket !== undefined, 'the slow socket')
  const big = Buffer.alloc(256 * 1024, 2)
  for (let i = 0; i < 8; i++) slowSocket?.send(big)
  await until(() => (slowSocket?.bufferedAmount ?? 0) > 0, 'the slow consumer\'s stream to hold the server\'s data back')

  // Siblings on the same connection are not stalled.
  const echo = await openH2WebSocket(session, '/echo')
  for (let i = 0; i < 20; i++) {
    echo.ws.send(`ping ${i}`)
    t.equal(await nextMessage(echo.ws), `ping ${i}`)
  }
  t.equal((await h2get(session, '/nowhere')).status, 404, 'plain requests still flow')
  t.ok(held.ws.bufferedAmount > 0, 'the held stream is still stalled')
  t.ok((slowSocket?.bufferedAmount ?? 0) > 0, 'the slow stream is still stalled')

  // Both stalled streams resume when their readers do.
  release()
  await until(() => heldReceived === sent, 'every held message to be delivered', 10_000)
  let slowBytes = 0
  slow.ws.on('message', (data: Buffer) => { slowBytes += data.length })
  slow.stream.resume()
  await until(() => slowBytes === 8 * big.length, 'the slow consumer to get everything', 10_000)
  for (const client of [held.ws, slow.ws, echo.ws]) client.close()
  await allClosed(app)
})

t.test('operational options apply to HTTP/2 sockets', async (t) => {
  const beating: ServerHttp2Stream[] = []
  const { app, origin } = await withApp(t, (app) => {
    app.get('/small', { websocket: { maxPayload: 100 } }, (socket) => { socket.on('message', () => {}) })
    app.get('/idle', { websocket: { idleTimeout: 100, heartbeat: false } }, () => {})
    app.get('/beat', { websocket: { heartbeat: { interval: 50, timeout: 100 } } }, (_socket, request) => { beating.push((request.raw as unknown as Http2ServerRequest).stream) })
    app.get('/rate', { websocket: { rateLimit: { rate: 1, burst: 2 } } }, (socket) => { socket.on('message', () => {}) })
  })
  const session = await h2connect(t, origin)

  const small = await openH2WebSocket(session, '/small')
  const tooBig = closeEvent(small.ws)
  small.ws.send('x'.repeat(101))
  t.match(await tooBig, { code: CloseCode.MessageTooBig }, 'maxPayload: 1009')

  const idle = await openH2WebSocket(session, '/idle')
  t.same(await closeEvent(idle.ws), { code: 1000, reason: 'idle timeout' }, 'idleTimeout')

  const beat = await openH2WebSocket(session, '/beat')
  await within(new Promise((resolve) => { beat.ws.once('ping', resolve) }), 3000, 'a heartbeat ping')
  t.pass('heartbeat pings, answered by the client')
  // A peer that stops answering pings is terminated: its stream is reset with CANCEL.
  const deaf = await openH2WebSocket(session, '/beat')
  ;(deaf.ws as unknown as { _autoPong: boolean })._autoPong = false
  t.match(await closeEvent(deaf.ws), { code: 1006 }, 'a missed pong terminates')
  t.equal(beating[1]?.rstCode, constants.NGHTTP2_CANCEL, 'its stream reset with CANCEL')

  const rate = await openH2WebSocket(session, '/rate')
  const limited = closeEvent(rate.ws)
  for (let i = 0; i < 5; i++) rate.ws.send('x')
  t.match(await limited, { code: CloseCode.PolicyViolation, reason: 'rate limit exceeded' })
  beat.ws.terminate()
  await allClosed(app)
})

t.test('the handshake deadline refuses a CONNECT whose hooks hang: 503', async (t) => {
  const { app, origin } = await withApp(t, (app) => {
    app.addHook('onRequest', async () => { await new Promise(() => {}) })
    app.get('/ws', { websocket: true }, () => {})
  }, { options: { handshakeTimeout: 100 } })
  const session = await h2connect(t, origin)
  const late = await h2WebSocket(session, '/ws')
  t.equal(late.status, 503)
  t.match('body' in late ? JSON.parse(late.body) : {}, { code: 'FST_UPGRADE_UNAVAILABLE', message: /handshake timeout/ })
  t.equal(app.websocketStats().rejectedHandshakes.FST_UPGRADE_UNAVAILABLE, 1)
})

t.test('app.close(): 1001 to every HTTP/2 WebSocket, then the streams end', async (t) => {
  const { app, origin } = await listenHttp2((app) => {
    app.get('/ws', { websocket: true }, () => {})
  })
  const session = await h2connect(t, origin)
  const clients = await Promise.all([1, 2, 3].map(async () => await openH2WebSocket(session, '/ws')))
  const closes = clients.map(async ({ ws }) => await closeEvent(ws))
  const ends = clients.map(async ({ stream }) => await streamClosed(stream))
  const closing = app.close()
  t.same(await Promise.all(closes), clients.map(() => ({ code: 1001, reason: 'server shutting down' })))
  t.same(await Promise.all(ends), clients.map(() => constants.NGHTTP2_NO_ERROR), 'each stream ended after the closing handshake')
  await closeSession(session)
  await within(closing, 5000, 'app.close()')
  t.equal(app.websocketStats().open, 0)
})

t.test('cleartext HTTP/2 (h2c, prior knowledge): the same path', async (t) => {
  const { app, origin } = await withApp(t, (app) => {
    app.get('/ws', { websocket: true }, (socket, request) => {
      socket.on('message', (data) => { socket.send(`${request.raw.httpVersion} ${data.toString()}`) })
    })
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-deny'] !== undefined) await reply.code(403).send('no')
    })
  }, { tls: false })
  const session = await h2connect(t, origin)
  t.equal(session.encrypted, false)
  t.equal(session.remoteSettings.enableConnectProtocol, true)
  const { ws, headers } = await openH2WebSocket(session, '/ws')
  t.equal(headers[':status'], 200)
  ws.send('clear')
  t.equal(await nextMessage(ws), '2.0 clear')
  const denied = await h2WebSocket(session, '/ws', { headers: { 'x-deny': '1' } })
  t.equal(denied.status, 403)
  ws.close()
  await allClosed(app)
})

t.test('HTTP/1.1 upgrades keep working on the same allowHTTP1 server, alongside HTTP/2 WebSockets', async (t) => {
  const { app, port, origin } = await withApp(t, (app) => {
    app.get('/ws', { websocket: true }, (socket, request) => { socket.send(request.raw.httpVersion) })
  })
  const http1 = await connect(`wss://127.0.0.1:${port}/ws`, [], { rejectUnauthorized: false })
  t.equal(await nextMessage(http1), '1.1')
  const session = await h2connect(t, origin)
  const { ws } = await openH2WebSocket(session, '/ws')
  t.equal(await nextMessage(ws), '2.0')
  t.equal(app.websocketStats().open, 2)
  http1.close()
  ws.close()
  await allClosed(app)
})

t.test('extendedConnect: false neither advertises nor takes CONNECTs', async (t) => {
  const { origin, app } = await withApp(t, (app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { options: { extendedConnect: false } })
  t.equal(app.server.listenerCount('connect'), 0)
  const session = await h2connect(t, origin)
  t.equal(session.remoteSettings.enableConnectProtocol, false)
  const get = await h2get(session, '/ws')
  t.equal(get.status, 505)
  t.match(JSON.parse(get.body), { message: /connect with HTTP\/1\.1 and Upgrade: websocket/ })
})

t.test('the application\'s own \'connect\' listener keeps the CONNECTs that are no WebSocket', async (t) => {
  const { app, origin } = await withApp(t, (app) => {
    app.server.on('connect', (request: { headers: Record<string, string> }, response: { writeHead: (status: number) => { end: (body: string) => void } }) => {
      if (request.headers[':protocol'] !== 'websocket') response.writeHead(200).end(`tunnel to ${request.headers[':authority']}`)
    })
    app.get('/ws', { websocket: true }, (socket) => { socket.send('still a WebSocket') })
  })
  const session = await h2connect(t, origin)
  const tunnel = await h2request(session, { ':method': 'CONNECT', ':authority': 'example.com:443' })
  t.same([tunnel.status, tunnel.body], [200, 'tunnel to example.com:443'])
  const { ws } = await openH2WebSocket(session, '/ws')
  t.equal(await nextMessage(ws), 'still a WebSocket')
  ws.terminate()
  await allClosed(app)
  t.same(app.websocketStats().rejectedHandshakes, {}, 'nothing refused by the plugin')
})
