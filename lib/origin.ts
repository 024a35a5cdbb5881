// Origin checks against Cross-Site WebSocket Hijacking. Pure.
import type { FastifyRequest } from 'fastify'
import { InvalidOptionError } from './errors.js'

/**
 * Which browser origins may open a connection: exact origins (`https://app.example`),
 * a RegExp tested against the Origin header, or a function.
 */
export type AllowedOrigins = string | string[] | RegExp | ((origin: string, request: FastifyRequest) => boolean)

export type OriginCheck = (origin: string | undefined, request: FastifyRequest) => boolean

/**
 * Compiles `allowedOrigins` once. A request without an Origin header passes: browsers
 * always send one on WebSocket handshakes, so its absence means a non-browser client,
 * which cross-site hijacking cannot involve (and which could forge any Origin anyway).
 */
export function originCheck (allowed: AllowedOrigins, where: string): OriginCheck {
  if (typeof allowed === 'function') {
    return (origin, request) => {
      if (origin === undefined) return true
      const verdict: unknown = allowed(origin, request)
      // A Promise is truthy: taken as a yes, it would let every origin in.
      if (typeof verdict !== 'boolean') throw new InvalidOptionError(where, 'the function must return true or false; check asynchronously in an onRequest hook')
      return verdict
    }
  }
  if (allowed instanceof RegExp) {
    // A global or sticky RegExp keeps lastIndex between test() calls: use a copy without those flags.
    const pattern = new RegExp(allowed.source, allowed.flags.replace(/[gy]/g, ''))
    return (origin) => origin === undefined || pattern.test(origin)
  }
  const list = typeof allowed === 'string' ? [allowed] : allowed
  if (!Array.isArray(list) || !list.every((origin) => typeof origin === 'string')) {
    throw new InvalidOptionError(where, 'must be an origin, a list of origins, a RegExp or a function')
  }
  // Scheme and host are case-insensitive; browsers serialise them in lower case.
  const origins = new Set(list.map((origin) => origin.toLowerCase()))
  return (origin) => origin === undefined || origins.has(origin.toLowerCase())
}
