// Type-level tests for other protocols, operations and stats (see index.test-d.ts for the method).
import type { Duplex } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import fastifyUpgrade, { upgradeRequired, type WebSocketStats } from '../lib/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assert<_T extends true> (): void {}

const app = Fastify()
app.register(fastifyUpgrade, {
  // every operational option is accepted plugin-wide
  heartbeat: { interval: 30_000, timeout: 10_000 },
  idleTimeout: 60_000,
  maxPayload: 65_536,
  maxBackpressure: 1 << 20,
  backpressurePolicy: 'drop',
  maxConnections: 10_000,
  rateLimit: { rate: 50, burst: 100, policy: 'close' },
  handshakeTimeout: 5000,
  refusalLinger: 1000,
  allowedOrigins: ['https://app.example']
})

// @ts-expect-error -- backpressurePolicy is 'close' or 'drop'
app.register(fastifyUpgrade, { backpressurePolicy: 'panic' })
app.register(fastifyUpgrade, { backpressurePolicy: 'close' })
// @ts-expect-error -- heartbeat is an object or false, not true
app.register(fastifyUpgrade, { heartbeat: true })
app.register(fastifyUpgrade, { heartbeat: false })

// Per route, the same options (but handshakeTimeout and refusalLinger, which apply before routing).
app.get('/ops', {
  websocket: { heartbeat: false, idleTimeout: 1000, maxPayload: 1024, maxConnections: 5, rateLimit: false, perMessageDeflate: true, protocols: ['a'], requireProtocol: false }
}, () => {})
// @ts-expect-error -- handshakeTimeout is plugin-wide only
app.get('/ops2', { websocket: { handshakeTimeout: 10 } }, () => {})
// @ts-expect-error -- refusalLinger is plugin-wide only
app.get('/ops3', { websocket: { refusalLinger: 10 } }, () => {})

// send() reports whether the message was queued under maxBackpressure
app.get('/send', { websocket: true }, (socket) => {
  const queued = socket.send('x')
  assert<Equal<typeof queued, boolean>>()
  socket.on('drain', (...args) => {
    // 'drain' carries nothing
    assert<Equal<typeof args, []>>()
  })
})

// upgrade: a map of protocol tokens to (stream, request) handlers, typed like route handlers
app.get('/line', {
  upgrade: {
    'line/1': function (stream, request) {
      assert<Equal<typeof stream, Duplex>>()
      assert<Equal<typeof request, FastifyRequest>>()
      assert<Equal<typeof this, FastifyInstance>>()
    }
  }
}, upgradeRequired)

// ...and the request keeps the type provider's schema types
const typed = Fastify().withTypeProvider<TypeBoxTypeProvider>()
typed.get('/line/:id', {
  schema: { params: Type.Object({ id: Type.Number() }) },
  upgrade: {
    'line/1': (_stream, request) => {
      assert<Equal<typeof request.params.id, number>>()
      // @ts-expect-error -- not in the params schema
      void request.params.nope
    }
  }
}, upgradeRequired)

// @ts-expect-error -- a handler must be a function
app.get('/bad', { upgrade: { 'line/1': 'nope' } }, upgradeRequired)

// websocketStats() is typed
const stats = app.websocketStats()
assert<Equal<typeof stats, WebSocketStats>>()
assert<Equal<typeof stats.closes, Record<string, number>>>()
assert<Equal<typeof stats.open, number>>()
