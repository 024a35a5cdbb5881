// onRoute: turns `websocket` / `wsHandler` route options into one upgrade-aware
// Fastify handler. Everything before it (routing, params, schemas, hooks) is Fastify's.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { WebSocketConnection, type SocketSettings } from './connection.js'
import { MessageCodec, invalidMessageHandler, type MessageSchemas } from './messages.js'
import { BadHandshakeError, InvalidRouteMethodError, ServerClosingError, UnsupportedVersionError, UpgradeRequiredError } from './errors.js'
import { connectionRequestsUpgrade, upgradeOffersWebSocket, webSocketHandshakeProblem } from './headers.js'
import type { Handshake } from './handshake.js'
import type { Lifecycle } from './lifecycle.js'
import { resolveRouteOptions, type ResolvedOptions, type WebSocketErrorHandler, type WebSocketRouteOptions } from './options.js'
import { kUpgrade, type PendingUpgrade, type UpgradeRequest } from './upgrade.js'
import { CloseCode } from './close-codes.js'

type HttpHandler = (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => unknown
type SocketHandler = (this: FastifyInstance, socket: WebSocketConnection, request: FastifyRequest) => unknown

/** What every websocket route shares: the plugin's settings and machinery. */
export interface RouteContext {
  options: ResolvedOptions
  handshake: Handshake
  lifecycle: Lifecycle
}

export function wrapRoute (route: RouteOptions, context: RouteContext): void {
  const { websocket, wsHandler } = route
  if ((websocket === undefined || websocket === false) && wsHandler === undefined) return

  const methods = Array.isArray(route.method) ? route.method : [route.method]
  for (const method of methods) {
    // HEAD is Fastify's automatic twin of a GET route; it can never upgrade and is
    // answered like any plain request.
    if (method !== 'GET' && method !== 'HEAD') throw new InvalidRouteMethodError(route.url, method)
  }

  const routeOptions = resolveRouteOptions(websocket, route.url)
  const httpHandler: HttpHandler = wsHandler !== undefined ? route.handler : requireUpgrade
  if (!methods.includes('GET')) {
    // The HEAD twin never upgrades: no need to compile its message schemas again.
    route.handler = httpHandler
    return
  }
  const settings = socketSettings(route, routeOptions, context.options)
  const socketHandler = (wsHandler ?? route.handler) as unknown as SocketHandler

  route.handler = function upgradeAwareHandler (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    const upgrade = (request.raw as UpgradeRequest)[kUpgrade]
    if (upgrade === undefined || !isWebSocketUpgrade(request)) return httpHandler.call(this, request, reply)
    acceptWebSocket(this, request, reply, upgrade, socketHandler, settings, context)
  }
}

/**
 * RFC 9110 section 7.8: only an HTTP/1.1 GET with `Connection: upgrade` and an
 * `Upgrade` list naming websocket is a WebSocket handshake. Anything else is served as
 * if the Upgrade header were absent.
 */
function isWebSocketUpgrade (request: FastifyRequest): boolean {
  const raw = request.raw
  return raw.method === 'GET' &&
    raw.httpVersion === '1.1' &&
    connectionRequestsUpgrade(raw.headers) &&
    upgradeOffersWebSocket(raw.headers)
}

/** The HTTP side of a WebSocket-only route: 426 naming the protocol to upgrade to. */
function requireUpgrade (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
  // Setting Connection ourselves stops Node adding "close"; keep it when the connection ends.
  const connection = reply.raw.shouldKeepAlive ? 'Upgrade' : 'Upgrade, close'
  reply.code(426).header('upgrade', 'websocket').header('connection', connection)
  reply.send(new UpgradeRequiredError('websocket'))
}

function acceptWebSocket (
  instance: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  upgrade: PendingUpgrade,
  handler: SocketHandler,
  settings: SocketSettings,
  context: RouteContext
): void {
  if (context.lifecycle.closing) {
    reply.header('retry-after', '5').send(new ServerClosingError())
    return
  }
  const problem = webSocketHandshakeProblem(request.headers)
  if (problem !== undefined) {
    if (problem.kind === 'version') {
      reply.header('sec-websocket-version', '13').send(new UnsupportedVersionError(problem.detail))
    } else {
      reply.send(new BadHandshakeError(problem.detail))
    }
    return
  }

  // From here on the socket is ours, not Fastify's: no reply will be written.
  reply.hijack()
  reply.raw.detachSocket(upgrade.socket as Socket)
  context.handshake.accept(request.raw, upgrade, (ws: WebSocket) => {
    const connection = new WebSocketConnection(ws, request, settings)
    context.lifecycle.add(connection as unknown as WebSocketConnection<never, never>, upgrade.socket)
    runHandler(instance, handler, connection, request)
  })
}

function runHandler (instance: FastifyInstance, handler: SocketHandler, connection: WebSocketConnection, request: FastifyRequest): void {
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

/** What every connection of this route shares, resolved once at registration. */
function socketSettings (route: RouteOptions, routeOptions: WebSocketRouteOptions, pluginOptions: ResolvedOptions): SocketSettings {
  const codec = new MessageCodec((route.schema ?? {}) as MessageSchemas, route.url)
  const onError = routeOptions.errorHandler ?? pluginOptions.errorHandler ?? closeWithInternalError
  const validateSend = routeOptions.validateSend ?? pluginOptions.validateSend
  return {
    decoder: codec.decodes ? codec : undefined,
    sendChecker: validateSend && route.schema?.send !== undefined ? codec : undefined,
    encodesJson: route.schema?.send !== undefined,
    onInvalidMessage: invalidMessageHandler(routeOptions.onInvalidMessage ?? pluginOptions.onInvalidMessage),
    onError: onError === closeWithInternalError ? onError : guarded(onError),
    url: route.url
  }
}

/** A custom error handler that throws falls back to the default. */
function guarded (onError: WebSocketErrorHandler): WebSocketErrorHandler {
  return (error, socket, request) => {
    try {
      onError(error, socket, request)
    } catch (handlerError) {
      closeWithInternalError(handlerError, socket, request)
    }
  }
}

/** The default error policy: log through the request's logger and close this connection only. */
function closeWithInternalError (error: unknown, socket: WebSocketConnection<never, never>, request: FastifyRequest): void {
  request.log.error({ err: error }, 'websocket handler failed')
  socket.close(CloseCode.InternalError, 'internal error')
}
