// app.close(): new upgrades refused, 1001 to every open connection, closing handshakes
// awaited up to closeTimeout, stragglers terminated, and nothing left keeping the process alive.
import t from 'tap'
import net from 'node:net'
import { captureLogs, closeEvent, connect, handshake, listen, nextMessage, openConnections, parseResponse, runFixture, waitFor, within } from './helpers.js'

t.test('app.close() sends 1001 Going Away to every open connection and resolves', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  })
  const clients = await Promise.all(Array.from({ length: 50 }, async () => await connect(`${url}/ws`)))
  const closes = clients.map(async (client) => await closeEvent(client))
  await within(app.close(), 5000, 'app.close()')
  const results = await Promise.all(closes)
  t.ok(results.every((result) => result.code === 1001 && result.reason === 'server shutting down'), 'all 50 saw 1001')
  t.notOk(app.server.listening, 'the server stopped listening')
})

/** A client that completes the handshake and then never answers anything. */
async function deafClient (port: number, path: string): Promise<{ socket: net.Socket, received: () => Buffer, ended: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (chunk) => chunks.push(chunk))
  const ended = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  socket.write(handshake(path))
  await within(new Promise<void>((resolve) => {
    socket.on('data', () => { if (Buffer.concat(chunks).includes('\r\n\r\n')) resolve() })
  }), 2000, '101')
  return { socket, received: () => Buffer.concat(chunks), ended }
}

t.test('a peer that never completes the closing handshake is terminated after closeTimeout', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { closeTimeout: 200 })
  const deaf = await deafClient(port, '/ws')
  await within(app.close(), 3000, 'app.close()')
  await within(deaf.ended, 1000, 'the deaf socket to be closed')
  const received = deaf.received()
  const frame = received.subarray(received.indexOf('\r\n\r\n') + 4)
  // A close frame (0x88) carrying 1001 (0x03e9) was sent before the socket was cut.
  t.equal(frame[0], 0x88)
  t.equal(frame.readUInt16BE(2), 1001)
})

t.test('a request still in its hooks at close is answered 503 when it reaches the route', async (t) => {
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let entered: () => void = () => {}
  const inHook = new Promise<void>((resolve) => { entered = resolve })
  let closeBegan: () => void = () => {}
  const closing = new Promise<void>((resolve) => { closeBegan = resolve })
  const { app, port } = await listen((app) => {
    app.addHook('preHandler', async () => { entered(); await held })
    app.get('/ws', { websocket: true }, () => {})
  }, { closeTimeout: 1000, preClose: async () => { closeBegan() } })
  const socket = net.connect(port, '127.0.0.1', () => { socket.write(handshake('/ws')) })
  const chunks: Buffer[] = []
  socket.on('data', (chunk) => chunks.push(chunk))
  const ended = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
  await inHook
  const closed = app.close()
  await within(closing, 1000, 'the shutdown to begin') // preClose runs once the plugin refuses new upgrades
  release()
  await within(closed, 3000, 'app.close()')
  await within(ended, 1000, 'socket close')
  const response = parseResponse(Buffer.concat(chunks).toString('latin1'))
  t.equal(response.status, 503)
  t.equal(JSON.parse(response.body).code, 'FST_UPGRADE_CLOSING')
  t.equal(response.headers['retry-after'], '5')
  t.same(app.websocketStats().rejectedHandshakes, { FST_UPGRADE_CLOSING: 1 }, 'counted once, by its code (not as status 503)')
})

t.test('a request stuck in a hook past closeTimeout is cut, and close() still resolves', async (t) => {
  let entered: () => void = () => {}
  const inHook = new Promise<void>((resolve) => { entered = resolve })
  const { app, port } = await listen((app) => {
    app.addHook('onRequest', async () => { entered(); await new Promise(() => {}) })
    app.get('/ws', { websocket: true }, () => {})
  }, { closeTimeout: 100 })
  const socket = net.connect(port, '127.0.0.1', () => { socket.write(handshake('/ws')) })
  const ended = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
  await within(inHook, 2000, 'the request to be in its hook')
  await within(app.close(), 3000, 'app.close()')
  await within(ended, 1000, 'the stuck socket to be destroyed')
  t.pass('closed')
})

t.test('nothing keeps the process alive after app.close()', async (t) => {
  const { code, output } = await runFixture('close-and-exit.ts')
  t.equal(code, 0, output)
  t.match(output, /closed with 1001/)
})

t.test('a client that resets the connection mid-handshake leaves no socket and no crash', async (t) => {
  let entered: () => void = () => {}
  const inHook = new Promise<void>((resolve) => { entered = resolve })
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let left: () => void = () => {}
  const hookDone = new Promise<void>((resolve) => { left = resolve })
  let calls = 0
  const { app, port, url } = await listen((app) => {
    // The first request waits in its hook until its client is gone; later ones pass.
    app.addHook('onRequest', async () => {
      if (calls++ > 0) return
      entered()
      await held
      left()
    })
    app.get('/ws', { websocket: true }, (socket) => { socket.send('hello') })
  })
  t.teardown(() => app.close())
  t.teardown(release)
  const socket = net.connect(port, '127.0.0.1', () => { socket.write(handshake('/ws')) })
  await within(inHook, 2000, 'the request to be in its hook')
  socket.resetAndDestroy()
  await waitFor(async () => await openConnections(app) === 0, 2000, 'the reset socket to be gone')
  // Only now does the request go on, to its route, on a socket that no longer exists.
  release()
  await within(hookDone, 1000, 'the hook to finish')
  const client = await connect(`${url}/ws`)
  t.equal(await nextMessage(client), 'hello', 'the server still serves upgrades')
  t.same(app.websocketStats().rejectedHandshakes, {}, 'the vanished request was neither answered nor counted')
  client.close()
})

t.test('an upgrade pipelined behind a request whose connection dies as that response is written is dropped quietly', async (t) => {
  const logs = captureLogs()
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let entered: () => void = () => {}
  const inHandler = new Promise<void>((resolve) => { entered = resolve })
  let died: () => void = () => {}
  const dead = new Promise<void>((resolve) => { died = resolve })
  const { app, port, url } = await listen((app) => {
    app.get('/slow', async (request, reply) => {
      // The connection dies the moment the response is written, before the queued upgrade
      // is dispatched (this listener runs before the plugin's, added at the 'upgrade' event).
      const socket = request.raw.socket
      reply.raw.once('finish', () => { socket.destroy(); died() })
      entered()
      await held
      return 'slow'
    })
    app.get('/ws', { websocket: true }, (socket) => { socket.send('hello') })
  }, {}, { logger: logs.logger })
  t.teardown(() => app.close())
  t.teardown(release)
  const upgraded = new Promise<void>((resolve) => app.server.once('upgrade', () => { resolve() }))
  const client = net.connect(port, '127.0.0.1', () => { client.write(`GET /slow HTTP/1.1\r\nHost: x\r\n\r\n${handshake('/ws')}`) })
  client.on('error', () => {})
  const received: Buffer[] = []
  client.on('data', (chunk: Buffer) => received.push(chunk))
  const closed = new Promise<void>((resolve) => client.once('close', () => { resolve() }))
  // Both requests are parsed: the upgrade waits for the response in progress.
  await within(Promise.all([inHandler, upgraded]), 2000, 'the request in its handler and the upgrade queued')
  release()
  await within(dead, 2000, 'the response to be written')
  await within(closed, 2000, 'the client to see the connection close')
  await waitFor(async () => await openConnections(app) === 0, 2000, 'the server to hold no socket')
  t.notMatch(Buffer.concat(received).toString('latin1'), /HTTP\/1\.1 (101|5\d\d)/, 'no 101, no error answer')
  t.same(app.websocketStats().rejectedHandshakes, {}, 'the upgrade is not counted as refused')
  t.same(logs.lines.filter((line) => line.level >= 50), [], 'nothing logged as an error')
  const ws = await connect(`${url}/ws`)
  t.equal(await nextMessage(ws), 'hello', 'the server still serves upgrades')
  ws.close()
})
