// Type-level tests of the AsyncAPI surface: app.asyncapi(), the `asyncapi` option, and the
// documentation keys of a route's schema. Nothing here runs (see index.test-d.ts).
import Fastify from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import type {
  AsyncApiChannel,
  AsyncApiDocument,
  AsyncApiInfo,
  AsyncApiMessage,
  AsyncApiOperation,
  AsyncApiOptions,
  AsyncApiServer,
  FastifyUpgradeOptions,
  JsonSchema
} from '../lib/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assert<_T extends true> (): void {}

// @fastify/swagger 9 declares these keys of FastifySchema too; TypeScript accepts the two
// declarations only if they are identical. This copy of @fastify/swagger's fails to compile
// the day ours differ.
declare module 'fastify' {
  interface FastifySchema {
    hide?: boolean
    tags?: readonly string[]
    description?: string
    summary?: string
  }
}

const app = Fastify()

// ---------------------------------------------------------------------------------------
// app.asyncapi()
// ---------------------------------------------------------------------------------------
const document = app.asyncapi()
assert<Equal<typeof document, AsyncApiDocument>>()
assert<Equal<typeof document.asyncapi, '3.1.0'>>()
assert<Equal<typeof document.info, AsyncApiInfo>>()
assert<Equal<typeof document.info.title, string>>()
assert<Equal<typeof document.servers, Record<string, AsyncApiServer> | undefined>>()
// noUncheckedIndexedAccess: a channel id may name no channel
const channel = document.channels.chat_room
assert<Equal<typeof channel, AsyncApiChannel | undefined>>()
if (channel !== undefined) {
  assert<Equal<typeof channel.address, string>>()
  assert<Equal<typeof channel.messages, Record<string, AsyncApiMessage>>>()
  assert<Equal<typeof channel.bindings, { ws: { method: 'GET', query?: JsonSchema, headers?: JsonSchema, bindingVersion: '0.1.0' } } | undefined>>()
  assert<Equal<typeof channel['x-websocket-subprotocols'], string[] | undefined>>()
  assert<Equal<NonNullable<typeof channel.messages.join>['payload'], JsonSchema | undefined>>()
}
const operation = document.operations.chat_room_receive
assert<Equal<typeof operation, AsyncApiOperation | undefined>>()
assert<Equal<NonNullable<typeof operation>['action'], 'receive' | 'send'>>()
assert<Equal<NonNullable<typeof operation>['messages'], Array<{ $ref: string }>>>()
// extension fields are unknown, other unknown fields do not exist
assert<Equal<typeof document['x-generator'], unknown>>()
// @ts-expect-error -- not a field of the document
void document.paths
// @ts-expect-error -- takes no argument
app.asyncapi({ yaml: true })

// ---------------------------------------------------------------------------------------
// The `asyncapi` option
// ---------------------------------------------------------------------------------------
assert<Equal<FastifyUpgradeOptions['asyncapi'], AsyncApiOptions | undefined>>()
assert<Equal<AsyncApiOptions['path'], string | undefined>>()
assert<Equal<AsyncApiOptions['viewer'], boolean | undefined>>()
assert<Equal<AsyncApiOptions['info'], Partial<AsyncApiInfo> | undefined>>()

app.register(fastifyUpgrade, {
  asyncapi: {
    // Partial: over the default title and version
    info: { description: 'Everything', license: { name: 'MIT' }, 'x-logo': 'https://example.com/logo.png' },
    servers: { production: { host: 'example.com', protocol: 'wss', pathname: '/api' } },
    extra: { id: 'urn:example:api', defaultContentType: 'application/json', components: { schemas: { id: { type: 'string' } } }, 'x-generator': 'me' },
    path: '/asyncapi',
    viewer: false
  }
})
app.register(fastifyUpgrade, { asyncapi: {} })
// @ts-expect-error -- a server needs its protocol
app.register(fastifyUpgrade, { asyncapi: { servers: { production: { host: 'example.com' } } } })
// @ts-expect-error -- channels come from the routes
app.register(fastifyUpgrade, { asyncapi: { extra: { channels: {} } } })
// @ts-expect-error -- info is its own option
app.register(fastifyUpgrade, { asyncapi: { extra: { info: { title: 'x', version: '1' } } } })
// @ts-expect-error -- a path is a string
app.register(fastifyUpgrade, { asyncapi: { path: 1 } })
// @ts-expect-error -- viewer is a boolean
app.register(fastifyUpgrade, { asyncapi: { path: '/docs', viewer: 'yes' } })
// @ts-expect-error -- not an option of asyncapi
app.register(fastifyUpgrade, { asyncapi: { pth: '/docs' } })
// @ts-expect-error -- plugin-wide only
app.get('/ws', { websocket: { asyncapi: {} } }, () => {})

// ---------------------------------------------------------------------------------------
// A route's documentation keys, as @fastify/swagger reads them
// ---------------------------------------------------------------------------------------
app.get('/documented', { websocket: true, schema: { summary: 'A room', description: 'Talk', tags: ['chat'], hide: false } }, (socket) => { socket.close() })
app.route({ method: 'GET', url: '/route', websocket: true, schema: { summary: 'A route', tags: ['a', 'b'] as const }, handler: (socket) => { socket.close() } })
app.get('/http', { schema: { description: 'A plain route, as @fastify/swagger documents it' } }, async () => 'ok')
// @ts-expect-error -- tags are a list
app.get('/bad-tags', { websocket: true, schema: { tags: 'chat' } }, () => {})
// @ts-expect-error -- a summary is a string
app.get('/bad-summary', { websocket: true, schema: { summary: 1 } }, () => {})
