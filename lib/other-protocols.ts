// Upgrades to protocols other than WebSocket (RFC 9110 section 7.8): answer 101 with
// the chosen protocol, give the bytes read past the headers back to the stream, and hand
// the raw duplex stream to the route's handler for that protocol.
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Lifecycle } from './lifecycle.js'
import type { PendingUpgrade } from './pending-upgrade.js'
import type { ProtocolUpgradeHandler } from '../types/index.js'

export function switchProtocol (
  instance: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  upgrade: PendingUpgrade,
  protocol: string,
  handler: ProtocolUpgradeHandler,
  lifecycle: Lifecycle
): void {
  const { socket, head } = upgrade
  upgrade.claim(reply)
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\n\r\n`)
  // The client may have sent the new protocol's first bytes with its request.
  if (head.length > 0) socket.unshift(head)
  lifecycle.addStream(socket)
  let result: unknown
  try {
    result = handler.call(instance, socket, request)
  } catch (error) {
    fail(error, socket, request, protocol)
    return
  }
  if (result instanceof Promise) result.catch((error: unknown) => { fail(error, socket, request, protocol) })
}

/** A failing protocol handler loses its stream: there is no close code to send, so it is destroyed. */
function fail (error: unknown, socket: Duplex, request: FastifyRequest, protocol: string): void {
  request.log.error({ err: error, protocol }, 'upgrade handler failed')
  socket.destroy()
}
