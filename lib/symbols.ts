// The plugin's private symbols, gathered in one place (as Fastify core does): what each
// marks, and which file reads it.

/** On an upgrade request: its PendingUpgrade until the socket is claimed (pending-upgrade.ts, route.ts, upgrade-listener.ts). */
export const kUpgrade = Symbol('fastify-upgrade.upgrade')

/** On an upgrade socket and its response: the PendingUpgrade that owns them (pending-upgrade.ts). */
export const kPending = Symbol('fastify-upgrade.pending')

/** On a request being handed to ws: the route's subprotocol choice (handshake.ts). */
export const kProtocol = Symbol('fastify-upgrade.protocol')

/** In a route's config: the protocols it switches to, null for a plain route (route.ts). */
export const kProtocols = Symbol('fastify-upgrade.protocols')

/**
 * In the plugin's options: the clock of the heartbeat timer and of the rate limit
 * (heartbeat.ts, through options.ts). For the plugin's own tests, which drive heartbeats,
 * idle timeouts and rate limits without waiting; not exported from the package (options.ts says why).
 */
export const kClock = Symbol('fastify-upgrade.clock')
