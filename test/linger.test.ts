// After an HTTP answer on the upgrade path the server half-closes and waits for the
// client to hang up; a client that never does is cut after 5 seconds.
import t from 'tap'
import net from 'node:net'
import { delay, handshake, listen, openConnections, parseResponse, within } from './helpers.js'

t.test('a client that never hangs up after a refused upgrade is disconnected after 5 s', async (t) => {
  const { app, port } = await listen((app) => {
    app.addHook('onRequest', async (_request, reply) => { await reply.code(401).send({ error: 'no' }) })
    app.get('/ws', { websocket: true }, () => {})
  })
  t.teardown(() => app.close())
  // allowHalfOpen: the client keeps its side open after the server's FIN, like a stubborn peer.
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => { socket.write(handshake('/ws')) })
  t.teardown(() => socket.destroy())
  const chunks: Buffer[] = []
  socket.on('data', (chunk) => chunks.push(chunk))
  const ended = new Promise<void>((resolve) => socket.once('end', () => { resolve() }))
  await within(ended, 2000, 'the server to half-close')
  t.equal(parseResponse(Buffer.concat(chunks).toString('latin1')).status, 401)
  t.equal(await openConnections(app), 1, 'the server still waits for the client')
  await within((async () => {
    while (await openConnections(app) > 0) await delay(100)
  })(), 8000, 'the server to drop the half-open socket')
  t.pass('the server dropped the socket')
})
