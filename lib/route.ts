// onRoute: turns `websocket` / `wsHandler` / `upgrade` route options into one
// upgrade-aware Fastify handler. Everything before it (routing, params, schemas, hooks)
// is Fastify's; this file only decides what a request that reaches the route gets.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { FastifyError } from '@fastify/error'
import { acceptWebSocket, compileWebSocketRoute, type WebSocketRoute } from './accept.js'
import { describeRoute } from './asyncapi.js'
import type { RouteContext } from './route-context.js'
import { ConnectNotAllowedError, Http2UnsupportedError, InvalidOptionError, InvalidRouteMethodError, retryLater, ServerClosingError, UpgradeRequiredError } from './errors.js'
import { chooseUpgrade, connectionRequestsUpgrade, isWebSocketConnect, protocolTokenPattern } from './headers.js'
import { resolveRouteOptions } from './options.js'
import { switchProtocol, } from './other-protocols.js'
import type { UpgradeRequest } from './pending-upgrade.js'
import type { ProtocolUpgradeHandler, WebSocketHandler } from '../types/index.js'
import { kProtocols, kUpgrade } from './symbols.js'

type HttpHandler = (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => unknown

/** What a wrapped route may switch to, kept in its config for request.ws. */
interface RouteProtocols {
  speaksWebSocket: boolean
  /** Other protocols, by lower-case token, to the route's spelling. */
  others: ReadonlyMap<string, string>
}

/**
 * The `handler` of a route that only speaks upgraded protocols (`upgrade: {...}` without
 * WebSocket): plain requests get 426 listing the route's protocols.
 */
export function upgradeRequired (this: FastifyInstance, _request: FastifyRequest, reply: FastifyReply): void {
  // Replaced per route by wrapRoute; reached only on a route the plugin did not wrap.
  reply.code(426).send(new UpgradeRequiredError('another protocol'))
}

export function wrapRoute (route: RouteOptions, context: RouteContext, instance: FastifyInstance): void {
  const { websocket, wsHandler, upgrade: protocolHandlers } = route
  const speaksWebSocket = (websocket !== undefined && websocket !== false) || wsHandler !== undefined
  if (!speaksWebSocket && protocolHandlers === undefined) {
    // Seen, and plain: see routeSeen.
    route.config = { ...route.config, [kProtocols]: null }
    return
  }

  const methods = Array.isArray(route.method) ? route.method : [route.method]
  const automaticHead = isAutomaticHead(route)
  for (const method of methods) {
    if (method === 'GET' || (method === 'HEAD' && automaticHead)) continue
    // Fastify's automatic HEAD twin of the GET route is answered like any plain request;
    // a HEAD route of the user's own would only ever do that, so it is a mistake.
    throw new InvalidRouteMethodError(route.url, method === 'HEAD' ? 'HEAD: a HEAD request never upgrades (Fastify already answers HEAD for the GET route)' : method)
  }
  // The handler runs on every request (as the socket or as the HTTP handler): a
  // non-function would fail each of them instead of the registration.
  if (wsHandler !== undefined && typeof wsHandler !== 'function') throw new InvalidOptionError(`wsHandler (route ${route.url})`, 'must be a function')
  if (typeof route.handler !== 'function') throw new InvalidOptionError(`handler (route ${route.url})`, 'must be a function')

  const others = compileProtocols(protocolHandlers, route.url)
  const upgradeHeader = [...(speaksWebSocket ? ['websocket'] : []), ...others.handlers.keys()].join(', ')
  const upgradeOnly = speaksWebSocket ? wsHandler === undefined : route.handler === upgradeRequired
  const plainHandler = upgradeOnly ? requireUpgrade(upgradeHeader, speaksWebSocket && context.options.extendedConnect) : route.handler
  const routeOptions = resolveRouteOptions(websocket, route.url)
  const protocols: RouteProtocols = { speaksWebSocket, others: others.tokens }
  // Read back through request.routeOptions.config by request.ws (Fastify copies the config).
  route.config = { ...route.config, [kProtocols]: protocols }
  // The schema as declared, for the AsyncAPI document: `hide` below is for OpenAPI only.
  const declaredSchema = route.schema
  // No HTTP side to document: OpenAPI generators (@fastify/swagger) skip hidden routes
  // instead of listing a GET that answers 426. A copy: the user's schema object may be shared.
  if (upgradeOnly) route.schema = { ...route.schema, hide: true } as RouteOptions['schema']
  if (!methods.includes('GET')) {
    // The HEAD twin never upgrades: no need to compile its WebSocket side again.
    route.handler = plainHandler
    return
  }
  const webSocketRoute: WebSocketRoute | undefined = speaksWebSocket
    ? compileWebSocketRoute(route, routeOptions, (wsHandler ?? route.handler) as unknown as WebSocketHandler, context)
    : undefined
  const documented = describeRoute(route.url, declaredSchema, routeOptions, speaksWebSocket, [...others.handlers.keys()], instance)
  if (documented !== undefined) context.asyncapi.add(documented)

  route.handler = function upgradeAwareHandler (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    const upgrade = (request.raw as UpgradeRequest)[kUpgrade]
    const protocol = upgrade === undefined ? undefined : requestedProtocol(request, protocols)
    if (protocol === undefined) return plainHandler.call(this, request, reply)
    const pending = upgrade as NonNullable<typeof upgrade>
    if (context.lifecycle.closing) {
      pending.refuse(new ServerClosingError(), retryLater)
      return
    }
    if (protocol === 'websocket') acceptWebSocket(this, request, reply, pending, webSocketRoute as WebSocketRoute, context)
    else switchProtocol(this, request, reply, pending, protocol, others.handlers.get(protocol) as ProtocolUpgradeHandler, context.lifecycle)
  }
}

/**
 * `request.ws`: the request came through Node's 'upgrade' event, or is an HTTP/2 extended
 * CONNECT, and is headed for the route's WebSocket side, exactly as the route's handler
 * will decide (so a hook that lets WebSocket clients through cannot be passed by, say,
 * `Upgrade: h2c` to a dual route that then serves it as HTTP). Plain requests pay one
 * property read (HTTP/2 ones a second).
 */
export function isWebSocketRequest (this: FastifyRequest): boolean {
  const raw = this.raw
  if ((raw as { upgrade?: boolean }).upgrade !== true && !(raw.httpVersionMajor === 2 && isWebSocketConnect(raw.headers))) return false
  const protocols = protocolsOf(this)
  return protocols != null && requestedProtocol(this, protocols) === 'websocket'
}

/** The route's protocols; null for a plain route; undefined for a route the plugin never saw. */
function protocolsOf (request: FastifyRequest): RouteProtocols | null | undefined {
  return (request.routeOptions.config as { [kProtocols]?: RouteProtocols | null })[kProtocols]
}

/**
 * Whether the plugin's onRoute hook saw the request's route. Fastify runs onRoute hooks
 * when a route is declared, and gives a plugin no way to list the routes declared before
 * it loaded (`app.get(..., { websocket: true })` before `await app.register(plugin)`): the
 * first upgrade request to such a route is where the mistake can be named. Fastify's
 * not-found handler is no route of anyone's.
 */
export function routeSeen (request: FastifyRequest): boolean {
  return request.is404 || protocolsOf(request) !== undefined
}

/**
 * Fastify adds a HEAD route for every GET route (exposeHeadRoute) and runs onRoute for
 * it with the GET route's options, marking it only by the onSend handler it appends,
 * which strips the body. Every WebSocket route relies on this check, so a change in
 * Fastify would fail registrations loudly, never pass a user's HEAD route silently.
 */
function isAutomaticHead (route: RouteOptions): boolean {
  const onSend: unknown = route.onSend
  const last: unknown = Array.isArray(onSend) ? onSend[onSend.length - 1] : onSend
  return route.method === 'HEAD' && typeof last === 'function' && last.name === 'headRouteOnSendHandler'
}

/** `upgrade: { 'name/version': handler }`, checked once: token syntax and handler type. */
function compileProtocols (value: unknown, url: string): { handlers: Map<string, ProtocolUpgradeHandler>, tokens: Map<string, string> } {
  const handlers = new Map<string, ProtocolUpgradeHandler>()
  const tokens = new Map<string, string>()
  if (value === undefined) return { handlers, tokens }
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError(`upgrade (route ${url})`, 'must map protocol names to handlers')
  for (const [protocol, handler] of Object.entries(value)) {
    if (!protocolTokenPattern.test(protocol) || protocol.toLowerCase().split('/')[0] === 'websocket') {
      throw new InvalidOptionError(`upgrade (route ${url})`, `"${protocol}" is not a protocol token other than websocket (use the websocket option)`)
    }
    if (typeof handler !== 'function') throw new InvalidOptionError(`upgrade['${protocol}'] (route ${url})`, 'must be a function')
    handlers.set(protocol, handler as ProtocolUpgradeHandler)
    tokens.set(protocol.toLowerCase(), protocol)
  }
  return { handlers, tokens }
}

/**
 * What serves plain requests on a route that only speaks upgraded protocols: 426 (505 on
 * HTTP/2, naming how the route is reached: `overHttp2`, a WebSocket route can be through
 * an extended CONNECT).
 */
function requireUpgrade (upgradeHeader: string, overHttp2: boolean): HttpHandler {
  const http2Error = new Http2UnsupportedError(overHttp2
    ? 'open a WebSocket with an extended CONNECT (RFC 8441, :protocol websocket), or over HTTP/1.1 with Upgrade: websocket'
    : `connect with HTTP/1.1 and Upgrade: ${upgradeHeader}`)
  return function requireUpgrade (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
    // HTTP/2 has no Upgrade (RFC 9113 section 8.2.2), so 426 would name the impossible.
    if (request.raw.httpVersionMajor >= 2) {
      reply.send(http2Error)
      return
    }
    // Setting Connection ourselves stops Node adding "close"; keep it when the connection ends.
    const connection = reply.raw.shouldKeepAlive ? 'Upgrade' : 'Upgrade, close'
    reply.code(426).header('upgrade', upgradeHeader).header('connection', connection)
    reply.send(new UpgradeRequiredError(upgradeHeader))
  }
}

/**
 * Whether an extended CONNECT (HTTP/2) may go on to its route: only to a route that
 * speaks WebSocket. Elsewhere there is no GET to fall back to as an HTTP/1.1 Upgrade
 * does: 405 (RFC 9110 section 15.5.6, the method is "not supported by the target
 * resource"), with the route's methods in Allow as that section requires. Routes the
 * plugin never saw are left to the caller (see routeSeen); unknown paths get Fastify's 404.
 */
export function refuseConnect (request: FastifyRequest): { error: FastifyError, allow: string } | undefined {
  const protocols = protocolsOf(request)
  if (request.is404 || protocols === undefined || protocols?.speaksWebSocket === true) return undefined
  const method = request.routeOptions.method
  return { error: new ConnectNotAllowedError(String(request.routeOptions.url)), allow: (Array.isArray(method) ? method : [method]).join(', ') }
}

/**
 * RFC 9110 section 7.8: only an HTTP/1.1 request with `Connection: upgrade` can switch,
 * to the first protocol of its `Upgrade` list that the route speaks. Anything else is
 * served as if the Upgrade header were absent. (Only body-less GETs get here: see
 * mayUpgrade in upgrade-listener.ts.) On HTTP/2 only an extended CONNECT can, to
 * WebSocket (RFC 8441; http2.ts refuses other :protocol values before routing).
 */
function requestedProtocol (request: FastifyRequest, route: RouteProtocols): string | undefined {
  const raw = request.raw
  if (raw.httpVersionMajor === 2) return route.speaksWebSocket && isWebSocketConnect(raw.headers) ? 'websocket' : undefined
  if (raw.httpVersion !== '1.1' || !connectionRequestsUpgrade(raw.headers)) return undefined
  return chooseUpgrade(raw.headers, route.speaksWebSocket, route.others)
}
