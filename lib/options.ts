// Plugin options: defaults, validation, and the merge of plugin-wide with per-route settings.
import type { PerMessageDeflateOptions, ServerOptions } from 'ws'
import type { FastifyRequest } from 'fastify'
import { InvalidOptionError } from './errors.js'
import type { WebSocketConnection } from './connection.js'
import type { InvalidMessage } from './messages.js'
import type { AllowedOrigins } from './origin.js'

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

/** Picks the subprotocol from the client's offer; undefined or false refuses the handshake. */
export type SelectProtocol = (offered: string[], request: FastifyRequest) => string | false | undefined

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
  /** Browser origins allowed to connect to every route (a route may set its own). Default: any. */
  allowedOrigins?: AllowedOrigins
}

/** Per-route settings, given as `websocket: { ... }` on the route. */
export interface WebSocketRouteOptions {
  errorHandler?: WebSocketErrorHandler
  onInvalidMessage?: InvalidMessagePolicy
  validateSend?: boolean
  /** Subprotocols this route speaks, most preferred first. */
  protocols?: string[]
  /** Overrides the choice among the client's offered subprotocols. */
  selectProtocol?: SelectProtocol
  /** Refuse clients that offer no subprotocol. Default: true when `protocols` or `selectProtocol` is set. */
  requireProtocol?: boolean
  /** permessage-deflate for this route, as ws' option of that name. Default: the plugin's `options.perMessageDeflate`, itself off by default. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions
  /** Browser origins allowed to connect to this route, instead of the plugin-wide list. */
  allowedOrigins?: AllowedOrigins
}

export interface ResolvedOptions {
  ws: WsServerOptions
  errorHandler: WebSocketErrorHandler | undefined
  closeTimeout: number
  onInvalidMessage: InvalidMessagePolicy
  validateSend: boolean
  allowedOrigins: AllowedOrigins | undefined
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
  checkFunction(options.errorHandler, 'errorHandler')
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
    validateSend: options.validateSend ?? process.env.NODE_ENV !== 'production',
    allowedOrigins: options.allowedOrigins
  }
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
  checkFunction(route.errorHandler, `${where}errorHandler`)
  checkFunction(route.selectProtocol, `${where}selectProtocol`)
  checkType(route.requireProtocol, 'boolean', `${where}requireProtocol`)
  if (route.protocols !== undefined && (!Array.isArray(route.protocols) || route.protocols.length === 0)) {
    throw new InvalidOptionError(`${where}protocols`, 'must be a non-empty list of subprotocol names')
  }
  checkMessageOptions(route, where)
  return route
}
