// Accepting a WebSocket on a route: negotiate (negotiate.ts), hand the socket to ws
// (handshake.ts), wrap it (connection.ts) and run the route's handler. Everything a
// route needs for this is compiled once, when the route is registered.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { WebSocket, WebSocketServer } from 'ws'
import { accepting, closeWithInternalError, type SocketSettings, type WebSocketConnection } from './connection.js'
import { MessageCodec, builtinInvalidPolicy } from './messages.js'
import { compileNegotiation, negotiate, type Negotiation } from './negotiate.js'
import { resolveOperations, type WebSocketErrorHandler, type WebSocketRouteOptions } from './options.js'
import { BadHandshakeError, retryLater, ServiceUnavailableError } from './errors.js'
import type { RouteStats } from './stats.js'
import type { PendingUpgrade } from './pending-upgrade.js'
import type { RouteContext } from './route-context.js'
import type { WebSocketHandler } from '../types/index.js'

/** A route's WebSocket side, compiled at registration. */
export interface WebSocketRoute {
  handler: WebSocketHandler
  settings: SocketSettings
  negotiation: Negotiation
  server: WebSocketServer
  maxConnections: number
  /** The route's counters and open connections. */
  stats: RouteStats
}

export function compileWebSocketRoute (route: RouteOptions, routeOptions: WebSocketRouteOptions, handler: WebSocketHandler, context: RouteContext): WebSocketRoute {
  const plugin = context.options
  const codec = new MessageCodec(route.schema ?? {}, route.url)
  const onError = routeOptions.errorHandler ?? plugin.errorHandler
  const onInvalidMessage = routeOptions.onInvalidMessage ?? plugin.onInvalidMessage
  const validateSend = routeOptions.validateSend ?? plugin.validateSend
  const sends = route.schema?.send !== undefined
  const operations = resolveOperations(routeOptions, plugin.operations, `websocket (route ${route.url}).`)
  const lifecycle = context.lifecycle
  const routeStats = lifecycle.stats.route(route.url)
  for (const deadline of [operations.heartbeat?.interval, operations.heartbeat?.timeout, operations.idleTimeout]) {
    if (deadline !== undefined && deadline > 0) lifecycle.timer.resolve(deadline)
  }
  return {
    handler,
    maxConnections: operations.maxConnections,
    stats: routeStats,
    settings: {
      decoder: codec.decodes ? codec : undefined,
      sendChecker: validateSend && sends ? codec : undefined,
      encodesJson: sends,
      // A function of the route's own replaces the built-in policy.
      invalidPolicy: builtinInvalidPolicy(typeof onInvalidMessage === 'function' ? 'ignore' : onInvalidMessage),
      onInvalidMessage: typeof onInvalidMessage === 'function' ? onInvalidMessage : undefined,
      onError: onError === undefined ? undefined : guarded(onError),
      url: route.url,
      heartbeat: operations.heartbeat,
      idleTimeout: operations.idleTimeout,
      maxBackpressure: operations.maxBackpressure,
      maxHeldBytes: operations.maxHeldBytes ?? operations.maxPayload,
      backpressurePolicy: operations.backpressurePolicy,
      rateLimit: operations.rateLimit,
      timer: lifecycle.timer,
      stats: lifecycle.stats,
      routeStats,
      lifecycle,
      topics: context.topics
    },
    negotiation: compileNegotiation(routeOptions, plugin.allowedOrigins, route.url),
    server: context.handshake.serverFor({ perMessageDeflate: routeOptions.perMessageDeflate, maxPayload: operations.maxPayload })
  }
}

export function acceptWebSocket (
  instance: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  upgrade: PendingUpgrade,
  route: WebSocketRoute,
  context: RouteContext
): void {
  const lifecycle = context.lifecycle
  if (route.stats.connections.size >= route.maxConnections || lifecycle.openCount() >= context.options.operations.maxConnections) {
    upgrade.refuse(new ServiceUnavailableError('too many connections'), retryLater)
    return
  }
  const outcome = negotiate(request, route.negotiation)
  if ('error' in outcome) {
    upgrade.refuse(outcome.error, outcome.header)
    return
  }
  const extensions = context.handshake.extensions(route.server, outcome)
  if (extensions === undefined) {
    upgrade.refuse(new BadHandshakeError('unacceptable Sec-WebSocket-Extensions parameters'))
    return
  }
  // From here on the socket is ours, not Fastify's: no reply will be written.
  upgrade.claim(reply)
  accepting({ request, socket: upgrade.socket, settings: route.settings }, () => {
    context.handshake.accept(route.server, request.raw, upgrade, outcome, extensions, (ws: WebSocket) => {
      // ws created it with the class given as its `WebSocket` option (handshake.ts).
      const connection = ws as unknown as WebSocketConnection
      lifecycle.add(connection, route.stats)
      runHandler(instance, route.handler, connection, request)
    })
  })
}

function runHandler (instance: FastifyInstance, handler: WebSocketHandler, connection: WebSocketConnection, request: FastifyRequest): void {
  let result: unknown
  try {
    result = handler.call(instance, connection, request)
  } catch (error) {
    connection.handlerSettled()
    connection.fail(error)
    return
  }
  if (isThenable(result)) {
    result.then(() => { connection.handlerSettled() }, (error: unknown) => {
      connection.handlerSettled()
      connection.fail(error)
    })
  } else {
    connection.handlerSettled()
  }
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}

/** A custom error handler that throws falls back to the default. */
function guarded (onError: WebSocketErrorHandler): WebSocketErrorHandler {
  return (error, socket, request) => {
    try {
      onError(error, socket, request)
    } catch (handlerError) {
      closeWithInternalError(handlerError, socket, request.log)
    }
  }
}
