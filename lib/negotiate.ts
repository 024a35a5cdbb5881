// The WebSocket-specific checks of a handshake, before ws sees it: key and version,
// origin, subprotocol and extension syntax. Each refusal is an HTTP error; nothing here
// touches the socket.
import type { FastifyRequest } from 'fastify'
import type { FastifyError } from '@fastify/error'
import { BadHandshakeError, OriginRefusedError, ProtocolRequiredError, UnsupportedProtocolError, UnsupportedVersionError } from './errors.js'
import { formatExtensions, parseExtensions } from './extensions.js'
import { webSocketHandshakeProblem } from './headers.js'
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
export type NegotiationResult = Accepted | { error: FastifyError, header?: [string, string] }

/** An accepted handshake: the subprotocol to answer with, and the offers as parsed here. */
export interface Accepted {
  /** undefined: ws decides (its handleProtocols, or the first offered); false: none. */
  protocol: string | false | undefined
  /** Sec-WebSocket-Extensions without empty elements or quotes, for ws; undefined when none. */
  extensions: string | undefined
  /** Sec-WebSocket-Protocol without empty elements, for ws; undefined when none. */
  protocols: string | undefined
}

export function negotiate (request: FastifyRequest, rules: Negotiation): NegotiationResult {
  const headers = request.headers
  const problem = webSocketHandshakeProblem(headers, request.raw.httpVersionMajor === 2)
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
  // empty header, which RFC 9110 lets a recipient skip): it is given the lists as parsed here.
  const extensionList = extensions.length > 0 ? formatExtensions(extensions) : undefined
  const protocolList = offered.length > 0 ? offered.join(', ') : undefined
  if (rules.select === undefined) return accepted(undefined, extensionList, protocolList)
  if (offered.length === 0) {
    return rules.requireProtocol ? { error: new ProtocolRequiredError(rules.protocolList) } : accepted(false, extensionList, protocolList)
  }
  const chosen = rules.select(offered, request)
  // A selector may only pick among what was offered (RFC 6455 section 4.2.2).
  if (typeof chosen === 'string' && offered.includes(chosen)) return accepted(chosen, extensionList, protocolList)
  return rules.requireProtocol ? { error: new UnsupportedProtocolError(rules.protocolList) } : accepted(false, extensionList, protocolList)
}

// Built in one place, so every Accepted has one shape (a spread made one per call site).
function accepted (protocol: string | false | undefined, extensions: string | undefined, protocols: string | undefined): Accepted {
  return { protocol, extensions, protocols }
}
