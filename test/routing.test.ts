// Upgrade requests go through Fastify itself: hooks, schemas, params, prefixes and
// encapsulation all apply before the handshake, and their replies are real HTTP.
import t from 'tap'
import fp from 'fastify-plugin'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fastifyUpgrade, { upgradeRequired } from '../lib/index.js'
import { connect, handshake, listen, nextMessage, rawExchange, closeEvent, within } from './helpers.js'

function denyUnlessToken (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if ((request.query as { token?: string }).token !== 'ok') {
    reply.code(401).send({ error: 'no token' })
    return
  }
  done()
}

const hookStyles: Array<[string, (app: FastifyInstance, hook: 'onRequest' | 'preParsing' | 'preValidation' | 'preHandler') => void]> = [
  ['callback', (app, hook) => {
    app.addHook(hook, (request: FastifyRequest, reply: FastifyReply, ...rest: unknown[]) => {
      const done = rest[rest.length - 1] as () => void
      denyUnlessToken(request, reply, done)
    })
  }],
  ['async', (app, hook) => {
    app.addHook(hook, async (request: FastifyRequest, reply: FastifyReply) => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      if ((request.query as { token?: string }).token !== 'ok') return await reply.code(401).send({ error: 'no token' })
    })
  }],
  ['sync reply, then done', (app, hook) => {
    app.addHook(hook, (request: FastifyRequest, reply: FastifyReply, ...rest: unknown[]) => {
      const done = rest[rest.length - 1] as () => void
      if ((request.query as { token?: string }).token !== 'ok') reply.code(401).send({ error: 'no token' })
      else done()
    })
  }]
]

for (const hook of ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const) {
  for (const [style, add] of hookStyles) {
    t.test(`a ${style} ${hook} hook can refuse the upgrade with a real 401`, async (t) => {
      const { app, port, url } = await listen((app) => {
        add(app, hook)
        app.get('/ws', { websocket: true }, (socket) => { socket.send('welcome') })
      })
      t.teardown(() => app.close())
      const refused = await rawExchange(port, handshake('/ws'))
      t.equal(refused.statusLine, 'HTTP/1.1 401 Unauthorized')
      t.same(JSON.parse(refused.body), { error: 'no token' })
      t.equal(refused.headers.connection, 'close')
      t.ok(refused.closedByServer, 'socket closed after the reply')
      await t.rejects(connect(`${url}/ws`), /unexpected response 401/, 'the ws client sees the 401')

      const client = await connect(`${url}/ws?token=ok`)
      t.equal(await nextMessage(client), 'welcome', 'with the token the hook lets it through')
      client.close()
    })
  }
}

t.test('querystring, headers and params schemas validate the upgrade request (400)', async (t) => {
  const { app, port, url } = await listen((app) => {
    app.get('/rooms/:room', {
      websocket: true,
      schema: {
        params: { type: 'object', properties: { room: { type: 'string', pattern: '^[a-z]+$' } }, required: ['room'] },
        querystring: { type: 'object', properties: { limit: { type: 'integer', maximum: 10 } } },
        headers: { type: 'object', properties: { 'x-client': { type: 'string', enum: ['good'] } }, required: ['x-client'] }
      }
    }, (socket, request) => {
      socket.send(JSON.stringify({ params: request.params, query: request.query }))
    })
  })
  t.teardown(() => app.close())

  const badParam = await rawExchange(port, handshake('/rooms/UPPER', { 'X-Client': 'good' }))
  t.equal(badParam.status, 400)
  t.match(JSON.parse(badParam.body), { code: 'FST_ERR_VALIDATION', message: /params\/room/ })
  const badQuery = await rawExchange(port, handshake('/rooms/abc?limit=99', { 'X-Client': 'good' }))
  t.equal(badQuery.status, 400)
  t.match(JSON.parse(badQuery.body).message, /querystring\/limit/)
  const badHeader = await rawExchange(port, handshake('/rooms/abc'))
  t.equal(badHeader.status, 400)
  t.match(JSON.parse(badHeader.body).message, /headers/)
  t.ok(badHeader.closedByServer)

  const client = await connect(`${url}/rooms/abc?limit=3`, [], { headers: { 'x-client': 'good' } })
  t.same(JSON.parse(await nextMessage(client)), { params: { room: 'abc' }, query: { limit: 3 } }, 'coerced, validated values reach the handler')
  client.close()
})

t.test('routes under a prefix and in encapsulated plugins: their hooks and decorators apply', async (t) => {
  const { app, url, port } = await listen(async (app) => {
    app.get('/open', { websocket: true }, (socket) => { socket.send('open') })
    await app.register(async (child) => {
      child.decorate('roomName', 'secret room')
      child.addHook('onRequest', async (request, reply) => {
        if (request.headers.authorization !== 'Bearer yes') await reply.code(403).send({ error: 'forbidden' })
      })
      child.get('/room', { websocket: true }, function (socket) {
        // `this` is the route's encapsulated instance, so the child's decorator is there.
        socket.send((this as FastifyInstance & { roomName: string }).roomName)
      })
    }, { prefix: '/private' })
  })
  t.teardown(() => app.close())

  const refused = await rawExchange(port, handshake('/private/room'))
  t.equal(refused.status, 403, 'the child plugin hook refuses')
  const client = await connect(`${url}/private/room`, [], { headers: { authorization: 'Bearer yes' } })
  t.equal(await nextMessage(client), 'secret room')
  client.close()
  const outside = await connect(`${url}/open`)
  t.equal(await nextMessage(outside), 'open', 'the child hook does not apply outside the child')
  outside.close()
})

t.test('app.route({ websocket: true }) works exactly like the shorthand', async (t) => {
  const { app, url, port } = await listen((app) => {
    app.route({
      method: 'GET',
      url: '/full/:id',
      websocket: true,
      handler: (socket, request) => { socket.send(`id=${(request.params as { id: string }).id}`) }
    })
    app.get('/options-form', {
      websocket: true,
      handler: (socket) => { socket.send('options-form') }
    })
  })
  t.teardown(() => app.close())
  const full = await connect(`${url}/full/42`)
  t.equal(await nextMessage(full), 'id=42')
  full.close()
  const form = await connect(`${url}/options-form`)
  t.equal(await nextMessage(form), 'options-form')
  form.close()
  const plain = await rawExchange(port, 'GET /full/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(plain.status, 426)
})

t.test('wsHandler makes a dual route: HTTP and WebSocket on one path', async (t) => {
  const { app, url, port } = await listen((app) => {
    app.get('/dual', {
      wsHandler: (socket) => { socket.send('websocket side') }
    }, async () => ({ side: 'http' }))
    app.route({
      method: 'GET',
      url: '/dual-route',
      websocket: true,
      handler: async () => ({ side: 'http via route()' }),
      wsHandler: (socket) => { socket.send('websocket via route()') }
    })
  })
  t.teardown(() => app.close())
  for (const [path, http, ws] of [['/dual', 'http', 'websocket side'], ['/dual-route', 'http via route()', 'websocket via route()']]) {
    const plain = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    t.equal(plain.status, 200)
    t.same(JSON.parse(plain.body), { side: http })
    const client = await connect(`${url}${path}`)
    t.equal(await nextMessage(client), ws)
    client.close()
  }
})

t.test('websocket on a non-GET route is a registration error with a code', async (t) => {
  const { app } = await listen(() => {})
  t.teardown(() => app.close())
  const fresh = (await import('fastify')).default()
  await fresh.register((await import('../lib/index.js')).default)
  t.throws(() => {
    fresh.route({ method: 'POST', url: '/nope', websocket: true, handler: () => {} })
  }, { code: 'FST_UPGRADE_INVALID_METHOD', message: /must use GET, not POST/ })
  t.throws(() => {
    fresh.route({ method: ['GET', 'PUT'], url: '/nope2', wsHandler: () => {}, handler: () => {} })
  }, { code: 'FST_UPGRADE_INVALID_METHOD' })
  t.throws(() => {
    // @ts-expect-error -- checked at runtime too
    fresh.get('/bad-option', { websocket: 'yes' }, () => {})
  }, { code: 'FST_UPGRADE_INVALID_OPTION' })
  await fresh.close()
})

t.test('websocket: false leaves a route alone', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/normal', { websocket: false }, async () => 'normal')
  })
  t.teardown(() => app.close())
  const response = await rawExchange(port, handshake('/normal'))
  t.equal(response.status, 200)
  t.equal(response.body, 'normal')
})

t.test('a plugin registered with fastify-plugin shares the websocket routes', async (t) => {
  const { app, url } = await listen(async (app) => {
    await app.register(fp(async (instance) => {
      instance.get('/from-fp', { websocket: true }, (socket) => { socket.close(4000, 'bye') })
    }))
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/from-fp`)
  t.same(await closeEvent(client), { code: 4000, reason: 'bye' })
})

t.test('an explicit HEAD on an upgrade route is a registration error; Fastify\'s own HEAD twin is not', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.teardown(() => app.close())
  const message = 'WebSocket route "/head" must use GET, not HEAD: a HEAD request never upgrades (Fastify already answers HEAD for the GET route)'
  t.throws(() => {
    app.route({ method: 'HEAD', url: '/head', websocket: true, handler: () => {} })
  }, { code: 'FST_UPGRADE_INVALID_METHOD', message })
  t.throws(() => {
    app.route({ method: ['GET', 'HEAD'], url: '/head', wsHandler: () => {}, handler: () => {} })
  }, { code: 'FST_UPGRADE_INVALID_METHOD', message })
  t.throws(() => {
    app.head('/head', { upgrade: { 'line/1': () => {} } }, upgradeRequired)
  }, { code: 'FST_UPGRADE_INVALID_METHOD', message })
  // The automatic twin of a GET route (exposeHeadRoute, on by default) registers and answers.
  app.get('/ws', { websocket: true }, () => {})
  app.get('/ws-with-on-send', { websocket: true, onSend: [async (_request, _reply, payload) => payload] }, () => {})
  await app.ready()
  for (const url of ['/ws', '/ws-with-on-send']) {
    const head = await app.inject({ method: 'HEAD', url })
    t.equal(head.statusCode, 426, `HEAD ${url}: the plain answer of the route`)
    t.equal(head.body, '')
  }
})

t.test('a handler or wsHandler that is not a function is a registration error naming the route', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.teardown(() => app.close())
  t.throws(() => {
    // @ts-expect-error -- deliberately wrong type
    app.get('/dual', { wsHandler: 'nope' }, async () => 'http')
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "wsHandler (route /dual)": must be a function' })
  t.throws(() => {
    // @ts-expect-error -- deliberately wrong type
    app.route({ method: 'GET', url: '/ws', websocket: true, handler: 42 })
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "handler (route /ws)": must be a function' })
  t.throws(() => {
    // @ts-expect-error -- deliberately wrong type
    app.get('/ws-options', { websocket: true, handler: {} })
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "handler (route /ws-options)": must be a function' })
  t.throws(() => {
    // @ts-expect-error -- deliberately wrong type
    app.route({ method: 'GET', url: '/dual-route', wsHandler: () => {}, handler: 'http' })
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "handler (route /dual-route)": must be a function' })
})

t.test('WebSocket-only and upgrade-only routes are hidden from OpenAPI (schema.hide); dual routes are not', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  // What @fastify/swagger does: read route options in an onRoute hook added after the plugin's.
  // Each schema as onRoute sees it (Fastify adds its own symbol to schemas once ready).
  const seen = new Map<string, unknown>()
  const copies = new Map<string, unknown>()
  app.addHook('onRoute', (route) => {
    seen.set(`${String(route.method)} ${route.url}`, route.schema)
    copies.set(`${String(route.method)} ${route.url}`, route.schema === undefined ? undefined : { ...route.schema })
  })
  const querystring = { type: 'object', properties: { token: { type: 'string' } } }
  const userSchema = { querystring }
  app.get('/ws', { websocket: true }, () => {})
  app.get('/ws-schema', { websocket: true, schema: userSchema }, () => {})
  app.get('/ws-shared-schema', { websocket: true, schema: userSchema }, () => {})
  app.get('/line', { upgrade: { 'line/1': () => {} } }, upgradeRequired)
  app.get('/dual', { wsHandler: () => {}, schema: userSchema }, async () => 'http')
  app.get('/line-dual', { upgrade: { 'line/1': () => {} } }, async () => 'http')
  app.get('/plain', { schema: userSchema }, async () => 'plain')
  await app.ready()
  t.teardown(() => app.close())

  t.same(copies.get('GET /ws'), { hide: true })
  t.same(copies.get('HEAD /ws'), { hide: true }, 'and its HEAD twin')
  t.same(copies.get('GET /ws-schema'), { querystring, hide: true }, 'the route\'s own schema is kept')
  t.same(copies.get('GET /line'), { hide: true })
  t.same(Object.keys(userSchema), ['querystring'], 'the user\'s schema object, shared by several routes, is not changed')
  t.equal(seen.get('GET /dual'), userSchema, 'a dual route keeps its schema as it is: its HTTP side is documented')
  t.same(copies.get('GET /dual'), { querystring })
  t.equal(seen.get('GET /line-dual'), undefined)
  t.equal(seen.get('GET /plain'), userSchema)

  const response = await app.inject({ method: 'GET', url: '/ws-schema?token=1' })
  t.equal(response.statusCode, 426, 'hide changes nothing else: the route still answers')
})

t.test('the upgrade map is checked at registration; upgradeRequired on a route without one answers 426', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.teardown(() => app.close())
  t.throws(() => {
    // @ts-expect-error -- deliberately wrong type
    app.get('/line', { upgrade: 'line/1' }, upgradeRequired)
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "upgrade (route /line)": must map protocol names to handlers' })
  t.throws(() => {
    app.get('/line', { upgrade: { websocket: () => {} } }, upgradeRequired)
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: /"websocket" is not a protocol token other than websocket/ })
  t.throws(() => {
    // @ts-expect-error -- deliberately wrong type
    app.get('/line', { upgrade: { 'line/1': 'handler' } }, upgradeRequired)
  }, { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "upgrade[\'line/1\'] (route /line)": must be a function' })
  app.get('/not-wrapped', upgradeRequired)
  const response = await app.inject('/not-wrapped')
  t.equal(response.statusCode, 426)
  t.match(response.json(), { code: 'FST_UPGRADE_REQUIRED', message: 'This route requires a protocol upgrade to another protocol' })
})

t.test('an upgrade that reaches its route after app.close() began is refused with 503', async (t) => {
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let entered: () => void = () => {}
  const inHook = new Promise<void>((resolve) => { entered = resolve })
  let closeBegan: () => void = () => {}
  const closeBegun = new Promise<void>((resolve) => { closeBegan = resolve })
  const { app, port } = await listen((app) => {
    app.get('/ws', { websocket: true, preHandler: async () => { entered(); await held } }, () => {})
  }, { closeTimeout: 1000, preClose: async () => { closeBegan() } })
  const response = rawExchange(port, handshake('/ws'), 3000)
  await inHook
  const closing = app.close()
  await within(closeBegun, 1000, 'the shutdown to begin') // preClose runs once the plugin refuses new upgrades
  release()
  await within(closing, 3000, 'app.close()')
  const refused = await response
  t.equal(refused.status, 503)
  t.equal(JSON.parse(refused.body).code, 'FST_UPGRADE_CLOSING')
})
