// Plugin options: what is passed to ws, what is refused, and the decorators.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { WebSocketServer } from 'ws'
import fastifyUpgrade, { type FastifyUpgradeOptions, type WebSocketRouteOptions } from '../lib/index.js'
import { captureLogs, closeEvent, connect, delay, listen, nextMessage, openConnections, within, type LogLine } from './helpers.js'

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

t.test('every option value is checked at registration, with a message naming the option', async (t) => {
  const bad: Array<[FastifyUpgradeOptions, string]> = [
    [{ options: { verifyClient: () => true } as object }, 'options.verifyClient'],
    [{ options: { WebSocket: class {} } as object }, 'options.WebSocket'],
    [{ idleTimeout: -1 }, '"idleTimeout": must be a non-negative number'],
    [{ heartbeat: { interval: 0 } }, '"heartbeat.interval": must be a positive number'],
    [{ backpressurePolicy: 'panic' as 'close' }, '"backpressurePolicy": must be one of \'close\', \'drop\''],
    [{ rateLimit: { rate: 0 } }, '"rateLimit.rate": must be a positive number'],
    [{ rateLimit: { rate: 1, policy: 'panic' as 'close' } }, '"rateLimit.policy": must be one of \'close\', \'drop\''],
    [{ onInvalidMessage: 'explode' as 'close' }, '"onInvalidMessage": must be \'close\', \'reply\', \'ignore\' or a function'],
    [{ extendedConnect: 'yes' as unknown as boolean }, '"extendedConnect": must be a boolean']
  ]
  for (const [options, message] of bad) {
    const app = Fastify()
    app.register(fastifyUpgrade, options)
    const error = await app.ready().then(() => undefined, (error: unknown) => error)
    t.match(error, { code: 'FST_UPGRADE_INVALID_OPTION' })
    t.ok((error as Error).message.includes(message), `${(error as Error).message} names ${message}`)
  }
  const app = Fastify()
  await app.register(fastifyUpgrade, { heartbeat: { interval: 1000 }, rateLimit: { rate: 10, burst: 20, policy: 'drop' } })
  t.throws(() => {
    app.get('/ws', { websocket: { protocols: [] } }, () => {})
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "websocket (route /ws).protocols": must be a non-empty list of subprotocol names' })
  t.throws(() => {
    app.get('/ws', { websocket: { heartbeat: { timeout: -5 }, rateLimit: false } }, () => {})
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "websocket (route /ws).heartbeat.timeout": must be a positive number' })
  await t.resolves(async () => { await app.ready() }, 'valid values pass')
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

t.test('an unknown plugin option name is a registration error naming the closest valid one', async (t) => {
  const cases: Array<[object, string]> = [
    [{ closeTimout: 1000 }, 'Invalid fastify-upgrade option "closeTimout": unknown option; did you mean closeTimeout?'],
    // letter case does not count as an edit
    [{ maxpayload: 10 }, 'Invalid fastify-upgrade option "maxpayload": unknown option; did you mean maxPayload?'],
    // two adjacent letters swapped are one edit
    [{ hearbteat: false }, 'Invalid fastify-upgrade option "hearbteat": unknown option; did you mean heartbeat?'],
    // nothing close enough: the valid names are listed instead
    [{ connectionOptions: {} }, 'Invalid fastify-upgrade option "connectionOptions": unknown option; the options are heartbeat, idleTimeout, maxBackpressure, backpressurePolicy, maxPayload, maxHeldBytes, maxConnections, rateLimit, options, errorHandler, closeTimeout, onInvalidMessage, validateSend, allowedOrigins, handshakeTimeout, refusalLinger, preClose, asyncapi, extendedConnect, pubsub, maxTopicsPerSocket, maxTopicLength'],
    // a route option given to the plugin: where it belongs
    [{ protocols: ['chat'] }, 'Invalid fastify-upgrade option "protocols": protocols is a per-route option: give it in the route\'s websocket: { ... }'],
    [{ perMessageDeflate: true }, 'Invalid fastify-upgrade option "perMessageDeflate": perMessageDeflate is a per-route option; plugin-wide, set ws\' own: options: { perMessageDeflate }']
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    app.register(fastifyUpgrade, options as FastifyUpgradeOptions)
    const error = await app.ready().then(() => undefined, (error: unknown) => error)
    t.match(error, { code: 'FST_UPGRADE_INVALID_OPTION' })
    t.equal((error as Error).message, message)
  }
})

t.test("Fastify's own register options are not mistaken for unknown ones", async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade, { prefix: '/x', logLevel: 'warn', logSerializers: {}, closeTimeout: 100 })
  await t.resolves(async () => { await app.ready() })
  await app.close()
})

t.test('an unknown websocket route option name is a registration error naming the route and the closest valid one', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.teardown(() => app.close())
  const cases: Array<[object, string]> = [
    [{ idleTimout: 1000 }, 'Invalid fastify-upgrade option "websocket (route /ws).idleTimout": unknown option; did you mean idleTimeout?'],
    [{ protocol: ['chat'] }, 'Invalid fastify-upgrade option "websocket (route /ws).protocol": unknown option; did you mean protocols?'],
    [{ onInvalidMesage: 'reply' }, 'Invalid fastify-upgrade option "websocket (route /ws).onInvalidMesage": unknown option; did you mean onInvalidMessage?'],
    [{ x: 1 }, 'Invalid fastify-upgrade option "websocket (route /ws).x": unknown option; the options are heartbeat, idleTimeout, maxBackpressure, backpressurePolicy, maxPayload, maxHeldBytes, maxConnections, rateLimit, errorHandler, onInvalidMessage, validateSend, protocols, selectProtocol, requireProtocol, perMessageDeflate, allowedOrigins'],
    // a plugin-wide option given to a route: where it belongs
    [{ closeTimeout: 1000 }, 'Invalid fastify-upgrade option "websocket (route /ws).closeTimeout": closeTimeout is a plugin-wide option: give it to app.register(fastifyUpgrade, { ... })'],
    [{ handshakeTimeout: 1000 }, 'Invalid fastify-upgrade option "websocket (route /ws).handshakeTimeout": handshakeTimeout is a plugin-wide option: give it to app.register(fastifyUpgrade, { ... })'],
    [{ refusalLinger: 1000 }, 'Invalid fastify-upgrade option "websocket (route /ws).refusalLinger": refusalLinger is a plugin-wide option: give it to app.register(fastifyUpgrade, { ... })']
  ]
  for (const [websocket, message] of cases) {
    t.throws(() => {
      app.get('/ws', { websocket: websocket as WebSocketRouteOptions }, () => {})
    }, { code: 'FST_UPGRADE_INVALID_OPTION', message })
  }
  // Every valid name passes.
  app.get('/ws', {
    websocket: {
      heartbeat: false,
      idleTimeout: 0,
      maxBackpressure: 1024,
      backpressurePolicy: 'drop',
      maxPayload: 1024,
      maxHeldBytes: 1024,
      maxConnections: 1,
      rateLimit: false,
      errorHandler: () => {},
      onInvalidMessage: 'ignore',
      validateSend: false,
      protocols: ['chat'],
      selectProtocol: () => undefined,
      requireProtocol: false,
      perMessageDeflate: false,
      allowedOrigins: ['https://example.com']
    }
  }, () => {})
  await t.resolves(async () => { await app.ready() })
})

t.test('preClose must be a function', async (t) => {
  const app = Fastify()
  // @ts-expect-error -- deliberately wrong type
  app.register(fastifyUpgrade, { preClose: 'goodbye' })
  await t.rejects(async () => { await app.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "preClose": must be a function' })
})

/** An app whose /ws route holds its connections open, with `preClose` and the logs captured. */
async function closingApp (preClose: FastifyUpgradeOptions['preClose'], closeTimeout = 2000): Promise<{ app: FastifyInstance, url: string, lines: LogLine[] }> {
  const { lines, logger } = captureLogs('warn')
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => { socket.send('hello') })
  }, { preClose, closeTimeout }, { logger })
  return { app, url, lines }
}

t.test('preClose runs before the built-in shutdown: the client gets its goodbye, then 1001', async (t) => {
  let self: unknown
  const { app, url } = await closingApp(async function () {
    self = this
    for (const client of this.websocketServer.clients) client.send('goodbye')
    await delay(20)
  })
  const clients = await Promise.all([connect(`${url}/ws`), connect(`${url}/ws`)])
  for (const client of clients) t.equal(await nextMessage(client), 'hello')
  t.equal(app.websocketStats().open, 2, 'both connections are open when close() starts')
  const closes = clients.map(async (client) => await closeEvent(client))
  await app.close()
  t.equal(self, app, 'this is the Fastify instance')
  for (const [i, client] of clients.entries()) {
    t.equal(await nextMessage(client), 'goodbye', `client ${i} got the goodbye`)
    t.same(await closes[i], { code: 1001, reason: 'server shutting down' }, `then 1001 (client ${i})`)
  }
})

t.test('preClose may be synchronous', async (t) => {
  const { app, url } = await closingApp(function () {
    for (const client of this.websocketServer.clients) client.send('goodbye')
  })
  const client = await connect(`${url}/ws`)
  t.equal(await nextMessage(client), 'hello')
  const closed = closeEvent(client)
  await app.close()
  t.equal(await nextMessage(client), 'goodbye')
  t.equal((await closed).code, 1001)
})

t.test('preClose may call done instead, as a callback-style Fastify hook', async (t) => {
  const { app, url } = await closingApp(function (done) {
    for (const client of this.websocketServer.clients) client.send('goodbye', () => { done() })
  })
  const client = await connect(`${url}/ws`)
  t.equal(await nextMessage(client), 'hello')
  const closed = closeEvent(client)
  await app.close()
  t.equal(await nextMessage(client), 'goodbye')
  t.equal((await closed).code, 1001)
})

for (const [how, preClose] of [
  ['throws', () => { throw new Error('preClose broke') }],
  ['rejects', async () => { throw new Error('preClose broke') }],
  ['calls done with an error', (done: (error?: Error) => void) => { done(new Error('preClose broke')) }]
] as const) {
  t.test(`a preClose that ${how} is logged, and the connections still close with 1001`, async (t) => {
    const { app, url, lines } = await closingApp(preClose)
    const client = await connect(`${url}/ws`)
    t.equal(await nextMessage(client), 'hello')
    const closed = closeEvent(client)
    await app.close()
    t.equal((await closed).code, 1001)
    t.match(lines, [{ level: 50, msg: 'fastify-upgrade preClose failed', err: { message: 'preClose broke' } }])
  })
}

t.test('a preClose that never finishes cannot hold app.close() past closeTimeout', async (t) => {
  const { app, url, lines } = await closingApp(async () => { await new Promise(() => {}) }, 300)
  const client = await connect(`${url}/ws`)
  t.equal(await nextMessage(client), 'hello')
  const closed = closeEvent(client)
  const started = performance.now()
  await within(app.close(), 2000, 'app.close()')
  const took = performance.now() - started
  t.ok(took >= 290 && took < 1000, `close() took ${Math.round(took)} ms, closeTimeout is 300`)
  t.match((await closed).code, /^100[16]$/, 'the connection is closed (1001 sent as the socket is terminated)')
  t.match(lines, [{ level: 40, msg: 'fastify-upgrade preClose did not finish within closeTimeout: shutting down anyway', closeTimeout: 300 }])
  t.equal(await openConnections(app), 0, 'no socket left')
})
