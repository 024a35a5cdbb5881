// Type-level tests of message schemas written with TypeBox 1.x (the `typebox` package, what
// @fastify/type-provider-typebox 6 documents), and of plain JSON Schema: the key cases of
// messages.test-d.ts (schema.message, schema.messages with per-type events and a
// discriminator, schema.send), with the same two kinds of claim: exact type equalities and
// `@ts-expect-error` lines, each beside a control line that compiles.
import Fastify from 'fastify'
import { Type } from 'typebox'
import { Type as Type034 } from '@sinclair/typebox'
import fastifyUpgrade from '../lib/index.js'
import type { RawSendData, SocketFor, StaticMessage } from '../lib/index.js'

/** true when A and B are the same type (not merely mutually assignable; `any` only equals `any`). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
/** Compiles only when T is `true`. */
function assert<_T extends true> (): void {}

const app = Fastify()
app.register(fastifyUpgrade)

// ---------------------------------------------------------------------------------------
// 1. schema.message with TypeBox 1.x: the 'message' event delivers Static<schema.message>
// ---------------------------------------------------------------------------------------
// 1a. shorthand
app.get('/message', {
  websocket: true,
  schema: { message: Type.Object({ text: Type.String(), to: Type.Optional(Type.Array(Type.String())) }) }
}, (socket) => {
  socket.on('message', (msg) => {
    // claim 1 (shorthand): the message listener gets exactly typebox's Static<schema.message>
    assert<Equal<typeof msg, { text: string, to?: string[] }>>()
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
      // claim 1 (options-with-handler): exactly { text: string }
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
      // claim 1 (route()): exactly { text: string }
      assert<Equal<typeof msg, { text: string }>>()
      // @ts-expect-error -- claim 1 (route()): `nope` is not a field of the message schema
      void msg.nope
      void msg.text
    })
  }
})

// 1d. wsHandler of a dual route
app.get('/dual-message', {
  schema: { message: Type.Object({ text: Type.String() }) },
  wsHandler: (socket) => {
    socket.on('message', (msg) => {
      // claim 1 (dual route): wsHandler's socket delivers Static<schema.message>
      assert<Equal<typeof msg, { text: string }>>()
    })
  }
}, (_request, reply) => reply.send('plain http'))

// 1e. unions, literals, recursion: whatever typebox's own Static infers
app.get('/message-union', {
  websocket: true,
  schema: { message: Type.Union([Type.Object({ kind: Type.Literal('a'), n: Type.Number() }), Type.Object({ kind: Type.Literal('b') })]) }
}, (socket) => {
  socket.on('message', (msg) => {
    // claim 1 (union): the union of the members, narrowed by its literal field
    assert<Equal<typeof msg, { kind: 'a', n: number } | { kind: 'b' }>>()
    if (msg.kind === 'a') assert<Equal<typeof msg.n, number>>()
  })
})
interface TreeNode { c: TreeNode[] }
const Tree = Type.Cyclic({ Node: Type.Object({ c: Type.Array(Type.Ref('Node')) }) }, 'Node')
app.get('/message-cyclic', { websocket: true, schema: { message: Tree } }, (socket) => {
  socket.on('message', (msg) => {
    // claim 1 (Type.Cyclic): the recursive type, { c: Node[] } all the way down
    assert<Equal<typeof msg.c[number], typeof msg>>()
    assert<Equal<typeof msg.c[number]['c'][number]['c'], Array<typeof msg>>>()
    const node: TreeNode = msg
    void node
  })
})

// ---------------------------------------------------------------------------------------
// 2. schema.send with TypeBox 1.x: send() takes only Static<schema.send>
// ---------------------------------------------------------------------------------------
app.get('/send', {
  websocket: true,
  schema: { send: Type.Object({ ok: Type.Boolean() }) }
}, (socket) => {
  // claim 2: send() takes exactly Static<schema.send>
  assert<Equal<Parameters<typeof socket.send>[0], { ok: boolean }>>()
  socket.send({ ok: true })
  // @ts-expect-error -- claim 2: a field of the wrong type is refused
  socket.send({ ok: 'yes' })
  socket.send({ ok: false })
  // @ts-expect-error -- claim 2: raw data is refused by send() once schema.send is declared
  socket.send('raw string')
  // claim 2: ...but sendRaw() takes it
  socket.sendRaw('raw string')
  assert<Equal<Parameters<typeof socket.sendRaw>[0], RawSendData>>()
  socket.on('message', (data, isBinary) => {
    // claim 2: with only schema.send, the message listener keeps ws' raw pair
    assert<Equal<typeof data, Buffer>>()
    assert<Equal<typeof isBinary, boolean>>()
  })
})

// ---------------------------------------------------------------------------------------
// 3. schema.messages with TypeBox 1.x members: one event per message type
// ---------------------------------------------------------------------------------------
type Join = { type: 'join', room: string }
type Say = { type: 'say', text: string }

// 3a. shorthand
app.get('/messages', {
  websocket: true,
  schema: {
    messages: {
      join: Type.Object({ room: Type.String() }),
      say: Type.Object({ text: Type.String() })
    },
    send: Type.Object({ from: Type.String(), text: Type.String() })
  }
}, (socket) => {
  socket.on('say', (msg) => {
    // claim 3 (shorthand): the 'say' event gets exactly the tag plus the say fields
    assert<Equal<typeof msg, Say>>()
    // @ts-expect-error -- claim 3 (shorthand): `room` belongs to 'join', not to 'say'
    void msg.room
    void msg.text
    socket.send({ from: 'me', text: msg.text })
  })
  socket.on('join', (msg) => {
    // claim 3 (shorthand): the 'join' event likewise
    assert<Equal<typeof msg, Join>>()
  })
  socket.on('message', (msg) => {
    // claim 3 (shorthand): the 'message' event gets the union of all members
    assert<Equal<typeof msg, Join | Say>>()
    if (msg.type === 'say') assert<Equal<typeof msg, Say>>()
  })
  // @ts-expect-error -- claim 3 (shorthand): 'leave' is not a message type of the route
  socket.on('leave', (msg: unknown) => { void msg })
  socket.on('join', (msg: unknown) => { void msg })
})

// 3b. route()
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
      // claim 3 (route()): exactly { type: 'say', text: string }
      assert<Equal<typeof msg, Say>>()
    })
    socket.on('message', (msg) => {
      // claim 3 (route()): the union
      assert<Equal<typeof msg, Join | Say>>()
    })
  }
})

// 3c. schema.discriminator, with the schema declared apart from the route `as const`
const kindSchema = {
  discriminator: 'kind',
  messages: {
    join: Type.Object({ room: Type.String() }),
    say: Type.Object({ text: Type.String() })
  }
} as const
app.get('/discriminator', { websocket: true, schema: kindSchema }, (socket) => {
  socket.on('say', (msg) => {
    // claim 3 (discriminator): the tag field is `kind`
    assert<Equal<typeof msg, { kind: 'say', text: string }>>()
    // @ts-expect-error -- claim 3 (discriminator): there is no `type` field once the discriminator is `kind`
    void msg.type
    void msg.kind
  })
})
// claim 3 (SocketFor): a handler written apart from its route is typed the same
function onKindSocket (socket: SocketFor<typeof kindSchema>): void {
  socket.on('message', (msg) => {
    assert<Equal<typeof msg, { kind: 'join', room: string } | { kind: 'say', text: string }>>()
  })
}
app.get('/discriminator-socketfor', { websocket: true, schema: kindSchema }, onKindSocket)

// 3d. members of both TypeBox lines on one route, each typed by its own line
app.get('/messages-both', {
  websocket: true,
  schema: {
    messages: {
      join: Type034.Object({ room: Type034.String() }),
      say: Type.Object({ text: Type.String() })
    }
  }
}, (socket) => {
  socket.on('message', (msg) => {
    // claim 3 (both lines): 0.34 and 1.x members side by side
    assert<Equal<typeof msg, Join | Say>>()
  })
})

// @ts-expect-error -- claim 3: a member must be an object schema (a 1.x Type.String() is not)
app.get('/messages-string', { websocket: true, schema: { messages: { say: Type.String() } } }, (socket) => { void socket })
app.get('/messages-string', { websocket: true, schema: { messages: { say: Type.Object({}) } } }, (socket) => { void socket })

// ---------------------------------------------------------------------------------------
// 4. Plain JSON Schema: checked at run time, typed as unknown
// ---------------------------------------------------------------------------------------
app.get('/json-message', {
  websocket: true,
  schema: {
    message: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    send: { type: 'object', properties: { ok: { type: 'boolean' } } }
  }
}, (socket) => {
  socket.on('message', (msg) => {
    // claim 4: a plain JSON Schema message is `unknown` (not `any`): narrow it before use
    assert<Equal<typeof msg, unknown>>()
    // @ts-expect-error -- claim 4: an unknown message has no fields until narrowed
    void msg.text
    if (typeof msg === 'object' && msg !== null && 'text' in msg) void msg.text
  })
  // claim 4: send() takes `unknown` (schema.send checks it at run time)
  assert<Equal<Parameters<typeof socket.send>[0], unknown>>()
})

app.get('/json-messages', {
  websocket: true,
  schema: {
    messages: {
      join: { type: 'object', properties: { room: { type: 'string' } } },
      say: Type.Object({ text: Type.String() })
    }
  }
}, (socket) => {
  socket.on('join', (msg) => {
    // claim 4 (messages): a plain JSON Schema member is its tag plus unknown fields
    assert<Equal<typeof msg, { [field: string]: unknown, type: 'join' }>>()
    assert<Equal<typeof msg.room, unknown>>()
  })
  socket.on('message', (msg) => {
    // claim 4 (messages): ...and still narrows the union by its tag
    if (msg.type === 'say') assert<Equal<typeof msg, Say>>()
  })
})

// @ts-expect-error -- claim 4: a plain member must say `type: 'object'`
app.get('/json-messages-array', { websocket: true, schema: { messages: { list: { type: 'array' } } } }, (socket) => { void socket })
app.get('/json-messages-array', { websocket: true, schema: { messages: { list: { type: 'object' } } } }, (socket) => { void socket })

// @ts-expect-error -- claim 4: a schema is an object, not a string
app.get('/json-string', { websocket: true, schema: { message: 'object' } }, (socket) => { void socket })
app.get('/json-string', { websocket: true, schema: { message: { type: 'object' } } }, (socket) => { void socket })

// ---------------------------------------------------------------------------------------
// 5. StaticMessage: the same inference, exported
// ---------------------------------------------------------------------------------------
const Message1 = Type.Object({ n: Type.Integer() })
const Message034 = Type034.Object({ n: Type034.Integer() })
// claim 5: TypeBox 1.x and 0.34 schemas of the same shape give the same type
assert<Equal<StaticMessage<typeof Message1>, { n: number }>>()
assert<Equal<StaticMessage<typeof Message034>, { n: number }>>()
// claim 5: plain JSON Schema gives unknown
assert<Equal<StaticMessage<{ type: 'object' }>, unknown>>()
