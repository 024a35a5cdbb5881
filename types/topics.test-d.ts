// Type-level tests of topics: websocketPublish's message type for declared topics and
// patterns (the WebSocketTopics augmentation below, as an application writes it), untyped
// names, websocketTopic's schema, and the socket's subscribe/unsubscribe/topics. Exact type
// equalities and `@ts-expect-error` lines, each beside a control line that compiles.
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { Type as Type1 } from 'typebox'
import fastifyUpgrade from '../lib/index.js'
import type { AnyWebSocketConnection, MatchingTopics, PublishResult, TopicMessage, TopicPattern } from '../lib/index.js'

/** true when A and B are the same type (not merely mutually assignable; `any` only equals `any`). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
/** Compiles only when T is `true`. */
function assert<_T extends true> (): void {}

const RoomMessage = Type.Object({ from: Type.String(), text: Type.String() })
const Alert = Type.Union([Type.Object({ level: Type.Literal('info') }), Type.Object({ level: Type.Literal('error'), code: Type.Number() })])
const Lobby = Type.Object({ pinned: Type.Optional(Type.Boolean()) })
const Ticker = Type1.Object({ symbol: Type1.String(), price: Type1.Number() })

declare module '../lib/index.js' {
  interface WebSocketTopics {
    'room:*': typeof RoomMessage
    alerts: typeof Alert
    // matches 'room:lobby' as well as 'room:*' does: a message must satisfy both
    'room:lobby': typeof Lobby
    'ticker:*:price': typeof Ticker
  }
}

const app = Fastify()
app.register(fastifyUpgrade)

// ---------------------------------------------------------------------------------------
// 1. Patterns as types
// ---------------------------------------------------------------------------------------
assert<Equal<TopicPattern<'room:*'>, `room:${string}`>>()
assert<Equal<TopicPattern<'ticker:*:price'>, `ticker:${string}:price`>>()
assert<Equal<TopicPattern<'alerts'>, 'alerts'>>()
assert<Equal<MatchingTopics<'room:42'>, 'room:*'>>()
assert<Equal<MatchingTopics<'room:lobby'>, 'room:*' | 'room:lobby'>>()
assert<Equal<MatchingTopics<'elsewhere'>, never>>()

// ---------------------------------------------------------------------------------------
// 2. websocketPublish checks the message of a declared name or pattern
// ---------------------------------------------------------------------------------------
assert<Equal<TopicMessage<'room:42'>, { from: string, text: string }>>()
void app.websocketPublish('room:42', { from: 'ada', text: 'hi' })
// @ts-expect-error -- 'room:*' messages need `from`
void app.websocketPublish('room:42', { text: 'hi' })
// @ts-expect-error -- and `text` is a string
void app.websocketPublish('room:42', { from: 'ada', text: 42 })

// A name built at run time keeps its literal prefix in its type: still checked.
const roomId: string = '42'
void app.websocketPublish(`room:${roomId}`, { from: 'ada', text: 'hi' })
// @ts-expect-error -- `room:${string}` matches 'room:*'
void app.websocketPublish(`room:${roomId}`, { nope: true })

// An exact name; a union message type stays a union.
assert<Equal<TopicMessage<'alerts'>, { level: 'info' } | { level: 'error', code: number }>>()
void app.websocketPublish('alerts', { level: 'error', code: 3 })
// @ts-expect-error -- an 'error' alert has a code
void app.websocketPublish('alerts', { level: 'error' })

// Two patterns match: the message satisfies both.
assert<Equal<TopicMessage<'room:lobby'>, { from: string, text: string } & { pinned?: boolean }>>()
void app.websocketPublish('room:lobby', { from: 'ada', text: 'hi', pinned: true })
// @ts-expect-error -- 'room:*' still applies to 'room:lobby'
void app.websocketPublish('room:lobby', { pinned: true })

// A pattern declared with a TypeBox 1.x schema: its Static.
assert<Equal<TopicMessage<'ticker:ACME:price'>, { symbol: string, price: number }>>()
void app.websocketPublish('ticker:ACME:price', { symbol: 'ACME', price: 1.5 })
// @ts-expect-error -- price is a number
void app.websocketPublish('ticker:ACME:price', { symbol: 'ACME', price: '1.5' })

// ---------------------------------------------------------------------------------------
// 3. Undeclared names, and names typed plain `string`, are untyped
// ---------------------------------------------------------------------------------------
assert<Equal<TopicMessage<'news'>, unknown>>()
void app.websocketPublish('news', 'text')
void app.websocketPublish('news', Buffer.from('bytes'))
void app.websocketPublish('news', { any: ['thing'] })
const anyName: string = 'room:1'
assert<Equal<TopicMessage<typeof anyName>, unknown>>()
void app.websocketPublish(anyName, { whatever: 1 })
// @ts-expect-error -- a topic is a string
void app.websocketPublish(42, 'text')

// ---------------------------------------------------------------------------------------
// 4. What it returns, and `except`
// ---------------------------------------------------------------------------------------
assert<Equal<ReturnType<typeof app.websocketPublish>, Promise<PublishResult>>>()
assert<Equal<PublishResult, { delivered: number }>>()
app.get('/room', { websocket: true, schema: { message: Type.Object({ text: Type.String() }) } }, async (socket) => {
  // 5. The socket: subscribe and unsubscribe resolve with nothing; topics is read-only.
  assert<Equal<ReturnType<typeof socket.subscribe>, Promise<void>>>()
  assert<Equal<ReturnType<typeof socket.unsubscribe>, Promise<void>>>()
  assert<Equal<typeof socket.topics, ReadonlySet<string>>>()
  await socket.subscribe('room:1')
  // @ts-expect-error -- the topics are changed through subscribe/unsubscribe only
  socket.topics.add('room:2')
  // @ts-expect-error -- a topic is a string
  void socket.subscribe(1)
  socket.on('message', (message) => {
    // A route's typed socket is a valid `except`.
    void app.websocketPublish('room:1', { from: 'me', text: message.text }, { except: socket })
  })
  const result = await app.websocketPublish('news', 'hello')
  assert<Equal<typeof result.delivered, number>>()
})
function fromErrorHandler (socket: AnyWebSocketConnection): void {
  void app.websocketPublish('news', 'bye', { except: socket })
  assert<Equal<typeof socket.topics, ReadonlySet<string>>>()
  void socket.unsubscribe('news')
}
void fromErrorHandler
// @ts-expect-error -- `except` is a socket
void app.websocketPublish('news', 'x', { except: 'someone' })

// ---------------------------------------------------------------------------------------
// 6. Everywhere: an encapsulated instance, an HTTP route (`this` and request.server)
// ---------------------------------------------------------------------------------------
app.register(async (child: FastifyInstance) => {
  void child.websocketPublish('room:7', { from: 'child', text: 'hi' })
  // @ts-expect-error -- the same declarations apply on every instance
  void child.websocketPublish('room:7', { from: 'child' })
  child.post('/rooms/:id/messages', async function (request) {
    await this.websocketPublish('room:7', { from: 'http', text: 'hi' })
    // @ts-expect-error -- and through request.server
    await request.server.websocketPublish('room:7', { text: 'hi' })
    return { ok: true }
  })
})

// ---------------------------------------------------------------------------------------
// 7. websocketTopic: a declared pattern takes its declared schema; others any schema
// ---------------------------------------------------------------------------------------
app.websocketTopic('room:*', RoomMessage)
// @ts-expect-error -- 'room:*' is declared with RoomMessage
app.websocketTopic('room:*', Lobby)
app.websocketTopic('ticker:*:price', Ticker)
app.websocketTopic('undeclared:*', Type.String())
app.websocketTopic('plain-json', { type: 'object', properties: { a: { type: 'number' } } })
assert<Equal<ReturnType<typeof app.websocketTopic>, FastifyInstance>>()
// Chains, as decorators that return the instance do.
app.websocketTopic('alerts', Alert).websocketTopic('room:lobby', Lobby)
