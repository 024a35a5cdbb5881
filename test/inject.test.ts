// injectWS: an in-memory client that takes the whole upgrade path without a port.
import t from 'tap'
import Fastify from 'fastify'
import type { WebSocket } from 'ws'
import fastifyUpgrade, { type InjectRejection } from '../lib/index.js'
import { closeEvent, nextMessage, track } from './helpers.js'

async function build () {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ error: 'unauthorized' })
  })
  app.get('/echo/:room', {
    websocket: true,
    schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } }
  }, (socket, request) => {
    socket.send(JSON.stringify({ params: request.params, query: request.query, protocol: socket.protocol }))
    socket.on('message', (data) => { socket.send(data.toString()) })
  })
  return app
}

const auth = { authorization: 'Bearer ok' }

t.test('injectWS connects without listening, with headers, query and protocols', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const client = await app.injectWS('/echo/lobby', { headers: auth, query: { n: '7' }, protocols: ['chat'], onInit: track })
  t.notOk(app.server.listening, 'no port was opened')
  t.same(JSON.parse(await nextMessage(client)), { params: { room: 'lobby' }, query: { n: 7 }, protocol: 'chat' })
  client.send('round trip')
  t.equal(await nextMessage(client), 'round trip')
  const stats = app.websocketStats()
  t.equal(stats.open, 1)
  t.ok(stats.bytesIn > 0 && stats.bytesOut > 0, 'the in-memory socket counts wire bytes too')
  client.close(1000, 'bye')
  t.equal((await closeEvent(client)).code, 1000)
})

t.test('injectWS rejects with the HTTP status and body when a hook refuses', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const error = await app.injectWS('/echo/lobby').then(() => undefined, (error: InjectRejection) => error)
  t.equal(error?.statusCode, 401)
  t.equal(error?.code, 'FST_UPGRADE_INJECT_REJECTED')
  t.same(JSON.parse(error?.body ?? ''), { error: 'unauthorized' })
  t.equal(error?.headers.connection, 'close')
})

t.test('injectWS rejects with 404 for an unknown path and 400 for an invalid query', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const status = async (promise: Promise<unknown>): Promise<number | undefined> =>
    await promise.then(() => undefined, (error: InjectRejection) => error.statusCode)
  t.equal(await status(app.injectWS('/missing', { headers: auth })), 404)
  t.equal(await status(app.injectWS('/echo/x', { headers: auth, query: { n: 'many' } })), 400)
})

t.test('injected connections are closed with 1001 by app.close()', async (t) => {
  const app = await build()
  const client: WebSocket = await app.injectWS('/echo/x', { headers: auth })
  const closed = closeEvent(client)
  await app.close()
  t.equal((await closed).code, 1001)
})

t.test('injectWS surfaces transport errors from the client', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  // A protocol the server cannot accept makes the ws client fail the handshake itself.
  await t.rejects(app.injectWS('/echo/x', { headers: auth, client: { maxPayload: -1, followRedirects: false }, protocols: ['a b'] }), /invalid|subprotocol/i)
})
