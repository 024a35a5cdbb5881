// onRoute: turns `websocket` / `wsHandler` / `upgrade` route options into one
// upgrade-aware Fastify handler. Everything before it (routing, params, schemas, hooks)
// is Fastify's; this file only decides what a request that reaches the route gets.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { acceptWebSocket, compileWebSocketRoute, type RouteContext, type SocketHandler, type WebSocketRoute } from './accept.js'
import { Http2UnsupportedError, InvalidOptionError, InvalidRouteMethodError, retryLater, ServerClosingError, UpgradeRequiredError } from './errors.js'
import { chooseUpgrade, connectionRequestsUpgrade } from './headers.js'
import { resolveRouteOptions } from './options.js'
import { tokenPattern } from './subprotocol.js'
import { switchProtocol, type ProtocolHandler } from './protocol-upgrade.js'
import { kUpgrade, type UpgradeRequest } from './pending-upgrade.js'

export type { RouteContext } from './accept.js'

type HttpHandler = (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => unknown

/**
 * The `handler` of a route that only speaks upgraded protocols (`upgrade: {...}` without
 * WebSocket): plain requests get 426 listing the route's protocols.
 */
export function upgradeRequired (this: FastifyInstance, _request: FastifyRequest, reply: FastifyReply): void {
  // Replaced per route by wrapRoute; reached only on a route the plugin did not wrap.
  reply.code(426).send(new UpgradeRequiredError('another protocol'))
}

// protocol-name ["/" protocol-version] (RFC 9110 section 7.8), both tokens.
const tokenChars = tokenPattern.source.slice(1, -1) // the token rule without its anchors
const protocolToken = new RegExp(`^${tokenChars}(/${tokenChars})?$`)

export function wrapRoute (route: RouteOptions, context: RouteContext): void {
  const { websocket, wsHandler, upgrade: protocolHandlers } = route
  const speaksWebSocket = (websocket !== undefined && websocket !== false) || wsHandler !== undefined
  if (!speaksWebSocket && protocolHandlers === undefined) return

  const methods = Array.isArray(route.method) ? route.method : [route.method]
  for (const method of methods) {
    // HEAD is Fastify's automatic twin of a GET route; it can never upgrade and is
    // answered like any plain request.
    if (method !== 'GET' && method !== 'HEAD') throw new InvalidRouteMethodError(route.url, method)
  }

  const others = compileProtocols(protocolHandlers, route.url)
  const upgradeHeader = [...(speaksWebSocket ? ['websocket'] : []), ...others.handlers.keys()].join(', ')
  const plainHandler = chooseHttpHandler(route, speaksWebSocket, wsHandler !== undefined, upgradeHeader)
  const routeOptions = resolveRouteOptions(websocket, route.url)
  if (!methods.includes('GET')) {
    // The HEAD twin never upgrades: no need to compile its WebSocket side again.
    route.handler = plainHandler
    return
  }
  const webSocketRoute: WebSocketRoute | undefined = speaksWebSocket
    ? compileWebSocketRoute(route, routeOptions, (wsHandler ?? route.handler) as unknown as SocketHandler, context)
    : undefined

  route.handler = function upgradeAwareHandler (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    const upgrade = (request.raw as UpgradeRequest)[kUpgrade]
    const protocol = upgrade === undefined ? undefined : requestedProtocol(request, webSocketRoute !== undefined, others.tokens)
    if (protocol === undefined) return plainHandler.call(this, request, reply)
    const pending = upgrade as NonNullable<typeof upgrade>
    if (context.lifecycle.closing) {
      pending.refuse(new ServerClosingError(), retryLater)
      return
    }
    if (protocol === 'websocket') acceptWebSocket(this, request, reply, pending, webSocketRoute as WebSocketRoute, context)
    else switchProtocol(this, request, reply, pending, protocol, others.handlers.get(protocol) as ProtocolHandler, context.lifecycle)
  }
}

/** `upgrade: { 'name/version': handler }`, checked once: token syntax and handler type. */
function compileProtocols (value: unknown, url: string): { handlers: Map<string, ProtocolHandler>, tokens: Map<string, string> } {
  const handlers = new Map<string, ProtocolHandler>()
  const tokens = new Map<string, string>()
  if (value === undefined) return { handlers, tokens }
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError(`upgrade (route ${url})`, 'must map protocol names to handlers')
  for (const [protocol, handler] of Object.entries(value)) {
    if (!protocolToken.test(protocol) || protocol.toLowerCase().split('/')[0] === 'websocket') {
      throw new InvalidOptionError(`upgrade (route ${url})`, `"${protocol}" is not a protocol token other than websocket (use the websocket option)`)
    }
    if (typeof handler !== 'function') throw new InvalidOptionError(`upgrade['${protocol}'] (route ${url})`, 'must be a function')
    handlers.set(protocol, handler as ProtocolHandler)
    tokens.set(protocol.toLowerCase(), protocol)
  }
  return { handlers, tokens }
}

/** What serves requests that do not upgrade: the HTTP handler of a dual route, or 426. */
function chooseHttpHandler (route: RouteOptions, speaksWebSocket: boolean, hasWsHandler: boolean, upgradeHeader: string): HttpHandler {
  const upgradeOnly = speaksWebSocket ? !hasWsHandler : route.handler === upgradeRequired
  if (!upgradeOnly) return route.handler
  return function requireUpgrade (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
    // HTTP/2 has no Upgrade (RFC 9113 section 8.2.2), so 426 would name the impossible.
    if (request.raw.httpVersionMajor >= 2) {
      reply.send(new Http2UnsupportedError())
      return
    }
    // Setting Connection ourselves stops Node adding "close"; keep it when the connection ends.
    const connection = reply.raw.shouldKeepAlive ? 'Upgrade' : 'Upgrade, close'
    reply.code(426).header('upgrade', upgradeHeader).header('connection', connection)
    reply.send(new UpgradeRequiredError(upgradeHeader))
  }
}

/**
 * RFC 9110 section 7.8: only an HTTP/1.1 request with `Connection: upgrade` can switch,
 * to the first protocol of its `Upgrade` list that the route speaks. Anything else is
 * served as if the Upgrade header were absent. (upgrade.ts only lets body-less GETs here.)
 */
function requestedProtocol (request: FastifyRequest, speaksWebSocket: boolean, others: ReadonlyMap<string, string>): string | undefined {
  const raw = request.raw
  if (raw.httpVersion !== '1.1' || !connectionRequestsUpgrade(raw.headers)) return undefined
  return chooseUpgrade(raw.headers, speaksWebSocket, others)
}
