// injectWS: an in-memory client that takes the whole upgrade path without a port.
import t from 'tap'
import Fastify from 'fastify'
import type { WebSocket } from 'ws'
import fastifyUpgrade, { type InjectRejection } from '../lib/index.js'
import { closeEvent, nextMessage, runFixture, track } from './helpers.js'

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

t.test('an open injected connection keeps the process alive: an idle-timeout close arrives', async (t) => {
  const { code, output } = await runFixture('inject-idle.ts')
  t.equal(code, 0, output)
  const line = output.trim().split('\n').at(-1) ?? ''
  t.match(line, /^\{/, `the child printed the close before exiting: ${output}`)
  const result = JSON.parse(line.startsWith('{') ? line : '{}') as { code?: number, reason?: string, afterMs?: number }
  t.same({ code: result.code, reason: result.reason }, { code: 1000, reason: 'idle timeout' })
})

t.test('a handler that closes at once: the awaited client still sees the close, code and reason', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.get('/bye', { websocket: true }, (socket) => {
    socket.send('last words')
    socket.close(4001, 'bye')
  })
  t.teardown(() => app.close())
  const client = await app.injectWS('/bye')
  const received: string[] = []
  client.on('message', (data) => { received.push(data.toString()) })
  t.same(await closeEvent(client), { code: 4001, reason: 'bye' })
  t.same(received, ['last words'], 'and what came before it')
})

t.test("@fastify/websocket's third argument: { onInit, onOpen }", async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.get('/hello', { websocket: true }, (socket) => { socket.send('hello') })
  t.teardown(() => app.close())
  const calls: string[] = []
  let opened: WebSocket | undefined
  const client = await app.injectWS('/hello', {}, {
    onInit: (ws) => { calls.push(`init:${ws.readyState}`); track(ws) },
    onOpen: (ws) => { calls.push(`open:${ws.readyState}`); opened = ws }
  })
  t.same(calls, ['init:0', 'open:1'])
  t.equal(opened, client, 'onOpen gets the client that injectWS resolves with')
  t.equal(await nextMessage(client), 'hello')
  client.close()
})

t.test('a handler that terminates at once: the client opens, then sees 1006', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.get('/gone', { websocket: true }, (socket) => { socket.terminate() })
  t.teardown(() => app.close())
  const client = await app.injectWS('/gone')
  t.same(await closeEvent(client), { code: 1006, reason: '' })
})

t.test('a client terminated right after injectWS resolves: what the server sends meanwhile is dropped, nothing throws', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  let closed: (code: number) => void = () => {}
  const serverClosed = new Promise<number>((resolve) => { closed = resolve })
  app.get('/chatty', { websocket: true }, (socket) => {
    socket.on('close', (code) => { closed(code) })
    socket.send('greeting')
    setImmediate(() => { socket.send('later') })
  })
  t.teardown(() => app.close())
  const client = await app.injectWS('/chatty')
  let received = 0
  client.on('message', () => { received++ })
  client.terminate()
  t.equal(await serverClosed, 1006, 'the server saw the connection end')
  t.equal(received, 0, 'the client, gone, received nothing')
})
