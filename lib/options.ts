// Plugin options: defaults, validation, and the merge of plugin-wide with per-route settings.
import type { ServerOptions } from 'ws'
import type { FastifyRequest } from 'fastify'
import { InvalidOptionError } from './errors.js'
import type { WebSocketConnection } from './connection.js'
import type { InvalidMessage } from './messages.js'

/** Decides what happens when a handler or a message listener throws. */
export type WebSocketErrorHandler = (
  error: unknown,
  socket: WebSocketConnection<never, never>,
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
  | ((error: InvalidMessage, socket: WebSocketConnection<never, never>, request: FastifyRequest) => void)

/** ws server options, less those that would make ws own the HTTP server or the path. */
export type WsServerOptions = Omit<ServerOptions, 'server' | 'port' | 'path' | 'noServer'>

export interface FastifyUpgradeOptions {
  /** Passed to ws' `WebSocketServer` (which always runs in `noServer` mode). */
  options?: WsServerOptions
  /** Overrides the default: log through `request.log.error` and close with 1011. */
  errorHandler?: WebSocketErrorHandler
  /** Milliseconds `app.close()` waits for closing handshakes before terminating sockets. Default 5000. */
  closeTimeout?: number
  /** Default policy for messages that fail `schema.message(s)`. Default 'close'. */
  onInvalidMessage?: InvalidMessagePolicy
  /** Check `socket.send` data against `schema.send`. Default: on unless NODE_ENV is 'production'. */
  validateSend?: boolean
}

/** Per-route settings, given as `websocket: { ... }` on the route. */
export interface WebSocketRouteOptions {
  errorHandler?: WebSocketErrorHandler
  onInvalidMessage?: InvalidMessagePolicy
  validateSend?: boolean
}

export interface ResolvedOptions {
  ws: WsServerOptions
  errorHandler: WebSocketErrorHandler | undefined
  closeTimeout: number
  onInvalidMessage: InvalidMessagePolicy
  validateSend: boolean
}

// ws options that would have ws listen, attach to a server or filter paths itself:
// Fastify owns all of that here.
const ownedByThePlugin = ['server', 'port', 'path', 'noServer'] as const

export const defaultCloseTimeout = 5000

export function resolvePluginOptions (options: FastifyUpgradeOptions): ResolvedOptions {
  const ws = options.options ?? {}
  for (const key of ownedByThePlugin) {
    if (key in ws) {
      throw new InvalidOptionError(`options.${key}`, 'the plugin runs ws in noServer mode and routes upgrades through Fastify')
    }
  }
  if (options.errorHandler !== undefined && typeof options.errorHandler !== 'function') {
    throw new InvalidOptionError('errorHandler', 'must be a function')
  }
  const closeTimeout = options.closeTimeout ?? defaultCloseTimeout
  if (!Number.isFinite(closeTimeout) || closeTimeout < 0) {
    throw new InvalidOptionError('closeTimeout', 'must be a non-negative number of milliseconds')
  }
  checkMessageOptions(options, '')
  return {
    ws,
    errorHandler: options.errorHandler,
    closeTimeout,
    onInvalidMessage: options.onInvalidMessage ?? 'close',
    // Checking what we send costs a schema check per message: worth it while developing,
    // off in production unless asked for.
    validateSend: options.validateSend ?? process.env.NODE_ENV !== 'production'
  }
}

const policies = new Set(['close', 'reply', 'ignore'])

function checkMessageOptions (options: { onInvalidMessage?: unknown, validateSend?: unknown }, where: string): void {
  const policy = options.onInvalidMessage
  if (policy !== undefined && typeof policy !== 'function' && !policies.has(policy as string)) {
    throw new InvalidOptionError(`${where}onInvalidMessage`, "must be 'close', 'reply', 'ignore' or a function")
  }
  if (options.validateSend !== undefined && typeof options.validateSend !== 'boolean') {
    throw new InvalidOptionError(`${where}validateSend`, 'must be a boolean')
  }
}

/** `websocket: true` or `websocket: { ... }` on a route, checked once at registration. */
export function resolveRouteOptions (value: unknown, url: string): WebSocketRouteOptions {
  if (value === true || value === undefined) return {}
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError(`websocket (route ${url})`, 'must be true or an options object')
  }
  const route = value as WebSocketRouteOptions
  if (route.errorHandler !== undefined && typeof route.errorHandler !== 'function') {
    throw new InvalidOptionError(`websocket.errorHandler (route ${url})`, 'must be a function')
  }
  checkMessageOptions(route, `websocket (route ${url}).`)
  return route
}
