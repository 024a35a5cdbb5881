// Routes declared before the plugin finished loading: Fastify runs a plugin's onRoute
// hook only for routes declared after it, so such a route's `websocket` option is never
// seen. The first upgrade request to it must name the mistake and the fix, not fail with
// "socket.send is not a function".
import t from 'tap'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import { captureLogs, connect, handshake, nextMessage, rawExchange } from './helpers.js'

async function listening (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

for (const order of ['declared before await app.register', 'app.register not awaited'] as const) {
  t.test(`a websocket route ${order}: the upgrade gets a 500 that names the fix`, async (t) => {
    const logs = captureLogs()
    const app = Fastify({ logger: logs.logger })
    t.teardown(() => app.close())
    if (order === 'declared before await app.register') {
      app.get('/early', { websocket: true }, (socket) => { socket.send('never') })
      await app.register(fastifyUpgrade)
    } else {
      void app.register(fastifyUpgrade)
      app.get('/early', { websocket: true }, (socket) => { socket.send('never') })
    }
    await app.after() // the plugin has loaded: routes declared from here on are seen
    app.get('/plain', async () => 'plain')
    const port = await listening(app)
    const response = await rawExchange(port, handshake('/early'))
    t.equal(response.status, 500)
    const body = JSON.parse(response.body) as { code: string, message: string }
    t.equal(body.code, 'FST_UPGRADE_ROUTE_BEFORE_PLUGIN')
    t.match(body.message, 'Route GET /early was declared before fastify-upgrade finished loading')
    t.match(body.message, 'await app.register(fastifyUpgrade) before declaring it')
    t.ok(logs.lines.some((line) => line.level === 50 && line.msg === 'upgrade request to a route declared before fastify-upgrade loaded' && line.route === '/early'), 'logged at error level with the route')
    t.same(app.websocketStats().rejectedHandshakes, { FST_UPGRADE_ROUTE_BEFORE_PLUGIN: 1 })
    // Routes declared after the plugin are unaffected, and 404s stay 404s.
    t.equal((await rawExchange(port, handshake('/plain'))).status, 200)
    t.equal((await rawExchange(port, handshake('/nowhere'))).status, 404)
  })
}

t.test('a plain route declared before the plugin keeps serving plain requests; a websocket route after it works', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/health', async () => 'ok')
  await app.register(fastifyUpgrade)
  app.get('/ws', { websocket: true }, (socket) => { socket.send('hello') })
  const port = await listening(app)
  const health = await app.inject('/health')
  t.equal(health.body, 'ok')
  const client = await connect(`ws://127.0.0.1:${port}/ws`)
  t.equal(await nextMessage(client), 'hello')
  client.close()
})
