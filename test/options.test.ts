// Plugin options: what is passed to ws, what is refused, and the decorators.
import t from 'tap'
import Fastify from 'fastify'
import { WebSocketServer } from 'ws'
import fastifyUpgrade from '../lib/index.js'
import { closeEvent, connect, listen } from './helpers.js'

for (const key of ['server', 'port', 'path', 'noServer'] as const) {
  t.test(`the ws option "${key}" is refused with a clear error`, async (t) => {
    const app = Fastify()
    // Excluded from the option type too (types/index.test-d.ts); here the runtime check.
    app.register(fastifyUpgrade, { options: { [key]: key === 'port' ? 1 : true } as object })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION', message: new RegExp(`options\\.${key}.*noServer mode`) })
  })
}

t.test('errorHandler and closeTimeout are checked', async (t) => {
  const bad = [
    [{ errorHandler: 'nope' }, /"errorHandler": must be a function/],
    [{ closeTimeout: -1 }, /"closeTimeout": must be a non-negative/],
    [{ closeTimeout: Number.NaN }, /"closeTimeout"/]
  ] as const
  for (const [options, message] of bad) {
    const app = Fastify()
    // @ts-expect-error -- deliberately wrong types
    app.register(fastifyUpgrade, options)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION', message })
  }
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.throws(() => {
    // @ts-expect-error -- deliberately wrong type
    app.get('/ws', { websocket: { errorHandler: 42 } }, () => {})
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: /"websocket \(route \/ws\)\.errorHandler": must be a function/ })
  await app.close()
})

t.test('ws options are passed through: maxPayload closes oversized messages with 1009', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { options: { maxPayload: 10 } })
  t.teardown(() => app.close())
  t.ok(app.websocketServer instanceof WebSocketServer, 'websocketServer is the ws server')
  t.equal(app.websocketServer.options.noServer, true)
  t.equal(app.websocketServer.options.maxPayload, 10)
  const client = await connect(`${url}/ws`)
  client.send('more than ten bytes')
  t.equal((await closeEvent(client)).code, 1009)
})
