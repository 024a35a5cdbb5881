// The server's 'upgrade' listener. Node hands over a bare socket; a PendingUpgrade takes
// it at once (pending-upgrade.ts), and Fastify routes the request as usual with a
// response that writes straight onto that socket.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BadHandshakeError, RouteBeforePluginError } from './errors.js'
import type { Lifecycle } from './lifecycle.js'
import { decideUpgrades, responseInProgress, serveAgain } from './node-http.js'
import { PendingUpgrade, type UpgradeDeadlines, type UpgradeRequest } from './pending-upgrade.js'
import { kUpgrade } from './symbols.js'
import { refuseConnect, routeSeen } from './route.js'

export function createUpgradeListener (
  app: FastifyInstance,
  lifecycle: Lifecycle,
  deadlines: UpgradeDeadlines
): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return function onUpgrade (request, socket, head) {
    const pending = new PendingUpgrade(request, socket, head, lifecycle, deadlines)
    // Node emits 'upgrade' as soon as it parses the request, even when responses to
    // earlier pipelined requests on this connection are still being written. Taking the
    // socket now would interleave the answers: wait for them (the deadline runs).
    const previous = responseInProgress(socket)
    if (previous === undefined) dispatch(app, pending)
    else previous.once('finish', () => { setImmediate(dispatch, app, pending) })
  }
}

function dispatch (app: FastifyInstance, pending: PendingUpgrade): void {
  // The client may have gone while the earlier responses were written.
  if (pending.socket.destroyed) return
  const request = pending.request
  /* c8 ignore start -- reached only on Node versions without shouldUpgradeCallback (see decideUpgrades) */
  if (!mayUpgrade(request)) {
    pending.release()
    serveAsPlainRequest(app, pending)
    return
  }
  /* c8 ignore stop */
  const response = pending.respond()
  if (pending.expired) {
    pending.refuseTimedOut()
    return
  }
  // Node checks Host (RFC 9112 section 3.2) only on requests it serves itself.
  if (request.headers.host === undefined && request.httpVersion === '1.1') {
    pending.refuse(new BadHandshakeError('missing Host header'))
    return
  }
  app.routing(request, response)
}

/**
 * Makes Node serve the requests that may not upgrade as ordinary requests, where it
 * can (see decideUpgrades). Returns what undoes it.
 */
export function serveNonUpgradesAsRequests (app: FastifyInstance): () => void {
  return decideUpgrades(app.server, mayUpgrade)
}

/**
 * Fastify's onRequest hook of the plugin: remembers the reply of an upgrade request, so
 * that a refusal outside the route (the handshake deadline) goes through Fastify's reply
 * and the app's error handler; refuses an extended CONNECT to a route without WebSocket.
 */
export function rememberReply (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const pending = (request.raw as UpgradeRequest)[kUpgrade]
  if (pending !== undefined) {
    pending.reply = reply
    if (!routeSeen(request)) {
      // Its handler would be called as an HTTP handler with (request, reply) for (socket, request).
      request.log.error({ route: request.routeOptions.url }, 'upgrade request to a route declared before fastify-upgrade loaded')
      pending.refuse(new RouteBeforePluginError(request.method, String(request.routeOptions.url)))
      return // the reply is sent: Fastify must not go on
    }
    if (pending.isStream) {
      const refusal = refuseConnect(request)
      if (refusal !== undefined) {
        pending.refuse(refusal.error, ['allow', refusal.allow])
        return
      }
    }
  }
  done()
}

/**
 * Only a GET without a body can become a WebSocket (RFC 6455 section 4.1). Node has
 * already ended the request stream of an upgrade request, so a body could not be read
 * on the upgrade path.
 */
function mayUpgrade (request: IncomingMessage): boolean {
  const headers = request.headers
  return request.method === 'GET' &&
    headers['transfer-encoding'] === undefined &&
    (headers['content-length'] === undefined || headers['content-length'] === '0')
}

/* c8 ignore start -- reached only on Node versions without shouldUpgradeCallback (see decideUpgrades) */
/**
 * Answers the request as if its Upgrade header were absent (RFC 9110 section 7.8 lets a
 * server ignore it): rebuilds the request head without Upgrade and with
 * `Connection: close`, puts it back in front of the unread bytes, and gives the socket
 * back to Node's HTTP parser, which reads the body and runs the normal route.
 */
function serveAsPlainRequest (app: FastifyInstance, pending: PendingUpgrade): void {
  const request = pending.request
  let text = `${String(request.method)} ${String(request.url)} HTTP/${request.httpVersion}\r\n`
  const raw = request.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (lower === 'upgrade' || lower === 'connection') continue
    text += `${name}: ${raw[i + 1] as string}\r\n`
  }
  text += 'Connection: close\r\n\r\n'
  pending.socket.unshift(Buffer.concat([Buffer.from(text, 'latin1'), pending.head]))
  serveAgain(app.server, pending.socket)
}
/* c8 ignore stop */
