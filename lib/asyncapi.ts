// The AsyncAPI document of the app's WebSocket and upgrade routes, `app.asyncapi()`: what
// each route declares is collected as it is registered (lib/route.ts calls describeRoute),
// and the document is built from that once the app is ready, then kept. Schemas become
// plain JSON Schema in lib/asyncapi-schemas.ts. Serving it: GET <path>.json here; the viewer
// page is lib/asyncapi-viewer.ts, imported only when asked for.
import type { FastifyInstance, FastifySchema } from 'fastify'
import { AsyncApiNotReadyError, InvalidOptionError } from './errors.js'
import { framesOf, tagged } from './messages.js'
import { annotations, pointer, toJsonSchema, type JsonSchema, type SchemaScope } from './asyncapi-schemas.js'
import type { WebSocketRouteOptions } from './options.js'

export type { JsonSchema } from './asyncapi-schemas.js'

/**
 * The AsyncAPI version of the document. 3.1.0: @asyncapi/parser 3.6 validates 3.0.0 and
 * 3.1.0 alike, and reports a 3.0.0 document as not using the latest version; the viewer's
 * bundled parser reads both; and nothing this document uses differs between the two.
 */
export const asyncApiVersion = '3.1.0'

/** Extension fields (`x-...`), which AsyncAPI allows on most objects. */
export interface Extensions { [extension: `x-${string}`]: unknown }

export interface AsyncApiExternalDocs extends Extensions { url: string, description?: string }

export interface AsyncApiTag extends Extensions { name: string, description?: string, externalDocs?: AsyncApiExternalDocs }

/** The document's `info`. */
export interface AsyncApiInfo extends Extensions {
  title: string
  version: string
  description?: string
  termsOfService?: string
  contact?: { name?: string, url?: string, email?: string }
  license?: { name: string, url?: string }
  tags?: AsyncApiTag[]
  externalDocs?: AsyncApiExternalDocs
}

/** A server of the document's `servers` (`host` as `example.com:443`, `protocol` as `wss`). */
export interface AsyncApiServer extends Extensions {
  host: string
  protocol: string
  pathname?: string
  protocolVersion?: string
  title?: string
  summary?: string
  description?: string
  variables?: Record<string, { enum?: string[], default?: string, description?: string, examples?: string[] }>
  security?: unknown[]
  tags?: AsyncApiTag[]
  externalDocs?: AsyncApiExternalDocs
  bindings?: Record<string, unknown>
}

/** A channel parameter: a `{name}` of the address (AsyncAPI 3 parameters hold strings, not schemas). */
export interface AsyncApiParameter { description?: string, enum?: string[], default?: string, examples?: string[] }

export interface AsyncApiMessage {
  /** The message's id in its channel: a `schema.messages` tag, or `message`, `send`... */
  name: string
  title?: string
  summary?: string
  description?: string
  /** `application/json` for schema-checked messages, `application/octet-stream` for bytes; none when anything goes. */
  contentType?: string
  payload?: JsonSchema
}

/** The `ws` channel binding: the handshake request's query string and headers. */
export interface AsyncApiWebSocketBinding { method: 'GET', query?: JsonSchema, headers?: JsonSchema, bindingVersion: '0.1.0' }

export interface AsyncApiChannel {
  /** The route's URL with `{param}` placeholders (`/chat/{room}`). */
  address: string
  summary?: string
  description?: string
  tags?: AsyncApiTag[]
  parameters?: Record<string, AsyncApiParameter>
  messages: Record<string, AsyncApiMessage>
  bindings?: { ws: AsyncApiWebSocketBinding }
  /** The route's subprotocols, most preferred first. */
  'x-websocket-subprotocols'?: string[]
  /** The protocols other than WebSocket the route switches to (its `upgrade` map). */
  'x-upgrade-protocols'?: string[]
}

export interface AsyncApiReference { $ref: string }

export interface AsyncApiOperation {
  /** From the server's side: `receive` what clients send, `send` what the server sends. */
  action: 'receive' | 'send'
  channel: AsyncApiReference
  messages: AsyncApiReference[]
  tags?: AsyncApiTag[]
}

export interface AsyncApiComponents { schemas?: Record<string, JsonSchema>, [section: string]: unknown }

/** What `app.asyncapi()` returns. */
export interface AsyncApiDocument extends Extensions {
  asyncapi: typeof asyncApiVersion
  id?: string
  info: AsyncApiInfo
  servers?: Record<string, AsyncApiServer>
  defaultContentType?: string
  channels: Record<string, AsyncApiChannel>
  operations: Record<string, AsyncApiOperation>
  components?: AsyncApiComponents
}

/** Top-level fields of the document other than those the plugin writes. */
export interface AsyncApiExtraFields extends Extensions {
  id?: string
  defaultContentType?: string
  /** Merged with the plugin's own: schemas shared with app.addSchema() that routes refer to. */
  components?: AsyncApiComponents
}

/** The `asyncapi` plugin option. */
export interface AsyncApiOptions {
  /**
   * The document's `info`, over the default.
   * @default { title: 'WebSocket API', version: '1.0.0' }
   */
  info?: Partial<AsyncApiInfo>
  /**
   * The document's `servers`, by name.
   * @default none (the document then says nothing of where the app runs)
   */
  servers?: Record<string, AsyncApiServer>
  /**
   * Other top-level fields: `id`, `defaultContentType`, `components`, `x-...` extensions.
   * @default none
   */
  extra?: AsyncApiExtraFields
  /**
   * Serve the document at `GET <path>.json` (and the viewer page at `GET <path>`), e.g. '/asyncapi'.
   * @default not served
   */
  path?: string
  /**
   * With `path`: the viewer page, which needs `@asyncapi/react-component` installed (an optional peer dependency).
   * @default true when `path` is set
   */
  viewer?: boolean
}

export interface ResolvedAsyncApiOptions {
  info: AsyncApiInfo
  servers: Record<string, AsyncApiServer> | undefined
  extra: AsyncApiExtraFields
  path: string | undefined
  viewer: boolean
}

/** What the document needs to know of a route, collected when it is registered. */
export interface DocumentedRoute {
  url: string
  /** The route's schema as declared (lib/route.ts hides upgrade-only routes from OpenAPI afterwards). */
  schema: FastifySchema & Record<string, unknown>
  webSocket: boolean
  /** The subprotocols the route chooses from (undefined: its selectProtocol chooses), and whether one is required; undefined: ws decides. */
  subprotocols: { protocols: string[] | undefined, required: boolean } | undefined
  /** Other protocols, as the route spells them. */
  upgrades: string[]
  /** The schemas shared with app.addSchema() that the route's instance knows, by `$id`. */
  shared: () => Record<string, unknown>
}

/**
 * A channel declared apart from any route (the coming topics), documented by
 * `AsyncApiCatalog.declare`: what the server publishes on it.
 */
export interface DeclaredChannel {
  /** The channel's name or pattern; its `{name}` placeholders become parameters. */
  name: string
  /** What is published on it: a message schema of any kind routes accept; none: anything. */
  schema?: unknown
  description?: string
}

/**
 * A route's entry in the document, or undefined when it opts out with `schema.hide` (as
 * @fastify/swagger reads it). `summary`, `description` and `tags` are read as
 * @fastify/swagger reads them, and checked here: the document must hold strings.
 */
export function describeRoute (url: string, declared: FastifySchema | undefined, routeOptions: WebSocketRouteOptions, webSocket: boolean, upgrades: string[], instance: FastifyInstance): DocumentedRoute | undefined {
  const schema = (declared ?? {}) as DocumentedRoute['schema']
  if (schema.hide === true) return undefined
  for (const key of ['summary', 'description'] as const) {
    if (schema[key] !== undefined && typeof schema[key] !== 'string') throw new InvalidOptionError(`schema.${key} (route ${url})`, 'must be a string')
  }
  if (schema.tags !== undefined && (!Array.isArray(schema.tags) || !schema.tags.every((tag) => typeof tag === 'string'))) {
    throw new InvalidOptionError(`schema.tags (route ${url})`, 'must be a list of strings')
  }
  const { protocols, selectProtocol, requireProtocol } = routeOptions
  const chooses = protocols !== undefined || selectProtocol !== undefined
  return {
    url,
    schema,
    webSocket,
    subprotocols: webSocket && chooses ? { protocols, required: requireProtocol ?? true } : undefined,
    upgrades,
    shared: () => instance.getSchemas()
  }
}

/** The routes and channels of one plugin instance, and their document once the app is ready. */
export class AsyncApiCatalog {
  readonly #options: ResolvedAsyncApiOptions
  readonly #routes: DocumentedRoute[] = []
  readonly #declared: DeclaredChannel[] = []
  #ready = false
  #document: { value: AsyncApiDocument, json: string } | undefined

  constructor (options: ResolvedAsyncApiOptions) {
    this.#options = options
  }

  get options (): ResolvedAsyncApiOptions {
    return this.#options
  }

  add (route: DocumentedRoute): void {
    this.#routes.push(route)
    this.#document = undefined
  }

  /** Documents channels declared apart from routes: the hook the coming topics use. */
  declare (channels: readonly DeclaredChannel[]): void {
    this.#declared.push(...channels)
    this.#document = undefined
  }

  /**
   * Documents a typed topic (`app.websocketTopic`) as a channel the server sends on: its
   * address is the pattern with each `*` as a parameter (`chat:*` → `chat:{part}`).
   */
  declareTopic (pattern: string, schema: unknown): void {
    let parts = 0
    const name = pattern.replace(/\*/g, () => `{part${++parts === 1 ? '' : parts}}`)
    this.declare([{ name, schema, description: `Topic pattern \`${pattern}\`: what app.websocketPublish() delivers to the sockets subscribed to a matching topic` }])
  }

  /** From the app's onReady: every route is registered by then. */
  ready (): void {
    this.#ready = true
  }

  /** The document, as a copy the caller may change. */
  document (): AsyncApiDocument {
    return structuredClone(this.#built().value)
  }

  /** The document as JSON text, what GET <path>.json sends. */
  json (): string {
    return this.#built().json
  }

  #built (): { value: AsyncApiDocument, json: string } {
    if (!this.#ready) throw new AsyncApiNotReadyError()
    if (this.#document === undefined) {
      const value = buildDocument(this.#options, this.#routes, this.#declared)
      this.#document = { value, json: JSON.stringify(value) }
    }
    return this.#document
  }
}

/** The document of these routes and declared channels. */
export function buildDocument (options: ResolvedAsyncApiOptions, routes: readonly DocumentedRoute[], declared: readonly DeclaredChannel[]): AsyncApiDocument {
  const { components: givenComponents, ...extra } = structuredClone(options.extra)
  const builder = new DocumentBuilder(givenComponents?.schemas ?? {})
  for (const route of routes) builder.addRoute(route)
  for (const channel of declared) builder.addDeclared(channel)
  const components: AsyncApiComponents = { ...givenComponents, ...(Object.keys(builder.schemas).length > 0 ? { schemas: builder.schemas } : {}) }
  return {
    asyncapi: asyncApiVersion,
    info: structuredClone(options.info),
    ...(options.servers === undefined ? {} : { servers: structuredClone(options.servers) }),
    ...extra,
    channels: builder.channels,
    operations: builder.operations,
    ...(Object.keys(components).length > 0 ? { components } : {})
  }
}

const jsonContent = 'application/json'
const bytesContent = 'application/octet-stream'
const bytesPayload = { type: 'string', format: 'binary' }

class DocumentBuilder {
  readonly channels: Record<string, AsyncApiChannel> = {}
  readonly operations: Record<string, AsyncApiOperation> = {}
  readonly schemas: Record<string, JsonSchema>
  /** Shared schemas already placed in components.schemas, where. */
  readonly #placed = new Map<object, string[]>()

  constructor (schemas: Record<string, JsonSchema>) {
    this.schemas = { ...schemas }
  }

  addRoute (route: DocumentedRoute): void {
    const { address, parameters } = routeAddress(route.url)
    const id = unique(channelId(address), this.channels)
    const at = ['channels', id]
    const scope = this.#scope(route.shared)
    const { schema } = route
    const tags = schema.tags === undefined ? {} : { tags: schema.tags.map((name) => ({ name })) }
    const channel: AsyncApiChannel = {
      address,
      ...(schema.summary === undefined ? {} : { summary: schema.summary }),
      ...(schema.description === undefined ? {} : { description: schema.description }),
      ...tags,
      ...(parameters.length > 0 ? { parameters: channelParameters(parameters, schema.params) } : {}),
      messages: {}
    }
    this.channels[id] = channel
    let receives: string[]
    let sends: string[]
    if (route.webSocket) {
      receives = schema.messages === undefined
        ? this.#messagesOf(channel, at, scope, 'message', schema.message, 'schema.message')
        : Object.entries(schema.messages).map(([name, member]) => addMessage(channel, at, scope, name, tagged(member, schema.discriminator ?? 'type', name, route.url)))
      sends = this.#messagesOf(channel, at, scope, 'send', schema.send, 'schema.send')
      channel.bindings = { ws: webSocketBinding(route, at, scope) }
      if (route.subprotocols?.protocols !== undefined) channel['x-websocket-subprotocols'] = [...route.subprotocols.protocols]
    } else {
      channel.messages.stream = { name: 'stream', summary: `The raw ${route.upgrades.join(' or ')} stream after 101 Switching Protocols`, contentType: bytesContent, payload: { ...bytesPayload } }
      receives = sends = ['stream']
    }
    if (route.upgrades.length > 0) channel['x-upgrade-protocols'] = [...route.upgrades]
    this.#operation(id, 'receive', receives, tags)
    this.#operation(id, 'send', sends, tags)
  }

  /** A declared channel: what the server publishes on it (`send`). */
  addDeclared (declared: DeclaredChannel): void {
    const id = unique(channelId(declared.name), this.channels)
    const at = ['channels', id]
    const names = [...declared.name.matchAll(/\{([^{}]+)\}/g)].map((match) => match[1] as string)
    const channel: AsyncApiChannel = {
      address: declared.name,
      ...(declared.description === undefined ? {} : { description: declared.description }),
      ...(names.length > 0 ? { parameters: channelParameters(names, undefined) } : {}),
      messages: {}
    }
    this.channels[id] = channel
    this.#operation(id, 'send', this.#messagesOf(channel, at, this.#scope(() => ({})), 'message', declared.schema, 'schema'), {})
  }

  /**
   * The messages of one message schema, by frame: its JSON part (id `name`) and its bytes
   * (`name.binary`); without a schema, one message of any content.
   */
  #messagesOf (channel: AsyncApiChannel, at: string[], scope: SchemaScope, name: string, schema: unknown, key: string): string[] {
    if (schema === undefined) {
      const id = unique(name, channel.messages)
      channel.messages[id] = { name: id, summary: `Any text or binary message (no ${key})` }
      return [id]
    }
    const { text, binary } = framesOf(schema)
    const ids = text === undefined ? [] : [addMessage(channel, at, scope, name, text)]
    if (binary.length > 0) {
      const id = unique(`${name}.binary`, channel.messages)
      channel.messages[id] = { name: id, ...annotations(binary[0] as Record<string, unknown>), contentType: bytesContent, payload: { ...bytesPayload } }
      ids.push(id)
    }
    return ids
  }

  #operation (channel: string, action: 'receive' | 'send', messages: string[], tags: { tags?: AsyncApiTag[] }): void {
    this.operations[`${channel}_${action}`] = {
      action,
      channel: { $ref: pointer(['channels', channel]) },
      messages: messages.map((message) => ({ $ref: pointer(['channels', channel, 'messages', message]) })),
      ...structuredClone(tags)
    }
  }

  /** How a route's schemas reach the schemas its instance shares (placed in components.schemas once each). */
  #scope (shared: () => Record<string, unknown>): SchemaScope {
    return {
      shared: (id) => shared()[id],
      place: (schema, id) => {
        const placed = this.#placed.get(schema)
        if (placed !== undefined) return placed
        const key = unique(id.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'schema', this.schemas)
        const location = ['components', 'schemas', key]
        this.#placed.set(schema, location)
        this.schemas[key] = true // taken, while the schema itself is converted (it may refer to itself)
        this.schemas[key] = toJsonSchema(schema, location, this.#scope(shared))
        return location
      }
    }
  }
}

/** Adds a JSON message (`application/json`) of this schema under `name` (or the next free id). */
function addMessage (channel: AsyncApiChannel, at: string[], scope: SchemaScope, name: string, schema: unknown): string {
  const id = unique(name, channel.messages)
  const payload = toJsonSchema(schema, [...at, 'messages', id, 'payload'], scope)
  // A message schema is an object (the codec refuses anything else), and so is its copy.
  channel.messages[id] = { name: id, ...annotations(payload as Record<string, unknown>), contentType: jsonContent, payload }
  return id
}

/** The `ws` binding: the handshake's query string and headers, the subprotocol header included. */
function webSocketBinding (route: DocumentedRoute, at: string[], scope: SchemaScope): AsyncApiWebSocketBinding {
  const { schema, subprotocols } = route
  const where = [...at, 'bindings', 'ws']
  const query = schema.querystring ?? (schema as { query?: unknown }).query
  let headers = schema.headers === undefined ? undefined : lowerCaseHeaders(toJsonSchema(schema.headers, [...where, 'headers'], scope))
  if (subprotocols !== undefined) headers = withSubprotocolHeader(headers, subprotocols)
  return {
    method: 'GET',
    ...(query === undefined ? {} : { query: toJsonSchema(query, [...where, 'query'], scope) }),
    ...(headers === undefined ? {} : { headers }),
    bindingVersion: '0.1.0'
  }
}

/** Fastify checks header schemas by lower-case names (request.headers' own): so does the document. */
function lowerCaseHeaders (schema: JsonSchema): JsonSchema {
  if (!isObjectSchema(schema)) return schema
  const lower = (name: string): string => name.toLowerCase()
  return {
    ...schema,
    properties: Object.fromEntries(Object.entries(schema.properties).map(([name, member]) => [lower(name), member])),
    ...(Array.isArray(schema.required) ? { required: (schema.required as string[]).map(lower) } : {})
  }
}

function isObjectSchema (schema: JsonSchema | undefined): schema is { properties: Record<string, unknown>, [keyword: string]: unknown } {
  return typeof schema === 'object' && schema !== null && typeof schema.properties === 'object' && schema.properties !== null
}

const protocolHeader = 'sec-websocket-protocol'

/** The headers schema with Sec-WebSocket-Protocol, as the route negotiates it. */
function withSubprotocolHeader (headers: JsonSchema | undefined, subprotocols: NonNullable<DocumentedRoute['subprotocols']>): JsonSchema {
  const description = subprotocols.protocols === undefined
    ? 'The subprotocols the client offers; the route\'s selectProtocol chooses one'
    : `The subprotocols the client offers; the route speaks ${subprotocols.protocols.join(', ')} (most preferred first)`
  const header = { type: 'string', description }
  const required = subprotocols.required ? [protocolHeader] : []
  if (isObjectSchema(headers)) {
    return {
      ...headers,
      properties: { [protocolHeader]: header, ...headers.properties },
      ...(required.length > 0 || headers.required !== undefined ? { required: [...new Set([...(headers.required as string[] | undefined ?? []), ...required])] } : {})
    }
  }
  return {
    type: 'object',
    properties: { [protocolHeader]: header },
    ...(required.length > 0 ? { required } : {}),
    ...(headers === undefined ? {} : { allOf: [headers] })
  }
}

/**
 * A Fastify route URL as a channel address: `:name` (with or without its regular expression)
 * becomes `{name}`, `*` becomes `{*}` (Fastify's `params['*']`), `::` a colon.
 */
export function routeAddress (url: string): { address: string, parameters: string[] } {
  let address = ''
  const parameters: string[] = []
  for (let i = 0; i < url.length; i++) {
    const char = url[i] as string
    if (char === ':' && url[i + 1] === ':') {
      address += ':'
      i++
    } else if (char === ':') {
      // As find-my-way reads a parameter: its name ends at '/', '-', '.' or its '(regexp)'.
      let end = i + 1
      while (end < url.length && !'/-.('.includes(url[end] as string)) end++
      const name = url.slice(i + 1, end)
      parameters.push(name)
      address += `{${name}}`
      i = url[end] === '(' ? closingParenthesis(url, end) : end - 1
    } else if (char === '*') {
      parameters.push('*')
      address += '{*}'
    } else {
      address += char
    }
  }
  return { address, parameters }
}

/** The index of the ')' that closes the '(' at `open` (a backslash escapes a parenthesis). */
function closingParenthesis (url: string, open: number): number {
  let depth = 0
  let i = open
  for (; i < url.length; i++) {
    if (url[i] === '\\') i++
    else if (url[i] === '(') depth++
    else if (url[i] === ')' && --depth === 0) break
  }
  return i
}

/** A channel id from its address: letters, digits, `_`, `.` and `-`. */
function channelId (address: string): string {
  return address.replace(/[{}]/g, '').replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'root'
}

/** `name`, or `name_2`, `name_3`... whichever `taken` does not hold yet. */
function unique (name: string, taken: object): string {
  if (!Object.hasOwn(taken, name)) return name
  let n = 2
  while (Object.hasOwn(taken, `${name}_${n}`)) n++
  return `${name}_${n}`
}

// The keywords of a parameter's schema that say what it may be, in its description.
const constraintKeywords = ['pattern', 'format', 'minLength', 'maxLength', 'minimum', 'maximum'] as const

/**
 * The channel's parameters, from the params schema where it describes them: its
 * description and constraints as the description (AsyncAPI 3 parameters have no schema),
 * and `enum` (from `enum`, `const` or a union of constants), `default` and `examples` as strings.
 */
function channelParameters (names: readonly string[], params: unknown): Record<string, AsyncApiParameter> {
  const properties = isObjectSchema(params as JsonSchema | undefined) ? (params as { properties: Record<string, unknown> }).properties : {}
  return Object.fromEntries(names.map((name) => {
    const schema = properties[name]
    if (typeof schema !== 'object' || schema === null) return [name, {}]
    const property = schema as Record<string, unknown>
    const constraints = [
      ...(typeof property.type === 'string' ? [property.type] : []),
      ...constraintKeywords.filter((keyword) => property[keyword] !== undefined).map((keyword) => `${keyword} \`${String(property[keyword])}\``)
    ].join(', ')
    const description = typeof property.description === 'string'
      ? (constraints === '' ? property.description : `${property.description} (${constraints})`)
      : constraints
    const values = Array.isArray(property.enum)
      ? property.enum
      : 'const' in property
        ? [property.const]
        : Array.isArray(property.anyOf) && property.anyOf.every((member: { const?: unknown }) => 'const' in member)
          ? property.anyOf.map((member: { const: unknown }) => member.const)
          : undefined
    const parameter: AsyncApiParameter = {
      ...(description === '' ? {} : { description }),
      ...(values === undefined ? {} : { enum: values.map(String) }),
      ...(property.default === undefined ? {} : { default: String(property.default) }),
      ...(Array.isArray(property.examples) ? { examples: property.examples.map(String) } : {})
    }
    return [name, parameter]
  }))
}

const hidden: FastifySchema = { hide: true }

/** Serves the document at GET <path>.json, and the viewer at GET <path> when asked. */
export async function serveAsyncApi (app: FastifyInstance, catalog: AsyncApiCatalog, path: string): Promise<void> {
  app.get(`${path}.json`, { schema: hidden }, (_request, reply) => {
    reply.type('application/json; charset=utf-8').send(catalog.json())
  })
  if (!catalog.options.viewer) return
  const { serveViewer } = await import('./asyncapi-viewer.js')
  serveViewer(app, path, catalog.options.info.title)
}
