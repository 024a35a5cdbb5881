// Type-level tests of message schemas: `schema.message`, `schema.messages` (a tagged union,
// with `schema.discriminator`), `schema.send`, and the invalid-message options.
// Nothing here runs: `npx tsc -p types/tsconfig.json --noEmit` is the test. Each claim is
// either an exact type equality (`assert<Equal<A, B>>()`, which fails on `any`, on a wider
// or a narrower type) or a `@ts-expect-error` line for code that must not compile, with a
// control line beside it that differs only in the offending part and does compile.
import Fastify, { type FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import fastifyUpgrade, { CloseCode, InvalidMessage, WebSocketConnection } from '../lib/index.js'
import type { AnyWebSocketConnection, InvalidMessageCode, InvalidMessagePolicy, InvalidMessageReply, RawSendData, SocketFor } from '../lib/index.js'

/** true when A and B are the same type (not merely mutually assignable; `any` only equals `any`). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
/** Compiles only when T is `true`. */
function assert<_T extends true> (): void {}

// Self-check of the helper on the shapes used below: a broken Equal would make every
// assertion vacuous.
assert<Equal<{ text: string }, { text: string }>>()
// @ts-expect-error -- Equal rejects an object type with an extra field
assert<Equal<{ text: string }, { text: string, nope: string }>>()
// @ts-expect-error -- Equal rejects a union in place of one of its members
assert<Equal<{ type: 'say' }, { type: 'say' } | { type: 'join' }>>()

const app = Fastify()
app.register(fastifyUpgrade)

const typed = Fastify().withTypeProvider<TypeBoxTypeProvider>()
typed.register(fastifyUpgrade)

// ---------------------------------------------------------------------------------------
// 1. schema.message: the 'message' event delivers the decoded, validated value
// ---------------------------------------------------------------------------------------
// 1a. shorthand
app.get('/message', {
  websocket: true,
  schema: { message: Type.Object({ text: Type.String() }) }
}, (socket) => {
  socket.on('message', (msg) => {
    // claim 1 (shorthand): the message listener gets exactly Static<schema.message>
    assert<Equal<typeof msg, { text: string }>>()
    // @ts-expect-error -- claim 1 (shorthand): `nope` is not a field of the message schema
    void msg.nope
    void msg.text
  })
})

// 1b. options-with-handler
app.get('/message-options', {
  websocket: true,
  schema: { message: Type.Object({ text: Type.String() }) },
  handler: (socket) => {
    socket.on('message', (msg) => {
      // claim 1 (options-with-handler): the message listener gets exactly { text: string }
      assert<Equal<typeof msg, { text: string }>>()
      // @ts-expect-error -- claim 1 (options-with-handler): `nope` is not a field of the message schema
      void msg.nope
      void msg.text
    })
  }
})

// 1c. route()
app.route({
  method: 'GET',
  url: '/message-route',
  websocket: true,
  schema: { message: Type.Object({ text: Type.String() }) },
  handler: (socket) => {
    socket.on('message', (msg) => {
      // claim 1 (route()): the message listener gets exactly { text: string }
      assert<Equal<typeof msg, { text: string }>>()
      // @ts-expect-error -- claim 1 (route()): `nope` is not a field of the message schema
      void msg.nope
      void msg.text
    })
  }
})

// 1d. type provider: the message schema and the request schemas type their parts together
typed.get('/message-tb', {
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    message: Type.Object({ text: Type.String() })
  }
}, (socket, request) => {
  // claim 1 (type provider, shorthand): request.query is typed from the querystring schema
  assert<Equal<typeof request.query.token, string>>()
  // @ts-expect-error -- claim 1 (type provider, shorthand): `nope` is not in the querystring schema
  void request.query.nope
  void request.query.token
  socket.on('message', (msg) => {
    // claim 1 (type provider, shorthand): and the message from the message schema, at the same time
    assert<Equal<typeof msg, { text: string }>>()
    // @ts-expect-error -- claim 1 (type provider, shorthand): `nope` is not a field of the message schema
    void msg.nope
    void msg.text
  })
})

typed.get('/message-tb-options', {
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    message: Type.Object({ text: Type.String() })
  },
  handler: (socket, request) => {
    // claim 1 (type provider, options-with-handler): request.query is typed
    assert<Equal<typeof request.query.token, string>>()
    socket.on('message', (msg) => {
      // claim 1 (type provider, options-with-handler): and the message too
      assert<Equal<typeof msg, { text: string }>>()
      // @ts-expect-error -- claim 1 (type provider, options-with-handler): `nope` is not a field of the message schema
      void msg.nope
      void msg.text
    })
  }
})

typed.route({
  method: 'GET',
  url: '/message-tb-route',
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    message: Type.Object({ text: Type.String() })
  },
  handler: (socket, request) => {
    // claim 1 (type provider, route()): request.query is typed
    assert<Equal<typeof request.query.token, string>>()
    socket.on('message', (msg) => {
      // claim 1 (type provider, route()): and the message too
      assert<Equal<typeof msg, { text: string }>>()
      // @ts-expect-error -- claim 1 (type provider, route()): `nope` is not a field of the message schema
      void msg.nope
      void msg.text
    })
  }
})

// ---------------------------------------------------------------------------------------
// 2. schema.send: send() takes only Static<schema.send>; sendRaw() is the escape hatch
// ---------------------------------------------------------------------------------------
app.get('/send', {
  websocket: true,
  schema: { send: Type.Object({ ok: Type.Boolean() }) }
}, (socket) => {
  // claim 2: send() takes exactly Static<schema.send>
  assert<Equal<Parameters<typeof socket.send>[0], { ok: boolean }>>()
  // claim 2: a value of the send schema is accepted
  socket.send({ ok: true })
  // @ts-expect-error -- claim 2: a field of the wrong type is refused
  socket.send({ ok: 'yes' })
  socket.send({ ok: false })
  // @ts-expect-error -- claim 2: raw data is refused by send() once schema.send is declared
  socket.send('raw string')
  // claim 2: ...but sendRaw() takes raw text
  socket.sendRaw('raw string')
  // claim 2: ...and raw bytes
  socket.sendRaw(Buffer.from('x'))
  // claim 2: sendRaw() takes exactly ws' raw send data, whatever the schema
  assert<Equal<Parameters<typeof socket.sendRaw>[0], RawSendData>>()
})

app.route({
  method: 'GET',
  url: '/send-route',
  websocket: true,
  schema: { send: Type.Object({ ok: Type.Boolean() }) },
  handler: (socket) => {
    // claim 2 (route()): send() takes exactly Static<schema.send>
    assert<Equal<Parameters<typeof socket.send>[0], { ok: boolean }>>()
    // @ts-expect-error -- claim 2 (route()): raw data is refused by send()
    socket.send('raw string')
    socket.sendRaw('raw string')
  }
})

// schema.send alone leaves incoming messages raw; schema.message alone leaves send raw.
app.get('/send-only', {
  websocket: true,
  schema: { send: Type.Object({ ok: Type.Boolean() }) }
}, (socket) => {
  socket.on('message', (data, isBinary) => {
    // claim 2: with only schema.send, the message listener keeps ws' raw pair
    assert<Equal<typeof data, Buffer>>()
    assert<Equal<typeof isBinary, boolean>>()
  })
})
app.get('/message-only', {
  websocket: true,
  schema: { message: Type.Object({ text: Type.String() }) }
}, (socket) => {
  // claim 2: with only schema.message, send() keeps ws' raw send data
  assert<Equal<Parameters<typeof socket.send>[0], RawSendData>>()
})

// ---------------------------------------------------------------------------------------
// 3. schema.message accepting binary: a union with Type.Uint8Array()
// ---------------------------------------------------------------------------------------
app.get('/binary', {
  websocket: true,
  schema: { message: Type.Union([Type.Uint8Array(), Type.Object({ n: Type.Number() })]) }
}, (socket) => {
  socket.on('message', (msg) => {
    // claim 3: the message is the bytes or the JSON object
    assert<Equal<typeof msg, Uint8Array | { n: number }>>()
    if (msg instanceof Uint8Array) {
      // claim 3: narrowing by instanceof leaves the bytes
      assert<Equal<typeof msg, Uint8Array>>()
    } else {
      // claim 3: and the object on the other side
      assert<Equal<typeof msg, { n: number }>>()
    }
  })
})

// ---------------------------------------------------------------------------------------
// 4. schema.messages: a tagged union, one event per message type
// ---------------------------------------------------------------------------------------
type Join = { type: 'join', room: string }
type Say = { type: 'say', text: string }

// 4a. shorthand
app.get('/messages', {
  websocket: true,
  schema: {
    messages: {
      join: Type.Object({ room: Type.String() }),
      say: Type.Object({ text: Type.String() })
    }
  }
}, (socket) => {
  socket.on('say', (msg) => {
    // claim 4 (shorthand): the 'say' event gets exactly the tag plus the say fields
    assert<Equal<typeof msg, Say>>()
    // @ts-expect-error -- claim 4 (shorthand): `room` belongs to 'join', not to 'say'
    void msg.room
    void msg.text
  })
  socket.on('join', (msg) => {
    // claim 4 (shorthand): the 'join' event likewise
    assert<Equal<typeof msg, Join>>()
  })
  socket.on('message', (msg) => {
    // claim 4 (shorthand): the 'message' event gets the union of all members
    assert<Equal<typeof msg, Join | Say>>()
    if (msg.type === 'say') {
      // claim 4 (shorthand): narrowing on the tag field works
      assert<Equal<typeof msg, Say>>()
      void msg.text
    } else {
      assert<Equal<typeof msg, Join>>()
      void msg.room
    }
  })
  // @ts-expect-error -- claim 4 (shorthand): 'leave' is not a message type of the route
  socket.on('leave', (msg: unknown) => { void msg })
  socket.on('join', (msg: unknown) => { void msg })
})

// 4b. options-with-handler
app.get('/messages-options', {
  websocket: true,
  schema: {
    messages: {
      join: Type.Object({ room: Type.String() }),
      say: Type.Object({ text: Type.String() })
    }
  },
  handler: (socket) => {
    socket.on('say', (msg) => {
      // claim 4 (options-with-handler): the 'say' event gets exactly { type: 'say', text: string }
      assert<Equal<typeof msg, Say>>()
      // @ts-expect-error -- claim 4 (options-with-handler): `room` belongs to 'join', not to 'say'
      void msg.room
      void msg.text
    })
    socket.on('join', (msg) => {
      // claim 4 (options-with-handler): the 'join' event likewise
      assert<Equal<typeof msg, Join>>()
    })
    socket.on('message', (msg) => {
      // claim 4 (options-with-handler): the 'message' event gets the union
      assert<Equal<typeof msg, Join | Say>>()
      if (msg.type === 'say') assert<Equal<typeof msg, Say>>()
    })
    // @ts-expect-error -- claim 4 (options-with-handler): 'leave' is not a message type of the route
    socket.on('leave', (msg: unknown) => { void msg })
    socket.on('join', (msg: unknown) => { void msg })
  }
})

// 4c. route()
app.route({
  method: 'GET',
  url: '/messages-route',
  websocket: true,
  schema: {
    messages: {
      join: Type.Object({ room: Type.String() }),
      say: Type.Object({ text: Type.String() })
    }
  },
  handler: (socket) => {
    socket.on('say', (msg) => {
      // claim 4 (route()): the 'say' event gets exactly { type: 'say', text: string }
      assert<Equal<typeof msg, Say>>()
      // @ts-expect-error -- claim 4 (route()): `room` belongs to 'join', not to 'say'
      void msg.room
      void msg.text
    })
    socket.on('join', (msg) => {
      // claim 4 (route()): the 'join' event likewise
      assert<Equal<typeof msg, Join>>()
    })
    socket.on('message', (msg) => {
      // claim 4 (route()): the 'message' event gets the union
      assert<Equal<typeof msg, Join | Say>>()
      if (msg.type === 'say') assert<Equal<typeof msg, Say>>()
    })
    // @ts-expect-error -- claim 4 (route()): 'leave' is not a message type of the route
    socket.on('leave', (msg: unknown) => { void msg })
    socket.on('join', (msg: unknown) => { void msg })
  }
})

// 4d. type provider instance, shorthand
typed.get('/messages-tb', {
  websocket: true,
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    messages: {
      join: Type.Object({ room: Type.String() }),
      say: Type.Object({ text: Type.String() })
    }
  }
}, (socket, request) => {
  // claim 4 (type provider): request.query is typed alongside the tagged messages
  assert<Equal<typeof request.query.token, string>>()
  socket.on('say', (msg) => {
    // claim 4 (type provider): the 'say' event gets exactly { type: 'say', text: string }
    assert<Equal<typeof msg, Say>>()
  })
  socket.on('message', (msg) => {
    // claim 4 (type provider): the 'message' event gets the union
    assert<Equal<typeof msg, Join | Say>>()
  })
})

// ---------------------------------------------------------------------------------------
// 5. schema.discriminator renames the tag field
// ---------------------------------------------------------------------------------------
type KindJoin = { kind: 'join', room: string }
type KindSay = { kind: 'say', text: string }

app.get('/discriminator', {
  websocket: true,
  schema: {
    discriminator: 'kind',
    messages: {
      join: Type.Object({ room: Type.String() }),
      say: Type.Object({ text: Type.String() })
    }
  }
}, (socket) => {
  socket.on('say', (msg) => {
    // claim 5: the tag field is `kind`: exactly { kind: 'say', text: string }
    assert<Equal<typeof msg, KindSay>>()
    // @ts-expect-error -- claim 5: there is no `type` field once the discriminator is `kind`
    void msg.type
    void msg.kind
  })
  socket.on('message', (msg) => {
    // claim 5: the 'message' event gets the union tagged by `kind`
    assert<Equal<typeof msg, KindJoin | KindSay>>()
    // @ts-expect-error -- claim 5: no `type` field on the union either
    void msg.type
    void msg.kind
    if (msg.kind === 'say') assert<Equal<typeof msg, KindSay>>()
  })
})

app.route({
  method: 'GET',
  url: '/discriminator-route',
  websocket: true,
  schema: {
    discriminator: 'kind',
    messages: {
      join: Type.Object({ room: Type.String() }),
      say: Type.Object({ text: Type.String() })
    }
  },
  handler: (socket) => {
    socket.on('say', (msg) => {
      // claim 5 (route()): the tag field is `kind`
      assert<Equal<typeof msg, KindSay>>()
      // @ts-expect-error -- claim 5 (route()): there is no `type` field
      void msg.type
      void msg.kind
    })
  }
})

// 5b. A schema declared apart from the route. With `as const` the discriminator keeps its
// literal type and the messages are tagged by it, as inline.
const kindSchema = {
  discriminator: 'kind',
  messages: {
    join: Type.Object({ room: Type.String() }),
    say: Type.Object({ text: Type.String() })
  }
} as const
app.get('/discriminator-const', { websocket: true, schema: kindSchema }, (socket) => {
  socket.on('say', (msg) => {
    // claim 5 (schema declared `as const`): the tag field is `kind`
    assert<Equal<typeof msg, KindSay>>()
    // @ts-expect-error -- claim 5 (schema declared `as const`): there is no `type` field
    void msg.type
    void msg.kind
  })
})
// SocketFor types a handler written apart from its route.
function onKindSocket (socket: SocketFor<typeof kindSchema>): void {
  socket.on('message', (msg) => {
    // claim 5 (SocketFor): the exported SocketFor gives the same union tagged by `kind`
    assert<Equal<typeof msg, KindJoin | KindSay>>()
  })
}
app.get('/discriminator-socketfor', { websocket: true, schema: kindSchema }, onKindSocket)

// Without `as const`, `discriminator` widens to `string`: the tag field's name is unknown to
// the types, so the messages are typed without it (never with a string index signature that
// would let `msg.type`, or any other name, through).
const wideKindSchema = {
  discriminator: 'kind',
  messages: {
    join: Type.Object({ room: Type.String() }),
    say: Type.Object({ text: Type.String() })
  }
}
app.get('/discriminator-wide', { websocket: true, schema: wideKindSchema }, (socket) => {
  socket.on('say', (msg) => {
    // claim 5 (widened discriminator): the say fields, and no tag field
    assert<Equal<typeof msg, { text: string }>>()
    // @ts-expect-error -- claim 5 (widened discriminator): `type` is not the tag field, and is not there
    void msg.type
    void msg.text
  })
})

// ---------------------------------------------------------------------------------------
// 6. Routes without message schemas keep ws' raw types (regression)
// ---------------------------------------------------------------------------------------
app.get('/raw', { websocket: true }, (socket) => {
  socket.on('message', (data, isBinary) => {
    // claim 6: no schema: the message listener gets ws' (data: Buffer, isBinary: boolean)
    assert<Equal<typeof data, Buffer>>()
    assert<Equal<typeof isBinary, boolean>>()
  })
  // claim 6: no schema: send() takes ws' raw send data
  assert<Equal<Parameters<typeof socket.send>[0], RawSendData>>()
  socket.send('text')
  socket.send(Buffer.from('bytes'))
  // @ts-expect-error -- claim 6: without schema.send, send() still refuses a plain object
  socket.send({ ok: true })
  socket.send(JSON.stringify({ ok: true }))
})

typed.get('/raw-tb', {
  websocket: true,
  schema: { querystring: Type.Object({ token: Type.String() }) }
}, (socket, request) => {
  // claim 6: a schema without message, messages or send leaves the socket as it was
  assert<Equal<typeof socket, WebSocketConnection>>()
  assert<Equal<typeof request.query.token, string>>()
  socket.on('message', (data, isBinary) => {
    // claim 6: ...with the raw message pair
    assert<Equal<typeof data, Buffer>>()
    assert<Equal<typeof isBinary, boolean>>()
  })
  socket.send('text')
  socket.send(Buffer.from('bytes'))
})

// ---------------------------------------------------------------------------------------
// 7. Lifecycle listeners keep their types on typed routes
// ---------------------------------------------------------------------------------------
app.get('/lifecycle', {
  websocket: true,
  schema: {
    messages: { say: Type.Object({ text: Type.String() }) },
    send: Type.Object({ ok: Type.Boolean() })
  }
}, (socket) => {
  socket.on('close', (code, reason) => {
    // claim 7: 'close' gets (code: number, reason: string)
    assert<Equal<typeof code, number>>()
    assert<Equal<typeof reason, string>>()
  })
  socket.on('error', (error) => {
    // claim 7: 'error' gets an Error
    assert<Equal<typeof error, Error>>()
  })
  socket.on('ping', (data) => {
    // claim 7: 'ping' gets the payload as a Buffer
    assert<Equal<typeof data, Buffer>>()
  })
  socket.on('pong', (data) => {
    // claim 7: 'pong' gets the payload as a Buffer
    assert<Equal<typeof data, Buffer>>()
  })
})

app.get('/lifecycle-message', {
  websocket: true,
  schema: { message: Type.Object({ text: Type.String() }) }
}, (socket) => {
  socket.on('close', (code, reason) => {
    // claim 7 (schema.message): 'close' gets (code: number, reason: string)
    assert<Equal<typeof code, number>>()
    assert<Equal<typeof reason, string>>()
  })
  socket.on('error', (error) => {
    // claim 7 (schema.message): 'error' gets an Error
    assert<Equal<typeof error, Error>>()
  })
  socket.on('ping', (data) => {
    // claim 7 (schema.message): 'ping' gets a Buffer
    assert<Equal<typeof data, Buffer>>()
  })
  socket.on('pong', (data) => {
    // claim 7 (schema.message): 'pong' gets a Buffer
    assert<Equal<typeof data, Buffer>>()
  })
})

// ---------------------------------------------------------------------------------------
// 8. wsHandler of a dual route types its socket from schema.message
// ---------------------------------------------------------------------------------------
app.get('/dual-message', {
  schema: { message: Type.Object({ text: Type.String() }) },
  wsHandler: (socket) => {
    socket.on('message', (msg) => {
      // claim 8 (shorthand dual route): wsHandler's socket delivers Static<schema.message>
      assert<Equal<typeof msg, { text: string }>>()
      // @ts-expect-error -- claim 8 (shorthand dual route): `nope` is not a field of the message schema
      void msg.nope
      void msg.text
    })
  }
}, (_request, reply) => reply.send('plain http'))

app.route({
  method: 'GET',
  url: '/dual-message-route',
  schema: { message: Type.Object({ text: Type.String() }) },
  handler: (_request, reply) => reply.send('plain http'),
  wsHandler: (socket) => {
    socket.on('message', (msg) => {
      // claim 8 (route() dual route): wsHandler's socket delivers Static<schema.message>
      assert<Equal<typeof msg, { text: string }>>()
      // @ts-expect-error -- claim 8 (route() dual route): `nope` is not a field of the message schema
      void msg.nope
      void msg.text
    })
  }
})

typed.get('/dual-message-tb', {
  schema: {
    querystring: Type.Object({ token: Type.String() }),
    message: Type.Object({ text: Type.String() })
  },
  wsHandler: (socket, request) => {
    // claim 8 (type provider dual route): request.query is typed
    assert<Equal<typeof request.query.token, string>>()
    socket.on('message', (msg) => {
      // claim 8 (type provider dual route): and the socket's message too
      assert<Equal<typeof msg, { text: string }>>()
    })
  }
}, (request, reply) => {
  // the HTTP handler of the same route keeps the querystring typing
  assert<Equal<typeof request.query.token, string>>()
  return reply.send('plain http')
})

// ---------------------------------------------------------------------------------------
// 9. onInvalidMessage and validateSend options
// ---------------------------------------------------------------------------------------
// claim 9: the policy is one of three names or a function
assert<Equal<Extract<InvalidMessagePolicy, string>, 'close' | 'reply' | 'ignore'>>()

// claim 9: InvalidMessage's fields
assert<Equal<InvalidMessage['code'], InvalidMessageCode>>()
assert<Equal<InvalidMessage['path'], string>>()
assert<Equal<InvalidMessage['message'], string>>()
assert<Equal<InvalidMessage['closeCode'], typeof CloseCode.InvalidPayload | typeof CloseCode.PolicyViolation>>()
assert<Equal<InvalidMessageCode,
  | 'FST_UPGRADE_INVALID_JSON'
  | 'FST_UPGRADE_BINARY_NOT_ACCEPTED'
  | 'FST_UPGRADE_UNKNOWN_MESSAGE_TYPE'
  | 'FST_UPGRADE_INVALID_MESSAGE'>>()

// claim 9: each named policy is accepted in the plugin options
app.register(fastifyUpgrade, { onInvalidMessage: 'close' })
app.register(fastifyUpgrade, { onInvalidMessage: 'reply' })
app.register(fastifyUpgrade, { onInvalidMessage: 'ignore', validateSend: false })
// claim 9: a function policy in the plugin options gets (error, socket, request)
app.register(fastifyUpgrade, {
  onInvalidMessage: (error, socket, request) => {
    // the error is an InvalidMessage
    assert<Equal<typeof error, InvalidMessage>>()
    assert<Equal<typeof error.code, InvalidMessageCode>>()
    assert<Equal<typeof error.path, string>>()
    assert<Equal<typeof error.message, string>>()
    assert<Equal<typeof error.closeCode, 1007 | 1008>>()
    // the socket (of any message type) and the request
    assert<Equal<typeof socket, AnyWebSocketConnection>>()
    assert<Equal<typeof request, FastifyRequest>>()
    socket.close(error.closeCode, error.message)
  }
})
// @ts-expect-error -- claim 9: 'explode' is not a policy (plugin options)
app.register(fastifyUpgrade, { onInvalidMessage: 'explode' })
app.register(fastifyUpgrade, { onInvalidMessage: 'ignore' })
// @ts-expect-error -- claim 9: validateSend is a boolean (plugin options)
app.register(fastifyUpgrade, { validateSend: 'no' })
app.register(fastifyUpgrade, { validateSend: false })

// claim 9: the same options per route, in `websocket: { ... }`
app.get('/invalid-policy', {
  websocket: { onInvalidMessage: 'reply', validateSend: false },
  schema: { message: Type.Object({ text: Type.String() }) }
}, (socket) => {
  socket.on('message', (msg) => {
    // the route's socket typing is the same with `websocket: { ... }` as with `true`
    assert<Equal<typeof msg, { text: string }>>()
  })
})
app.get('/invalid-policy-fn', {
  websocket: {
    validateSend: false,
    onInvalidMessage: (error, socket, request) => {
      // claim 9: a per-route function policy gets an InvalidMessage, the socket and the request
      assert<Equal<typeof error, InvalidMessage>>()
      assert<Equal<typeof socket, AnyWebSocketConnection>>()
      assert<Equal<typeof request, FastifyRequest>>()
    }
  },
  schema: { message: Type.Object({ text: Type.String() }) }
}, (socket) => {
  socket.on('message', (msg) => {
    assert<Equal<typeof msg, { text: string }>>()
  })
})
app.route({
  method: 'GET',
  url: '/invalid-policy-route',
  websocket: { onInvalidMessage: 'ignore', validateSend: true },
  schema: { message: Type.Object({ text: Type.String() }) },
  handler: (socket) => {
    socket.on('message', (msg) => {
      // claim 9 (route()): per-route options keep the socket typed
      assert<Equal<typeof msg, { text: string }>>()
    })
  }
})
// @ts-expect-error -- claim 9: 'explode' is not a policy (route options, shorthand)
app.get('/explode', { websocket: { onInvalidMessage: 'explode' } }, (socket) => { void socket })
app.get('/explode', { websocket: { onInvalidMessage: 'close' } }, (socket) => { void socket })
// @ts-expect-error -- claim 9: 'explode' is not a policy (route options, route())
app.route({ method: 'GET', url: '/explode-route', websocket: { onInvalidMessage: 'explode' }, handler: (socket) => { void socket } })
app.route({ method: 'GET', url: '/explode-route', websocket: { onInvalidMessage: 'close' }, handler: (socket) => { void socket } })
// @ts-expect-error -- claim 9: validateSend is a boolean (route options)
app.get('/validate-send', { websocket: { validateSend: 'no' } }, (socket) => { void socket })
app.get('/validate-send', { websocket: { validateSend: false } }, (socket) => { void socket })

// ---------------------------------------------------------------------------------------
// 10. The error message the 'reply' policy sends
// ---------------------------------------------------------------------------------------
// claim 10: InvalidMessageReply is { error: { code, path, message } }
assert<Equal<InvalidMessageReply, { error: { code: InvalidMessageCode, path: string, message: string } }>>()
// claim 10: a client can read the reply's fields with their types
const reply: InvalidMessageReply = { error: { code: 'FST_UPGRADE_INVALID_MESSAGE', path: '/text', message: 'Expected string' } }
assert<Equal<typeof reply.error.code, InvalidMessageCode>>()
// @ts-expect-error -- claim 10: the reply carries no closeCode
void reply.error.closeCode
void reply.error.code
