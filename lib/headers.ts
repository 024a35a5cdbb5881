// Pure parsing of the HTTP token lists that drive an upgrade. No I/O, no state.
import type { IncomingHttpHeaders } from 'node:http'

// RFC 9110 section 5.6.2: tchar, the one definition every token check here is built from.
const tchar = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]"

/** One token character. */
export const tokenCharPattern = new RegExp(tchar)

/** A token (RFC 9110 section 5.6.2): a subprotocol name, an extension name or parameter. */
export const tokenPattern = new RegExp(`^${tchar}+$`)

/** An `Upgrade` element: protocol-name ["/" protocol-version], both tokens (RFC 9110 section 7.8). */
export const protocolTokenPattern = new RegExp(`^${tchar}+(/${tchar}+)?$`)

/**
 * Split a comma-separated list (RFC 9110 section 5.6.1) into lower-case elements,
 * dropping the empty elements the grammar allows ("a, , b").
 */
export function tokenList (value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  // The common case, one element ("Upgrade", "websocket"): no split, no iterator.
  if (typeof value === 'string' && !value.includes(',')) {
    const token = value.trim().toLowerCase()
    return token === '' ? [] : [token]
  }
  const joined = typeof value === 'string' ? value : value.join(',')
  const tokens: string[] = []
  for (const part of joined.split(',')) {
    const token = part.trim().toLowerCase()
    if (token !== '') tokens.push(token)
  }
  return tokens
}

/** The protocol name of an `Upgrade` element: `websocket/13` is `websocket`. */
export function protocolName (element: string): string {
  const slash = element.indexOf('/')
  return slash === -1 ? element : element.slice(0, slash)
}

/** `Connection` names the `upgrade` option (RFC 9110 section 7.8). */
export function connectionRequestsUpgrade (headers: IncomingHttpHeaders): boolean {
  return tokenList(headers.connection).includes('upgrade')
}

function isWebSocketToken (element: string): boolean {
  return protocolName(element) === 'websocket'
}

/**
 * The protocol to switch to: the first element of the client's `Upgrade` list (its
 * order of preference, RFC 9110 section 7.8) that the route speaks. `websocket` matches
 * with any version suffix; other protocols match their declared `name/version` token
 * exactly, case-insensitively. Returns the route's spelling of the protocol.
 */
export function chooseUpgrade (headers: IncomingHttpHeaders, speaksWebSocket: boolean, others: ReadonlyMap<string, string>): string | undefined {
  for (const element of tokenList(headers.upgrade)) {
    if (speaksWebSocket && isWebSocketToken(element)) return 'websocket'
    const declared = others.get(element)
    if (declared !== undefined) return declared
  }
  return undefined
}

// 16 random bytes, base64-encoded: 22 characters and "==" (RFC 6455 section 4.1).
const webSocketKey = /^[+/0-9A-Za-z]{22}==$/

/** `malformed` is answered with 400, `version` with 426 and `Sec-WebSocket-Version: 13`. */
export interface HandshakeProblem { kind: 'malformed' | 'version', detail: string }

/**
 * An HTTP/2 extended CONNECT for a WebSocket: `:method` CONNECT with `:protocol`
 * websocket (RFC 8441 section 5; upgrade tokens are case-insensitive, RFC 9110 section 7.8).
 */
export function isWebSocketConnect (headers: IncomingHttpHeaders): boolean {
  const protocol = headers[':protocol']
  return headers[':method'] === 'CONNECT' && typeof protocol === 'string' && protocol.toLowerCase() === 'websocket'
}

/**
 * Checks the WebSocket-specific handshake headers. Returns undefined when the
 * handshake can proceed, or what is wrong with it. An extended CONNECT (`overHttp2`)
 * needs no Sec-WebSocket-Key: RFC 8441 section 5 supersedes the key exchange with
 * :protocol; Sec-WebSocket-Version is used "as defined in RFC 6455" on both.
 */
export function webSocketHandshakeProblem (headers: IncomingHttpHeaders, overHttp2 = false): HandshakeProblem | undefined {
  if (!overHttp2) {
    const key = headers['sec-websocket-key']
    if (key === undefined) return { kind: 'malformed', detail: 'missing Sec-WebSocket-Key' }
    if (!webSocketKey.test(key)) return { kind: 'malformed', detail: 'malformed Sec-WebSocket-Key' }
  }
  const version = headers['sec-websocket-version']
  if (version === undefined) return { kind: 'malformed', detail: 'missing Sec-WebSocket-Version' }
  // One version number (1*DIGIT); a list such as "13, 13" (a repeated header) is malformed.
  const trimmed = version.trim()
  if (!/^\d+$/.test(trimmed)) return { kind: 'malformed', detail: 'malformed Sec-WebSocket-Version' }
  if (trimmed !== '13') return { kind: 'version', detail: trimmed }
  return undefined
}
