// Upgrade requests go through Fastify itself: hooks, schemas, params, prefixes and
// encapsulation all apply before the handshake, and their replies are real HTTP.
import t from 'tap'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { connect, handshake, listen, nextMessage, rawExchange, closeEvent } from './helpers.js'

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
