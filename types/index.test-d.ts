// Type-level tests of the public surface (types/index.ts and the plugin's exports).
// Nothing here runs: `npx tsc -p types/tsconfig.json --noEmit` is the test. Each claim is
// either an exact type equality (`assert<Equal<A, B>>()`, which fails on `any`, on a
// wider or a narrower type) or a `@ts-expect-error` line for code that must not compile.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { WebSocket, WebSocketServer } from 'ws'
import fastifyUpgrade, { WebSocketConnection } from '../lib/index.js'
import type { AnyWebSocketConnection, ProtocolUpgradeHandler, WebSocketHandler } from '../lib/index.js'

/** true when A and B are the same type (not merely mutually assignable; `any` only equals `any`). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
/** Compiles only when T is `true`. */
function assert<_T extends true> (): void {}

// Self-check of the helper: a broken Equal would make every assertion below vacuous.
assert<Equal<string, string>>()
// @ts-expect-error -- Equal rejects a wider type
assert<Equal<string, string | number>>()
// @ts-expect-error -- Equal rejects any
assert<Equal<any, string>>()

const app = Fastify()
app.register(fastifyUpgrade)

// ---------------------------------------------------------------------------------------
// 1. Shorthand: app.get(path, { websocket: true }, (socket, request) => ...)
// ---------------------------------------------------------------------------------------
app.get('/shorthand', { websocket: true }, function (socket, request) {
  // the first argument is the plugin's socket wrapper, not a request
  assert<Equal<typeof socket, WebSocketConnection>>()
  // the second argument is the Fastify request
  assert<Equal<typeof request, FastifyRequest>>()
  // `this` is the (encapsulated) Fastify instance
  assert<Equal<typeof this, FastifyInstance>>()
  socket.on('message', (data, isBinary) => {
    // message listeners get ws' raw pair: the payload as a Buffer...
    assert<Equal<typeof data, Buffer>>()
    // ...and whether it was a binary frame
    assert<Equal<typeof isBinary, boolean>>()
  })
})

// A per-route options object is accepted in place of `true`.
app.get('/shorthand-options', {
  websocket: {
    errorHandler: (error, socket, request) => {
      // the per-route error handler gets the error as unknown, the socket and the request
      assert<Equal<typeof error, unknown>>()
      assert<Equal<typeof socket, AnyWebSocketConnection>>()
      assert<Equal<typeof request, FastifyRequest>>()
    }
  }
}, (socket, request) => {
  // the socket/request typing is the same with `websocket: { ... }` as with `true`
  assert<Equal<typeof socket, WebSocketConnection>>()
  assert<Equal<typeof request, FastifyRequest>>()
})

// An async handler is accepted (a handler may return a promise).
app.get('/shorthand-async', { websocket: true }, async (socket) => {
  assert<Equal<typeof socket, WebSocketConnection>>()
  await Promise.resolve()
})

// ---------------------------------------------------------------------------------------
// 2. Options-with-handler: app.get(path, { websocket: true, handler })
// ---------------------------------------------------------------------------------------
app.get('/options-handler', {
  websocket: true,
  handler: function (socket, request) {
    // the handler inside the options object is the socket handler too
    assert<Equal<typeof socket, WebSocketConnection>>()
    // its second argument is the Fastify request
    assert<Equal<typeof request, FastifyRequest>>()
    // and `this` is the Fastify instance
    assert<Equal<typeof this, FastifyInstance>>()
    socket.on('message', (data, isBinary) => {
      // same raw message pair as in the shorthand form
      assert<Equal<typeof data, Buffer>>()
      assert<Equal<typeof isBinary, boolean>>()
    })
  }
})

// ---------------------------------------------------------------------------------------
// 3. Full route(): app.route({ method, url, websocket: true, handler })  (@fastify/websocket#314)
// ---------------------------------------------------------------------------------------
app.route({
  method: 'GET',
  url: '/route',
  websocket: true,
  handler: function (socket, request) {
    // route()'s handler of a websocket route is the socket handler
    assert<Equal<typeof socket, WebSocketConnection>>()
    // with the Fastify request as second argument
    assert<Equal<typeof request, FastifyRequest>>()
    // and `this` the Fastify instance
    assert<Equal<typeof this, FastifyInstance>>()
    socket.on('message', (data, isBinary) => {
      // same raw message pair as in the shorthand form
      assert<Equal<typeof data, Buffer>>()
      assert<Equal<typeof isBinary, boolean>>()
    })
  }
})

// ---------------------------------------------------------------------------------------
// 4. Dual routes: `handler` serves HTTP, `wsHandler` serves the socket
// ---------------------------------------------------------------------------------------
app.get('/dual', {
  wsHandler: function (socket, request) {
    // wsHandler of a shorthand dual route gets (socket, request)
    assert<Equal<typeof socket, WebSocketConnection>>()
    assert<Equal<typeof request, FastifyRequest>>()
    // with `this` the Fastify instance
    assert<Equal<typeof this, FastifyInstance>>()
  }
}, (request, reply) => {
  // the plain handler of a dual route keeps Fastify's (request, reply)
  assert<Equal<typeof request, FastifyRequest>>()
  assert<Equal<typeof reply, FastifyReply>>()
  return reply.send('plain http')
})

app.route({
  method: 'GET',
  url: '/dual-route',
  handler: (request, reply) => {
    // route()'s handler of a dual route keeps Fastify's (request, reply)
    assert<Equal<typeof request, FastifyRequest>>()
    assert<Equal<typeof reply, FastifyReply>>()
    return reply.code(200).send('plain http')
  },
  wsHandler: (socket, request) => {
    // route()'s wsHandler gets (socket, request)
    assert<Equal<typeof socket, WebSocketConnection>>()
    assert<Equal<typeof request, FastifyRequest>>()
  }
})

// ---------------------------------------------------------------------------------------
// 5. Route generics reach the request of a socket handler
// ---------------------------------------------------------------------------------------
app.get<{ Querystring: { token: string }, Params: { id: string } }>('/generic/:id', { websocket: true }, (socket, request) => {
  // the Querystring generic types request.query
  assert<Equal<typeof request.query.token, string>>()
  // the Params generic types request.params
  assert<Equal<typeof request.params.id, string>>()
  // the socket is unchanged by the generics
  assert<Equal<typeof socket, WebSocketConnection>>()
  // @ts-expect-error -- a key outside the Querystring generic does not exist
  void request.query.nope
})

app.route<{ Querystring: { token: string }, Params: { id: string } }>({
  method: 'GET',
  url: '/generic-route/:id',
  websocket: true,
  handler: (socket, request) => {
    // the generics also reach route()'s socket handler
    assert<Equal<typeof request.query.token, string>>()
    assert<Equal<typeof request.params.id, string>>()
    assert<Equal<typeof socket, WebSocketConnection>>()
  }
})

// ---------------------------------------------------------------------------------------
// 6. Type provider: schemas type the request of socket handlers (@fastify/websocket#213)
// ---------------------------------------------------------------------------------------
const typed = Fastify().withTypeProvider<TypeBoxTypeProvider>()
typed.register(fastifyUpgrade)

const schema = {
  querystring: Type.Object({ token: Type.String() }),
  params: Type.Object({ id: Type.Number() })
}

// 6a. shorthand
typed.get('/tb/:id', { websocket: true, schema }, (socket, request) => {
  // the querystring schema types request.query
  assert<Equal<typeof request.query.token, string>>()
  // the params schema types request.params (a number, not the raw string)
  assert<Equal<typeof request.params.id, number>>()
  // the socket is the plugin's socket
  assert<Equal<typeof socket, WebSocketConnection>>()
  // @ts-expect-error -- `nope` is not in the querystring schema
  void request.query.nope
})

// 6a'. shorthand with the schema written inline (inference from the literal itself)
typed.get('/tb-inline/:id', {
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    params: Type.Object({ id: Type.Number() })
  }
}, (socket, request) => {
  // an inline schema types request.query
  assert<Equal<typeof request.query.token, string>>()
  // and request.params
  assert<Equal<typeof request.params.id, number>>()
  assert<Equal<typeof socket, WebSocketConnection>>()
  // @ts-expect-error -- `nope` is not in the querystring schema
  void request.query.nope
})

// 6b. options-with-handler
typed.get('/tb-options/:id', {
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    params: Type.Object({ id: Type.Number() })
  },
  handler: function (socket, request) {
    // the schema types request.query of the handler inside the options
    assert<Equal<typeof request.query.token, string>>()
    // and request.params
    assert<Equal<typeof request.params.id, number>>()
    assert<Equal<typeof socket, WebSocketConnection>>()
    // `this` is the instance with its type provider
    assert<Equal<typeof this, FastifyInstance<typeof typed.server, FastifyRequest['raw'], FastifyReply['raw'], typeof typed.log, TypeBoxTypeProvider>>>()
    // @ts-expect-error -- `nope` is not in the querystring schema
    void request.query.nope
  }
})

// 6c. route()
typed.route({
  method: 'GET',
  url: '/tb-route/:id',
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    params: Type.Object({ id: Type.Number() })
  },
  handler: (socket, request) => {
    // the schema types request.query of route()'s socket handler
    assert<Equal<typeof request.query.token, string>>()
    // and request.params
    assert<Equal<typeof request.params.id, number>>()
    assert<Equal<typeof socket, WebSocketConnection>>()
    // @ts-expect-error -- `nope` is not in the querystring schema
    void request.query.nope
  }
})

// 6d. wsHandler of a dual route (shorthand)
typed.get('/tb-dual/:id', {
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    params: Type.Object({ id: Type.Number() })
  },
  wsHandler: (socket, request) => {
    // the schema types request.query of wsHandler
    assert<Equal<typeof request.query.token, string>>()
    // and request.params
    assert<Equal<typeof request.params.id, number>>()
    assert<Equal<typeof socket, WebSocketConnection>>()
    // @ts-expect-error -- `nope` is not in the querystring schema
    void request.query.nope
  }
}, (request, reply) => {
  // the plain handler of the dual route gets the same schema types
  assert<Equal<typeof request.query.token, string>>()
  assert<Equal<typeof request.params.id, number>>()
  // and keeps a reply
  return reply.send('plain http')
})

// 6e. wsHandler of a dual route (route())
typed.route({
  method: 'GET',
  url: '/tb-dual-route/:id',
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    params: Type.Object({ id: Type.Number() })
  },
  handler: (request, reply) => {
    // route()'s plain handler of the dual route gets the schema types
    assert<Equal<typeof request.query.token, string>>()
    assert<Equal<typeof request.params.id, number>>()
    return reply.send('plain http')
  },
  wsHandler: (socket, request) => {
    // route()'s wsHandler gets the schema types
    assert<Equal<typeof request.query.token, string>>()
    assert<Equal<typeof request.params.id, number>>()
    assert<Equal<typeof socket, WebSocketConnection>>()
    // @ts-expect-error -- `nope` is not in the querystring schema
    void request.query.nope
  }
})

// 6f. hooks of a websocket route see the schema types too (authentication runs in hooks)
typed.get('/tb-hooks/:id', {
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    params: Type.Object({ id: Type.Number() })
  },
  preValidation: (request, reply, done) => {
    // a hook on a websocket route keeps (request, reply, done), with the schema types
    assert<Equal<typeof request.query.token, string>>()
    void reply.code(401)
    done()
  }
}, (socket, request) => {
  // and the socket handler still gets (socket, request)
  assert<Equal<typeof socket, WebSocketConnection>>()
  assert<Equal<typeof request.params.id, number>>()
})

// ---------------------------------------------------------------------------------------
// 7. Plain routes are unaffected
// ---------------------------------------------------------------------------------------
app.get('/plain', (request, reply) => {
  // a handler-only route keeps Fastify's request
  assert<Equal<typeof request, FastifyRequest>>()
  // and reply
  assert<Equal<typeof reply, FastifyReply>>()
  return reply.send('ok')
})

app.get('/plain-options', { logLevel: 'warn' }, (request, reply) => {
  // a route with options but no websocket keeps (request, reply)
  assert<Equal<typeof request, FastifyRequest>>()
  assert<Equal<typeof reply, FastifyReply>>()
  // reply's methods are there
  assert<Equal<ReturnType<typeof reply.send>, FastifyReply>>()
  reply.header('x-plain', '1').status(200).send('ok')
})

app.get('/plain-false', { websocket: false }, (request, reply) => {
  // `websocket: false` is a plain route: (request, reply)
  assert<Equal<typeof request, FastifyRequest>>()
  assert<Equal<typeof reply, FastifyReply>>()
  return reply.send('ok')
})

app.route({
  method: 'POST',
  url: '/plain-route',
  handler: (request, reply) => {
    // route() without websocket keeps (request, reply)
    assert<Equal<typeof request, FastifyRequest>>()
    assert<Equal<typeof reply, FastifyReply>>()
    return reply.send('ok')
  }
})

typed.post('/plain-typed', { schema: { body: Type.Object({ n: Type.Number() }) } }, (request, reply) => {
  // a plain route on a type-provider instance still gets its schema types
  assert<Equal<typeof request.body.n, number>>()
  return reply.send('ok')
})

// ---------------------------------------------------------------------------------------
// 8. Decorators
// ---------------------------------------------------------------------------------------
// the instance exposes ws' server
assert<Equal<typeof app.websocketServer, WebSocketServer>>()
// injectWS resolves to a ws client WebSocket
const injected = app.injectWS('/shorthand', { headers: { authorization: 'Bearer x' }, query: { token: 't' } })
assert<Equal<typeof injected, Promise<WebSocket>>>()
// injectWS works with no arguments too
assert<Equal<ReturnType<typeof app.injectWS>, Promise<WebSocket>>>()
// the decorators are there on a type-provider instance as well
assert<Equal<typeof typed.websocketServer, WebSocketServer>>()
// request.ws is a boolean on every request: in hooks, HTTP handlers and socket handlers
app.addHook('onRequest', async (request) => { assert<Equal<typeof request.ws, boolean>>() })
app.get('/ws-flag', { wsHandler: (_socket, request) => { assert<Equal<typeof request.ws, boolean>>() } }, async (request) => {
  assert<Equal<typeof request.ws, boolean>>()
  return 'plain'
})
typed.get('/ws-flag-typed', { websocket: true, preHandler: async (request) => { assert<Equal<typeof request.ws, boolean>>() } }, (_socket, request) => {
  assert<Equal<typeof request.ws, boolean>>()
})

// ---------------------------------------------------------------------------------------
// 9. Things that must not compile
// ---------------------------------------------------------------------------------------
// Each rejected line is paired with a control that differs only in the offending value and
// compiles, so the error can only come from that value.
// @ts-expect-error -- `websocket` is boolean or an options object, not a string
app.get('/bad', { websocket: 'yes' }, (socket, request) => {})
app.get('/bad', { websocket: true }, (socket, request) => {})
// @ts-expect-error -- same in the options-with-handler form
app.get('/bad-options', { websocket: 'yes', handler: (socket, request) => {} })
app.get('/bad-options', { websocket: true, handler: (socket, request) => {} })
// @ts-expect-error -- same in route()
app.route({ method: 'GET', url: '/bad-route', websocket: 'yes', handler: (socket, request) => {} })
app.route({ method: 'GET', url: '/bad-route', websocket: true, handler: (socket, request) => {} })

app.get('/bad-send', { websocket: true }, (socket) => {
  // @ts-expect-error -- send takes Buffer | ArrayBuffer | ArrayBufferView | string, not a number
  socket.send(42)
  // controls: the accepted forms compile
  socket.send('text')
  socket.send(Buffer.from('bytes'))
  socket.send(new Uint8Array(2))
  socket.send(new ArrayBuffer(2))
  // @ts-expect-error -- a message listener's data is a Buffer, not a number
  socket.on('message', (data: number) => {})
  // control: a listener annotated with ws' raw pair is accepted
  socket.on('message', (data: Buffer, isBinary: boolean) => { void data; void isBinary })
})

// @ts-expect-error -- closeTimeout is a number of milliseconds
app.register(fastifyUpgrade, { closeTimeout: 'soon' })
app.register(fastifyUpgrade, { closeTimeout: 1000 })

// @ts-expect-error -- ws' `noServer` (like server, port and path) belongs to the plugin, not to users
app.register(fastifyUpgrade, { options: { noServer: true } })
// @ts-expect-error -- `path` is Fastify's routing, not ws' filter
app.register(fastifyUpgrade, { options: { path: '/ws' } })

// ---------------------------------------------------------------------------------------
// 10. Plugin options are typed
// ---------------------------------------------------------------------------------------
app.register(fastifyUpgrade, {
  options: { maxPayload: 1024 },
  closeTimeout: 1000,
  errorHandler: (error, socket, request) => {
    // the plugin-wide error handler gets the error as unknown
    assert<Equal<typeof error, unknown>>()
    // the socket (of any message type)
    assert<Equal<typeof socket, AnyWebSocketConnection>>()
    // and the Fastify request
    assert<Equal<typeof request, FastifyRequest>>()
    // it can send (checked against the route's schema.send at run time), close and read state
    assert<Equal<ReturnType<typeof socket.send>, boolean>>()
    socket.send('x')
    socket.send({ any: 'value' })
    socket.sendRaw(Buffer.from('x'))
    // @ts-expect-error -- sendRaw takes only what ws can send
    socket.sendRaw({ any: 'value' })
    assert<Equal<typeof socket.readyState, 0 | 1 | 2 | 3>>()
    assert<Equal<typeof socket.protocol, string>>()
    // the socket does not keep the request: the handler is handed it, and keeps what it needs
    // @ts-expect-error -- no socket.request
    socket.request // eslint-disable-line @typescript-eslint/no-unused-expressions
    socket.close(4000, 'bye')
    socket.terminate()
  }
})

// Every route's socket, whatever its schemas, is an AnyWebSocketConnection (for helpers
// shared by routes), without a cast.
app.get('/any-socket', {
  websocket: true,
  schema: { message: Type.Object({ n: Type.Number() }), send: Type.Object({ ok: Type.Boolean() }) }
}, (socket) => {
  const any: AnyWebSocketConnection = socket
  any.close()
})
app.get('/any-socket-tagged', { websocket: true, schema: { messages: { hi: Type.Object({}) } } }, (socket) => {
  const any: AnyWebSocketConnection = socket
  any.close()
})

// One name for a protocol handler: ProtocolUpgradeHandler (stream, request)
const echoProtocol: ProtocolUpgradeHandler = function (stream, request) {
  assert<Equal<typeof request, FastifyRequest>>()
  assert<Equal<typeof this, FastifyInstance>>()
  stream.pipe(stream)
}
app.get('/echo-protocol', { upgrade: { 'echo/1': echoProtocol } }, async () => 'plain')
// @ts-expect-error -- ProtocolHandler was merged into ProtocolUpgradeHandler
import type { ProtocolHandler } from '../lib/index.js'

// preClose: async, or calling done, with `this` the Fastify instance
app.register(fastifyUpgrade, {
  preClose: async function () {
    assert<Equal<typeof this, FastifyInstance>>()
    for (const client of this.websocketServer.clients) client.send('goodbye')
  }
})
app.register(fastifyUpgrade, {
  preClose (done) {
    assert<Equal<typeof done, (error?: Error) => void>>()
    done()
  }
})
// @ts-expect-error -- preClose is a function
app.register(fastifyUpgrade, { preClose: 'goodbye' })
// @ts-expect-error -- a misspelt option name does not compile either (and throws at registration)
app.register(fastifyUpgrade, { closeTimout: 1000 })

// ---------------------------------------------------------------------------------------
// 11. The exported handler type works for handlers declared apart from the route
// ---------------------------------------------------------------------------------------
const standalone: WebSocketHandler = function (socket, request) {
  // WebSocketHandler's defaults are the plain (socket, request) pair
  assert<Equal<typeof socket, WebSocketConnection>>()
  assert<Equal<typeof request, FastifyRequest>>()
  assert<Equal<typeof this, FastifyInstance>>()
}
// a standalone handler fits the shorthand, the options-with-handler, route() and wsHandler forms
app.get('/standalone', { websocket: true }, standalone)
app.get('/standalone-options', { websocket: true, handler: standalone })
app.route({ method: 'GET', url: '/standalone-route', websocket: true, handler: standalone })
app.get('/standalone-dual', { wsHandler: standalone }, async (_request, reply) => reply.send('ok'))

// ---------------------------------------------------------------------------------------
// The socket is a ws WebSocket: ws' members are there, typed as ws types them.
// ---------------------------------------------------------------------------------------
app.get('/ws-members', { websocket: true }, (socket) => {
  // ws' readyState constants, on the instance
  assert<Equal<typeof socket.OPEN, 1>>()
  assert<Equal<typeof socket.CLOSED, 3>>()
  assert<Equal<typeof socket.readyState, WebSocket['readyState']>>()
  // ws' methods
  assert<Equal<typeof socket.pong, WebSocket['pong']>>()
  assert<Equal<typeof socket.pause, WebSocket['pause']>>()
  assert<Equal<typeof socket.resume, WebSocket['resume']>>()
  assert<Equal<typeof socket.isPaused, boolean>>()
  assert<Equal<typeof socket.binaryType, WebSocket['binaryType']>>()
  assert<Equal<typeof socket.addEventListener, WebSocket['addEventListener']>>()
  // `raw` is the same socket, typed as ws' WebSocket, for APIs typed against ws
  assert<Equal<typeof socket.raw, WebSocket>>()
  // send takes ws' options as well as a callback, and says whether it sent
  assert<Equal<ReturnType<typeof socket.send>, boolean>>()
  socket.send(Buffer.from('x'), { binary: true, compress: false }, (error) => { assert<Equal<typeof error, Error | undefined>>() })
  // @ts-expect-error -- ws' send options are checked
  socket.send('x', { binary: 'yes' })
  // the socket is an EventEmitter typed with the route's events, not ws' untyped catch-all
  // @ts-expect-error -- a 'message' listener of a raw route takes ws' raw pair, not a number
  socket.on('message', (data: number) => data)
})
