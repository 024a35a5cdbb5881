// The seed semantics over raw TCP: when a 101 is sent, when the Upgrade header is
// ignored, when 426 is required, and how broken handshakes are answered.
import t from 'tap'
import { connect, handshake, listen, nextMessage, rawExchange, openConnections, waitFor } from './helpers.js'

async function seedServer () {
  return await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => {
      socket.on('message', (data) => { socket.send(data.toString()) })
    })
    app.get('/plain', async () => ({ hello: 'world' }))
    app.post('/plain', async (request) => ({ received: request.body }))
  })
}

t.test('a websocket route echoes over a real connection', async (t) => {
  const { app, url } = await seedServer()
  t.teardown(() => app.close())
  const client = await connect(`${url}/ws`)
  client.send('hello')
  t.equal(await nextMessage(client), 'hello')
  client.close()
})

t.test('101 Switching Protocols with Upgrade, Connection and Sec-WebSocket-Accept', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const response = await rawExchange(port, handshake('/ws'), 2000, 'head')
  t.equal(response.statusLine, 'HTTP/1.1 101 Switching Protocols')
  t.equal(response.headers.upgrade, 'websocket')
  t.match(response.headers.connection, /upgrade/i)
  // RFC 6455 section 1.3's worked example.
  t.equal(response.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
})

t.test('Connection and Upgrade are token lists: case, versions, other elements', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const variants: Array<Record<string, string>> = [
    { Connection: 'keep-alive, Upgrade' },
    { Connection: 'UPGRADE' },
    { Upgrade: 'WebSocket' },
    { Upgrade: 'foo/2, websocket/13' },
    { Upgrade: 'websocket, h2c' }
  ]
  for (const overrides of variants) {
    const response = await rawExchange(port, handshake('/ws', overrides), 2000, 'head')
    t.equal(response.status, 101, JSON.stringify(overrides))
  }
})

t.test('an upgrade request to a route without WebSocket is served as plain HTTP, then closed', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const response = await rawExchange(port, handshake('/plain'))
  t.equal(response.statusLine, 'HTTP/1.1 200 OK')
  t.equal(response.headers.connection, 'close')
  t.notOk(response.text.includes('101'), 'no 101 is ever sent')
  t.same(JSON.parse(response.body), { hello: 'world' })
  t.ok(response.closedByServer, 'the server closed the connection')
})

t.test('an upgrade request with a body is served by the normal route with its body', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  // `close`: on Node with shouldUpgradeCallback, Node serves this itself and would keep the connection.
  const request = 'POST /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n' +
    'Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a":"bcd"}'
  const response = await rawExchange(port, request)
  t.equal(response.status, 200)
  t.same(JSON.parse(response.body), { received: { a: 'bcd' } })
  t.ok(response.closedByServer)
})

t.test('a GET upgrade with Content-Length: 0 upgrades; one with a body is served as plain HTTP', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const empty = await rawExchange(port, handshake('/ws', { 'Content-Length': '0' }), 2000, 'head')
  t.equal(empty.status, 101)
  const withBody = await rawExchange(port, `${handshake('/ws', { 'Content-Length': '4', Connection: 'Upgrade, close' })}abcd`)
  t.equal(withBody.status, 426, 'a WebSocket handshake has no body, so this is no handshake')
  t.equal(withBody.headers.connection, 'Upgrade, close')
  t.ok(withBody.closedByServer)
})

t.test('an unknown path answers 404 on the upgrade socket and closes it', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const response = await rawExchange(port, handshake('/nowhere'))
  t.equal(response.statusLine, 'HTTP/1.1 404 Not Found')
  t.equal(JSON.parse(response.body).statusCode, 404)
  t.ok(response.closedByServer)
})

t.test('a plain request to a WebSocket-only route gets 426 with Upgrade and Connection', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const keepAlive = await rawExchange(port, 'GET /ws HTTP/1.1\r\nHost: x\r\n\r\n', 2000, 'response')
  t.equal(keepAlive.statusLine, 'HTTP/1.1 426 Upgrade Required')
  t.equal(keepAlive.headers.upgrade, 'websocket')
  t.equal(keepAlive.headers.connection, 'Upgrade')
  t.same(JSON.parse(keepAlive.body), {
    statusCode: 426,
    code: 'FST_UPGRADE_REQUIRED',
    error: 'Upgrade Required',
    message: 'This route requires a protocol upgrade to websocket'
  })
  const closing = await rawExchange(port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(closing.status, 426)
  t.equal(closing.headers.connection, 'Upgrade, close', 'the client asked to close: keep "close"')
  t.ok(closing.closedByServer)
})

t.test('an Upgrade that does not offer websocket, or only Upgrade without Connection, gets 426', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const h2c = await rawExchange(port, handshake('/ws', { Upgrade: 'h2c' }))
  t.equal(h2c.status, 426)
  t.ok(h2c.closedByServer)
  const noConnection = await rawExchange(port, handshake('/ws', { Connection: 'keep-alive' }), 2000, 'response')
  t.equal(noConnection.status, 426)
})

t.test('HTTP/1.0 upgrade requests are ignored (RFC 9110 section 7.8)', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const response = await rawExchange(port, handshake('/ws', {}, 'GET /ws HTTP/1.0'))
  t.equal(response.status, 426)
  t.ok(response.closedByServer)
})

t.test('broken WebSocket handshakes get a clear 4xx and a closed socket', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const cases: Array<[string, Record<string, string | null>, number, string]> = [
    ['missing key', { 'Sec-WebSocket-Key': null }, 400, 'missing Sec-WebSocket-Key'],
    ['short key', { 'Sec-WebSocket-Key': 'abc' }, 400, 'malformed Sec-WebSocket-Key'],
    ['non-base64 key', { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' }, 400, 'malformed Sec-WebSocket-Key'],
    ['missing version', { 'Sec-WebSocket-Version': null }, 400, 'missing Sec-WebSocket-Version'],
    ['version 8', { 'Sec-WebSocket-Version': '8' }, 426, 'Unsupported Sec-WebSocket-Version "8"'],
    ['version 14', { 'Sec-WebSocket-Version': '14' }, 426, 'Unsupported Sec-WebSocket-Version "14"']
  ]
  for (const [name, overrides, status, message] of cases) {
    const response = await rawExchange(port, handshake('/ws', overrides))
    t.equal(response.status, status, name)
    t.ok(response.closedByServer, `${name}: socket closed`)
    t.match(JSON.parse(response.body).message, message, name)
    if (status === 426) t.equal(response.headers['sec-websocket-version'], '13', `${name}: names version 13`)
  }
  await waitFor(async () => await openConnections(app) === 0, 2000, 'every refused socket to close')
  t.pass('no socket is left open')
})

t.test('HEAD on a WebSocket route is answered like GET without a body', async (t) => {
  const { app, port } = await seedServer()
  t.teardown(() => app.close())
  const response = await rawExchange(port, 'HEAD /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(response.status, 426)
  t.equal(response.body, '')
})
