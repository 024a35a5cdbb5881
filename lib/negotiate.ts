// The WebSocket-specific checks of a handshake, before ws sees it: key and version,
// origin, subprotocol and extension syntax. Each refusal is an HTTP error; nothing here
// touches the socket.
import type { FastifyRequest } from 'fastify'
import type { FastifyError } from '@fastify/error'
import { BadHandshakeError, InvalidOptionError, OriginRefusedError, ProtocolRequiredError, UnsupportedProtocolError, UnsupportedVersionError } from './errors.js'
import { formatExtensions, parseExtensions } from './extensions.js'
import { tokenPattern, webSocketHandshakeProblem } from './headers.js'
import { originCheck, type AllowedOrigins, type OriginCheck } from './origin.js'
import type { SelectProtocol, WebSocketRouteOptions } from './options.js'
import { parseSubprotocols, selectSubprotocol } from './subprotocol.js'

/** A route's negotiation rules, compiled once at registration. */
export interface Negotiation {
  checkOrigin: OriginCheck | undefined
  /** undefined: the route leaves the subprotocol to ws (its handleProtocols or the first offered). */
  select: SelectProtocol | undefined
  requireProtocol: boolean
  /** For error messages: what the route speaks. */
  protocolList: string
}

export function compileNegotiation (route: WebSocketRouteOptions, pluginOrigins: AllowedOrigins | undefined, url: string): Negotiation {
  const allowed = route.allowedOrigins ?? pluginOrigins
  const protocols = route.protocols
  for (const protocol of protocols ?? []) {
    if (typeof protocol !== 'string' || !tokenPattern.test(protocol)) {
      throw new InvalidOptionError(`websocket (route ${url}).protocols`, `"${String(protocol)}" is not a valid subprotocol name`)
    }
  }
  const select = route.selectProtocol ?? (protocols === undefined ? undefined : (offered: string[]) => selectSubprotocol(offered, protocols))
  return {
    checkOrigin: allowed === undefined ? undefined : originCheck(allowed, `allowedOrigins (route ${url})`),
    select,
    requireProtocol: route.requireProtocol ?? select !== undefined,
    protocolList: protocols?.join(', ') ?? 'a subprotocol chosen by the server'
  }
}

/**
 * The most subprotocols, and the most extensions, a client may offer. Browsers offer a
 * handful; a long list only makes every later step (ws' parsing, selectors) cost more.
 */
export const maxOffers = 64

/** The outcome: the subprotocol to answer with (undefined: ws decides), or why the handshake is refused. */
export type NegotiationResult = { protocol: string | false | undefined } | { error: FastifyError, header?: [string, string] }

export function negotiate (request: FastifyRequest, rules: Negotiation): NegotiationResult {
  const headers = request.headers
  const problem = webSocketHandshakeProblem(headers)
  if (problem !== undefined) {
    return problem.kind === 'version'
      ? { error: new UnsupportedVersionError(problem.detail), header: ['sec-websocket-version', '13'] }
      : { error: new BadHandshakeError(problem.detail) }
  }
  // Browsers send Origin on every WebSocket handshake; see origin.ts for requests without one.
  if (rules.checkOrigin !== undefined && !rules.checkOrigin(headers.origin, request)) {
    request.log.info({ origin: headers.origin }, 'websocket origin refused')
    return { error: new OriginRefusedError() }
  }
  const extensions = parseExtensions(headers['sec-websocket-extensions'])
  if (extensions === undefined) return { error: new BadHandshakeError('malformed Sec-WebSocket-Extensions') }
  if (extensions.length > maxOffers) return { error: new BadHandshakeError(`more than ${maxOffers} extensions offered`) }
  const offered = parseSubprotocols(headers['sec-websocket-protocol'])
  if (offered === undefined) return { error: new BadHandshakeError('malformed Sec-WebSocket-Protocol') }
  if (offered.length > maxOffers) return { error: new BadHandshakeError(`more than ${maxOffers} subprotocols offered`) }
  // ws parses both headers again, more strictly (it refuses empty list elements and an
  // empty header, which RFC 9110 lets a recipient skip): give it the lists as parsed here.
  if (extensions.length > 0) headers['sec-websocket-extensions'] = formatExtensions(extensions)
  else delete headers['sec-websocket-extensions']
  if (offered.length > 0) headers['sec-websocket-protocol'] = offered.join(', ')
  else delete headers['sec-websocket-protocol']
  if (rules.select === undefined) return { protocol: undefined }
  if (offered.length === 0) {
    return rules.requireProtocol ? { error: new ProtocolRequiredError(rules.protocolList) } : { protocol: false }
  }
  const chosen = rules.select(offered, request)
  // A selector may only pick among what was offered (RFC 6455 section 4.2.2).
  if (typeof chosen === 'string' && offered.includes(chosen)) return { protocol: chosen }
  return rules.requireProtocol ? { error: new UnsupportedProtocolError(rules.protocolList) } : { protocol: false }
}
