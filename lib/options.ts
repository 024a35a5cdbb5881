// Plugin options: defaults, validation, and the merge of plugin-wide with per-route settings.
import type { PerMessageDeflateOptions, ServerOptions } from 'ws'
import type { FastifyInstance, FastifyRequest, RegisterOptions } from 'fastify'
import { InvalidOptionError } from './errors.js'
import { tokenPattern } from './headers.js'
import type { AnyWebSocketConnection } from './connection.js'
import type { AsyncApiExtraFields, AsyncApiInfo, AsyncApiOptions, ResolvedAsyncApiOptions } from './asyncapi.js'
import { realClock, type Clock } from './heartbeat.js'
import type { InvalidMessage } from './messages.js'
import type { AllowedOrigins } from './origin.js'
import { checkPubSubAdapter, type PubSubAdapter } from './pubsub.js'
import type { RateLimit } from './rate-limit.js'
import { kClock } from './symbols.js'

/** Decides what happens when a handler or a message listener throws. */
export type WebSocketErrorHandler = (
  error: unknown,
  socket: AnyWebSocketConnection,
  request: FastifyRequest
) => void

/**
 * What to do with an incoming message that fails its route's schema: close (1007 for
 * undecodable data, 1008 for a schema violation), reply with an error message, ignore it,
 * or a function of your own.
 */
export type InvalidMessagePolicy =
  | 'close'
  | 'reply'
  | 'ignore'
  | ((error: InvalidMessage, socket: AnyWebSocketConnection, request: FastifyRequest) => void)

/** Picks the subprotocol from the client's offer; undefined or false refuses the handshake. */
export type SelectProtocol = (offered: string[], request: FastifyRequest) => string | false | undefined

/** Ping every `interval` ms; a peer whose pong has not come `timeout` ms after a ping is terminated. */
export interface Heartbeat {
  interval?: number
  timeout?: number
}

/** The limits and timers a route may set for itself, each with a plugin-wide default. */
export interface OperationalOptions {
  /**
   * Pings and dead-peer detection: a peer whose pong is `timeout` ms late is terminated; false turns them off.
   * @default { interval: 30000, timeout: 10000 }
   */
  heartbeat?: Heartbeat | false
  /**
   * Close (1000, 'idle timeout') after this many ms without a message, ping or pong from the peer; 0: never.
   * @default 0
   */
  idleTimeout?: number
  /**
   * Bytes that may wait to be written before send() refuses more (and the backpressure policy applies).
   * @default 1048576
   */
  maxBackpressure?: number
  /**
   * Over maxBackpressure: 'close' (1008 'backpressure limit exceeded') or 'drop' the message.
   * @default 'close'
   */
  backpressurePolicy?: 'close' | 'drop'
  /**
   * Largest incoming message in bytes, after decompression; larger ones close with 1009.
   * @default 1048576
   */
  maxPayload?: number
  /**
   * Decoded bytes of messages held for a handler that has not listened yet (it awaits
   * something first); past it the connection closes with 1008 'held messages limit exceeded'.
   * @default the route's maxPayload
   */
  maxHeldBytes?: number
  /**
   * Open WebSocket connections allowed (plugin-wide: in all; per route: on that route). Over it: 503.
   * @default Infinity
   */
  maxConnections?: number
  /**
   * Messages, pings and unsolicited pongs per connection: a token bucket; false: none.
   * @default false
   */
  rateLimit?: RateLimit | false
}

/**
 * ws server options, less those that would make ws own the HTTP server or the path;
 * verifyClient: verification is Fastify's hooks' job, where it runs under the plugin's
 * limits (handshakeTimeout, maxConnections) and can answer with any HTTP response; and
 * WebSocket: the socket class is the plugin's own subclass of ws' WebSocket.
 */
export type WsServerOptions = Omit<ServerOptions, 'server' | 'port' | 'path' | 'noServer' | 'verifyClient' | 'WebSocket'>

/**
 * The plugin's options.
 * @throws FST_UPGRADE_INVALID_OPTION (a TypeError), at registration, for
 * an unknown name (naming the closest valid one) or a value of the wrong kind.
 */
export interface FastifyUpgradeOptions extends OperationalOptions {
  /**
   * Passed to ws' `WebSocketServer`, which always runs in `noServer` mode; `server`, `port`,
   * `path`, `noServer`, `verifyClient` and `WebSocket` are refused.
   * @default {}
   */
  options?: WsServerOptions
  /**
   * Receives every exception of a connection (handler, listeners, send callbacks).
   * @default log through `request.log.error` and close with 1011 (only log if already closing)
   */
  errorHandler?: WebSocketErrorHandler
  /**
   * Milliseconds `app.close()` gives `preClose` and the closing handshakes before terminating sockets.
   * @default 5000
   */
  closeTimeout?: number
  /**
   * What routes do with a message that fails `schema.message(s)`.
   * @default 'close'
   */
  onInvalidMessage?: InvalidMessagePolicy
  /**
   * Check `socket.send` data against `schema.send` (an invalid value throws FST_UPGRADE_INVALID_SEND).
   * @default true unless NODE_ENV is 'production'
   */
  validateSend?: boolean
  /**
   * Browser origins allowed to connect to every route (a route may set its own).
   * @default any origin
   */
  allowedOrigins?: AllowedOrigins
  /**
   * Milliseconds from the upgrade request until the route takes the socket; past it, 503.
   * @default 10000
   */
  handshakeTimeout?: number
  /**
   * Milliseconds a refused upgrade's socket stays open after the HTTP answer, half-closed,
   * dropping what the client still sends (so that the close is no reset that could destroy
   * the answer); then it is destroyed. Absolute: bytes from the client do not extend it.
   * @default 5000
   */
  refusalLinger?: number
  /**
   * Runs at `app.close()` before the built-in shutdown (1001 to every connection), e.g. to
   * send a goodbye message: an async function, or one that calls `done`. Bounded by
   * `closeTimeout`, which covers it and the built-in shutdown together; an error is logged.
   * @default none
   */
  preClose?: (this: FastifyInstance, done: (error?: Error) => void) => Promise<unknown> | void
  /**
   * The AsyncAPI document of the routes (`app.asyncapi()`): its `info`, `servers` and other
   * fields; with `path`, served at `GET <path>.json` and, unless `viewer` is false, shown by
   * a viewer page at `GET <path>` (which needs `@asyncapi/react-component` installed).
   * @default { info: { title: 'WebSocket API', version: '1.0.0' } }, not served
   */
  asyncapi?: AsyncApiOptions
  /**
   * On an HTTP/2 app (`Fastify({ http2: true })`): advertise SETTINGS_ENABLE_CONNECT_PROTOCOL
   * and take WebSockets opened as RFC 8441 extended CONNECT streams, routed like HTTP/1.1
   * upgrades. Browsers open their WebSockets this way on an HTTP/2 connection they already
   * have to the server. false: neither (HTTP/2 clients must then upgrade over HTTP/1.1,
   * `allowHTTP1`), and the server's 'connect' events are left to the application.
   * @default true
   */
  extendedConnect?: boolean
  /**
   * Carries topics to the application's other servers: `redisPubSub({ url })` from
   * `fastify-upgrade/redis`, or an adapter of your own (see docs/topics.md).
   * @default none: topics are delivered on this server only
   */
  pubsub?: PubSubAdapter
  /**
   * Topics one socket may subscribe to; one more rejects with FST_UPGRADE_TOO_MANY_TOPICS.
   * @default 100
   */
  maxTopicsPerSocket?: number
  /**
   * Characters (UTF-16 code units) of a topic name; a longer one rejects with FST_UPGRADE_INVALID_TOPIC.
   * @default 256
   */
  maxTopicLength?: number
}

/**
 * Per-route settings, given as `websocket: { ... }` on the route; each operational option
 * defaults to the plugin's. Registration throws FST_UPGRADE_INVALID_OPTION as for the plugin's.
 */
export interface WebSocketRouteOptions extends OperationalOptions {
  /** @default the plugin's errorHandler */
  errorHandler?: WebSocketErrorHandler
  /** @default the plugin's onInvalidMessage */
  onInvalidMessage?: InvalidMessagePolicy
  /** @default the plugin's validateSend */
  validateSend?: boolean
  /**
   * Subprotocols this route speaks, most preferred first.
   * @default none: ws' rule (the client's first choice) applies
   */
  protocols?: string[]
  /**
   * Overrides the choice among the client's offered subprotocols.
   * @default the first of `protocols` that the client offers
   */
  selectProtocol?: SelectProtocol
  /**
   * Refuse clients that offer no subprotocol (400 FST_UPGRADE_PROTOCOL_REQUIRED).
   * @default true when `protocols` or `selectProtocol` is set
   */
  requireProtocol?: boolean
  /**
   * permessage-deflate for this route, as ws' option of that name.
   * @default the plugin's `options.perMessageDeflate`, itself off
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions
  /**
   * Browser origins allowed to connect to this route, instead of the plugin-wide list.
   * @default the plugin's allowedOrigins
   */
  allowedOrigins?: AllowedOrigins
}

export interface ResolvedOptions {
  ws: WsServerOptions
  errorHandler: WebSocketErrorHandler | undefined
  closeTimeout: number
  preClose: FastifyUpgradeOptions['preClose']
  onInvalidMessage: InvalidMessagePolicy
  validateSend: boolean
  allowedOrigins: AllowedOrigins | undefined
  handshakeTimeout: number
  refusalLinger: number
  /** The heartbeat timer's clock: the real one, or a test's (see kClock below). */
  clock: Clock
  extendedConnect: boolean
  operations: ResolvedOperations
  asyncapi: ResolvedAsyncApiOptions
  pubsub: PubSubAdapter | undefined
  maxTopicsPerSocket: number
  maxTopicLength: number
}

/** Operational settings with every default filled in. */
export interface ResolvedOperations {
  heartbeat: { interval: number, timeout: number } | undefined
  idleTimeout: number
  maxBackpressure: number
  backpressurePolicy: 'close' | 'drop'
  maxPayload: number
  /** undefined: the route's maxPayload. */
  maxHeldBytes: number | undefined
  maxConnections: number
  rateLimit: Required<RateLimit> | undefined
}

// Defaults, and why:
// - heartbeat: a ping every 30 s stays under the idle timeouts of common proxies and load
//   balancers (often 60 s), so it also keeps them from cutting quiet connections; 10 s is
//   long enough for a slow mobile link to answer and short enough to free dead peers.
// - maxPayload: 1 MiB instead of ws' 100 MiB: a chat or RPC message is far smaller, and one
//   message must not be able to take 100 MiB of memory.
// - maxBackpressure: 1 MiB waiting per connection keeps 10,000 slow consumers under 10 GiB
//   in the worst case while absorbing ordinary bursts.
const defaultHeartbeat = { interval: 30_000, timeout: 10_000 }

const defaultOperations: ResolvedOperations = {
  heartbeat: defaultHeartbeat,
  idleTimeout: 0,
  maxBackpressure: 1024 * 1024,
  backpressurePolicy: 'close',
  maxPayload: 1024 * 1024,
  maxHeldBytes: undefined,
  maxConnections: Infinity,
  rateLimit: undefined
}

export const defaultHandshakeTimeout = 10_000

// Long enough for a client on a slow link to read the answer before the socket goes; short
// enough that clients which never hang up do not pile up.
export const defaultRefusalLinger = 5000

// setTimeout's longest delay: beyond it Node fires after 1 ms.
const longestTimer = 2 ** 31 - 1

/** Route settings over plugin settings over defaults; checked at registration. */
export function resolveOperations (options: OperationalOptions, base: ResolvedOperations, where: string): ResolvedOperations {
  const heartbeat = options.heartbeat === undefined
    ? base.heartbeat
    : options.heartbeat === false
      ? undefined
      : { ...defaultHeartbeat, ...base.heartbeat, ...options.heartbeat }
  if (heartbeat !== undefined) {
    checkDuration(heartbeat.interval, `${where}heartbeat.interval`, false)
    checkDuration(heartbeat.timeout, `${where}heartbeat.timeout`, false)
  }
  const rateLimit = options.rateLimit === undefined
    ? base.rateLimit
    : options.rateLimit === false
      ? undefined
      : { rate: options.rateLimit.rate, burst: options.rateLimit.burst ?? options.rateLimit.rate, policy: options.rateLimit.policy ?? 'close' }
  if (rateLimit !== undefined) {
    checkDuration(rateLimit.rate, `${where}rateLimit.rate`, false)
    checkDuration(rateLimit.burst, `${where}rateLimit.burst`, false)
    checkChoice(rateLimit.policy, ['close', 'drop'], `${where}rateLimit.policy`)
  }
  const resolved: ResolvedOperations = {
    heartbeat,
    idleTimeout: options.idleTimeout ?? base.idleTimeout,
    maxBackpressure: options.maxBackpressure ?? base.maxBackpressure,
    backpressurePolicy: options.backpressurePolicy ?? base.backpressurePolicy,
    maxPayload: options.maxPayload ?? base.maxPayload,
    maxHeldBytes: options.maxHeldBytes ?? base.maxHeldBytes,
    maxConnections: options.maxConnections ?? base.maxConnections,
    rateLimit
  }
  checkDuration(resolved.idleTimeout, `${where}idleTimeout`, true)
  checkDuration(resolved.maxBackpressure, `${where}maxBackpressure`, true)
  checkDuration(resolved.maxPayload, `${where}maxPayload`, false)
  if (resolved.maxHeldBytes !== undefined) checkDuration(resolved.maxHeldBytes, `${where}maxHeldBytes`, false)
  checkDuration(resolved.maxConnections, `${where}maxConnections`, true)
  checkChoice(resolved.backpressurePolicy, ['close', 'drop'], `${where}backpressurePolicy`)
  return resolved
}

/** A non-negative number (positive unless `zeroAllowed`); Infinity passes for limits. */
function checkDuration (value: number, name: string, zeroAllowed: boolean): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!zeroAllowed && value === 0)) {
    throw new InvalidOptionError(name, zeroAllowed ? 'must be a non-negative number' : 'must be a positive number')
  }
}

function checkChoice (value: string, choices: string[], name: string): void {
  if (!choices.includes(value)) throw new InvalidOptionError(name, `must be one of ${choices.map((choice) => `'${choice}'`).join(', ')}`)
}

// ws options that would have ws listen, attach to a server or filter paths itself:
// Fastify owns all of that here.
const ownedByThePlugin = ['server', 'port', 'path', 'noServer'] as const

export const defaultCloseTimeout = 5000

// Topic limits: a hundred topics is far more than a client joins (rooms, a feed, its own
// user), and 256 characters is room for any structured name (`room:<uuid>:thread:<uuid>`)
// while keeping what a client can make the server (and the broker) hold small.
export const defaultMaxTopicsPerSocket = 100
export const defaultMaxTopicLength = 256

export function resolvePluginOptions (options: FastifyUpgradeOptions): ResolvedOptions {
  checkNames(options, pluginNames, '', routeOnlyNames, registerNames)
  const ws = options.options ?? {}
  for (const key of ownedByThePlugin) {
    if (key in ws) {
      throw new InvalidOptionError(`options.${key}`, 'the plugin runs ws in noServer mode and routes upgrades through Fastify')
    }
  }
  if ('verifyClient' in ws) {
    throw new InvalidOptionError('options.verifyClient', 'verify clients in a Fastify hook (onRequest, preValidation or preHandler): hooks run under handshakeTimeout and maxConnections and can refuse with any HTTP response')
  }
  if ('WebSocket' in ws) {
    throw new InvalidOptionError('options.WebSocket', 'the socket is the plugin\'s own subclass of ws\' WebSocket (it holds, decodes and limits messages); add behaviour in the route handler instead')
  }
  checkFunction(options.errorHandler, 'errorHandler')
  checkFunction(options.preClose, 'preClose')
  const closeTimeout = options.closeTimeout ?? defaultCloseTimeout
  if (!Number.isFinite(closeTimeout) || closeTimeout < 0) {
    throw new InvalidOptionError('closeTimeout', 'must be a non-negative number of milliseconds')
  }
  checkMessageOptions(options, '')
  checkType(options.extendedConnect, 'boolean', 'extendedConnect')
  const handshakeTimeout = options.handshakeTimeout ?? defaultHandshakeTimeout
  checkDuration(handshakeTimeout, 'handshakeTimeout', false)
  const refusalLinger = options.refusalLinger ?? defaultRefusalLinger
  checkDuration(refusalLinger, 'refusalLinger', false)
  if (refusalLinger > longestTimer) throw new InvalidOptionError('refusalLinger', `must be at most ${longestTimer} (setTimeout's limit)`)
  const maxTopicsPerSocket = options.maxTopicsPerSocket ?? defaultMaxTopicsPerSocket
  const maxTopicLength = options.maxTopicLength ?? defaultMaxTopicLength
  checkCount(maxTopicsPerSocket, 'maxTopicsPerSocket')
  checkCount(maxTopicLength, 'maxTopicLength')
  // ws' own maxPayload option is the plugin-wide default when our option is not given.
  const operations = resolveOperations({ ...options, maxPayload: options.maxPayload ?? ws.maxPayload }, defaultOperations, '')
  return {
    ws,
    errorHandler: options.errorHandler,
    closeTimeout,
    preClose: options.preClose,
    onInvalidMessage: options.onInvalidMessage ?? 'close',
    // Checking what we send costs a schema check per message: worth it while developing,
    // off in production unless asked for.
    validateSend: options.validateSend ?? process.env.NODE_ENV !== 'production',
    allowedOrigins: options.allowedOrigins,
    handshakeTimeout,
    refusalLinger,
    // A clock given under a symbol, not a named option: only the plugin's own tests use it
    // (to drive heartbeats and idle timeouts without waiting in real time), so it stays out
    // of the public options, their types, their name check (symbol keys are not checked)
    // and their documentation, and cannot be set by a misspelt or copied option.
    clock: (options as { [kClock]?: Clock })[kClock] ?? realClock,
    extendedConnect: options.extendedConnect ?? true,
    operations,
    asyncapi: resolveAsyncApiOptions(options.asyncapi),
    pubsub: checkPubSubAdapter(options.pubsub),
    maxTopicsPerSocket,
    maxTopicLength
  }
}

function checkCount (value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(name, 'must be a positive integer')
}

export const defaultAsyncApiInfo: AsyncApiInfo = { title: 'WebSocket API', version: '1.0.0' }

// The viewer's page links its files relative to itself: plain segments keep the links plain
// (no route parameter, wildcard or character to escape).
const plainPath = /^(\/[\w.~-]+)+$/

/** The `asyncapi` option, checked at registration. */
function resolveAsyncApiOptions (value: AsyncApiOptions | undefined): ResolvedAsyncApiOptions {
  const options = checkObject(value, 'asyncapi')
  checkNames(options, asyncApiNames, 'asyncapi.', new Map())
  const info = { ...defaultAsyncApiInfo, ...checkObject(options.info, 'asyncapi.info') }
  for (const key of ['title', 'version'] as const) {
    if (typeof info[key] !== 'string') throw new InvalidOptionError(`asyncapi.info.${key}`, 'must be a string')
  }
  const servers = options.servers === undefined ? undefined : checkObject(options.servers, 'asyncapi.servers')
  for (const [name, server] of Object.entries(servers ?? {})) {
    for (const key of ['host', 'protocol'] as const) {
      if (typeof checkObject(server, `asyncapi.servers.${name}`)[key] !== 'string') throw new InvalidOptionError(`asyncapi.servers.${name}.${key}`, 'must be a string')
    }
  }
  const extra = checkObject(options.extra, 'asyncapi.extra')
  // Extension fields (x-...) are the user's to name.
  checkNames(Object.fromEntries(Object.entries(extra).filter(([key]) => !key.startsWith('x-'))), extraNames, 'asyncapi.extra.', writtenFields)
  const path = options.path
  if (path !== undefined && (typeof path !== 'string' || !plainPath.test(path))) {
    throw new InvalidOptionError('asyncapi.path', 'must be a URL path of plain segments (letters, digits, -, _, ., ~), such as /asyncapi')
  }
  checkType(options.viewer, 'boolean', 'asyncapi.viewer')
  if (options.viewer === true && path === undefined) throw new InvalidOptionError('asyncapi.viewer', 'the viewer page is served at asyncapi.path: set it too')
  return { info, servers, extra, path, viewer: path !== undefined && options.viewer !== false }
}

/** An options object (undefined: an empty one). */
function checkObject<T extends object> (value: T | undefined, name: string): T {
  if (value === undefined) return {} as T
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError(name, 'must be an object')
  return value
}

const policies = new Set(['close', 'reply', 'ignore'])

function checkMessageOptions (options: { onInvalidMessage?: unknown, validateSend?: unknown }, where: string): void {
  const policy = options.onInvalidMessage
  if (policy !== undefined && typeof policy !== 'function' && !policies.has(policy as string)) {
    throw new InvalidOptionError(`${where}onInvalidMessage`, "must be 'close', 'reply', 'ignore' or a function")
  }
  checkType(options.validateSend, 'boolean', `${where}validateSend`)
}

function checkFunction (value: unknown, name: string): void {
  checkType(value, 'function', name)
}

function checkType (value: unknown, type: 'boolean' | 'function', name: string): void {
  // eslint-disable-next-line valid-typeof -- `type` is typed as a union of valid typeof results, so tsc checks what this rule would
  if (value !== undefined && typeof value !== type) throw new InvalidOptionError(name, `must be a ${type}`)
}

/** `websocket: true` or `websocket: { ... }` on a route, checked once at registration. */
export function resolveRouteOptions (value: unknown, url: string): WebSocketRouteOptions {
  if (value === true || value === undefined) return {}
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError(`websocket (route ${url})`, 'must be true or an options object')
  }
  const route = value as WebSocketRouteOptions
  const where = `websocket (route ${url}).`
  checkNames(route, routeNames, where, pluginOnlyNames)
  checkFunction(route.errorHandler, `${where}errorHandler`)
  checkFunction(route.selectProtocol, `${where}selectProtocol`)
  checkType(route.requireProtocol, 'boolean', `${where}requireProtocol`)
  if (route.protocols !== undefined && (!Array.isArray(route.protocols) || route.protocols.length === 0)) {
    throw new InvalidOptionError(`${where}protocols`, 'must be a non-empty list of subprotocol names')
  }
  for (const protocol of route.protocols ?? []) {
    if (typeof protocol !== 'string' || !tokenPattern.test(protocol)) {
      throw new InvalidOptionError(`${where}protocols`, `"${String(protocol)}" is not a valid subprotocol name`)
    }
  }
  checkMessageOptions(route, where)
  return route
}

// The option names, each listed once, typed so that an option added to an interface and
// not here (or the reverse) does not compile: every name is checked at registration.
const operationalNames = {
  heartbeat: true,
  idleTimeout: true,
  maxBackpressure: true,
  backpressurePolicy: true,
  maxPayload: true,
  maxHeldBytes: true,
  maxConnections: true,
  rateLimit: true
} as const satisfies Record<keyof OperationalOptions, true>

const pluginOptionNames = {
  ...operationalNames,
  options: true,
  errorHandler: true,
  closeTimeout: true,
  onInvalidMessage: true,
  validateSend: true,
  allowedOrigins: true,
  handshakeTimeout: true,
  refusalLinger: true,
  preClose: true,
  asyncapi: true,
  extendedConnect: true,
  pubsub: true,
  maxTopicsPerSocket: true,
  maxTopicLength: true
} as const satisfies Record<keyof FastifyUpgradeOptions, true>

const asyncApiOptionNames = {
  info: true,
  servers: true,
  extra: true,
  path: true,
  viewer: true
} as const satisfies Record<keyof AsyncApiOptions, true>

const extraFieldNames = {
  id: true,
  defaultContentType: true,
  components: true
} as const satisfies Record<Exclude<keyof AsyncApiExtraFields, `x-${string}`>, true>

// The document's fields the plugin writes itself, and where each comes from.
const writtenFields = new Map([
  ['asyncapi', 'is the AsyncAPI version, which the plugin writes'],
  ['info', 'is the asyncapi.info option'],
  ['servers', 'is the asyncapi.servers option'],
  ['channels', 'come from the routes'],
  ['operations', 'come from the routes']
])

const routeOptionNames = {
  ...operationalNames,
  errorHandler: true,
  onInvalidMessage: true,
  validateSend: true,
  protocols: true,
  selectProtocol: true,
  requireProtocol: true,
  perMessageDeflate: true,
  allowedOrigins: true
} as const satisfies Record<keyof WebSocketRouteOptions, true>

// Fastify passes its own register options (prefix, logLevel, logSerializers) to the plugin.
const registerOptionNames = { prefix: true, logLevel: true, logSerializers: true } as const satisfies Record<keyof RegisterOptions, true>

const pluginNames: readonly string[] = Object.keys(pluginOptionNames)
const routeNames: readonly string[] = Object.keys(routeOptionNames)
const registerNames: readonly string[] = Object.keys(registerOptionNames)
const asyncApiNames: readonly string[] = Object.keys(asyncApiOptionNames)
const extraNames: readonly string[] = Object.keys(extraFieldNames)

// A name valid at the other level is not a typo: say where it belongs.
const routeOnlyNames = new Map(Object.keys(routeOptionNames).filter((name) => !(name in pluginOptionNames)).map((name) => [name,
  name === 'perMessageDeflate'
    ? "is a per-route option; plugin-wide, set ws' own: options: { perMessageDeflate }"
    : "is a per-route option: give it in the route's websocket: { ... }"]))
const pluginOnlyNames = new Map(Object.keys(pluginOptionNames).filter((name) => !(name in routeOptionNames)).map((name) => [name,
  'is a plugin-wide option: give it to app.register(fastifyUpgrade, { ... })']))

/** Refuses an option name nobody reads, naming the closest valid one when there is one. */
function checkNames (options: object, names: readonly string[], where: string, elsewhere: ReadonlyMap<string, string>, alsoAllowed: readonly string[] = []): void {
  for (const key of Object.keys(options)) {
    if (names.includes(key) || alsoAllowed.includes(key)) continue
    const belongs = elsewhere.get(key)
    if (belongs !== undefined) throw new InvalidOptionError(`${where}${key}`, `${key} ${belongs}`)
    const closest = closestName(key, names)
    throw new InvalidOptionError(`${where}${key}`, closest === undefined
      ? `unknown option; the options are ${names.join(', ')}`
      : `unknown option; did you mean ${closest}?`)
  }
}

/**
 * The valid name closest to a misspelt one, if it is close enough to be a typo: at most
 * two edits, and at most one per three characters (letter case ignored).
 */
function closestName (name: string, names: readonly string[]): string | undefined {
  const limit = Math.min(2, Math.floor(name.length / 3))
  let best: string | undefined
  let bestDistance = limit + 1
  for (const candidate of names) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/**
 * Edits (insert, delete, substitute, swap two adjacent characters) that turn `a` into `b`:
 * the optimal-string-alignment form of the Damerau-Levenshtein distance.
 */
function editDistance (a: string, b: string): number {
  // Three rows of the dynamic-programming table: two back (for swaps), previous, current.
  let before: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let distance = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, (before[j - 2] as number) + 1)
      current.push(distance)
    }
    before = previous
    previous = current
  }
  return previous[b.length] as number
}
