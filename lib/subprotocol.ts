// Sec-WebSocket-Protocol (RFC 6455 sections 4.1 and 11.3.4): parsing and selection. Pure.
import { tokenPattern } from './headers.js'

/**
 * The client's subprotocols in its order of preference, or undefined when the header is
 * malformed (a non-token element, or the same protocol twice). Empty list elements are
 * skipped, as RFC 9110 section 5.6.1 asks of recipients. Names are case-sensitive.
 */
export function parseSubprotocols (value: string | undefined): string[] | undefined {
  if (value === undefined) return []
  // A Set, not a list scan, finds repeats: a hostile header of thousands of names must cost linear time.
  const protocols = new Set<string>()
  for (const part of value.split(',')) {
    const protocol = part.trim()
    if (protocol === '') continue
    if (!tokenPattern.test(protocol) || protocols.has(protocol)) return undefined
    protocols.add(protocol)
  }
  return Array.from(protocols)
}

/**
 * The route's first protocol that the client offers. The server's order wins: the route
 * lists its protocols newest or best first and knows which ones it is retiring, while the
 * client's order is only a hint (RFC 6455 lets the server pick any offered protocol).
 */
export function selectSubprotocol (offered: readonly string[], supported: readonly string[]): string | undefined {
  return supported.find((protocol) => offered.includes(protocol))
}
