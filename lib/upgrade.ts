// The server's 'upgrade' listener. Node hands over a bare socket; we keep it (and the
// bytes already read after the headers) on the request, give Fastify a response object
// that writes straight onto that socket, and let Fastify route the request as usual.
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Lifecycle } from './lifecycle.js'

export const kUpgrade = Symbol('fastify-upgrade.upgrade')

/** What the upgrade event gave us, kept until a route handler takes it. */
export interface PendingUpgrade {
  socket: Duplex
  head: Buffer
}

export interface UpgradeRequest extends IncomingMessage {
  [kUpgrade]?: PendingUpgrade
}

// How long a refused upgrade's socket may stay half-open waiting for the client to hang up.
const lingerAfterReply = 5000

export function createUpgradeListener (
  app: FastifyInstance,
  lifecycle: Lifecycle
): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return function onUpgrade (request, socket, head) {
    if (!mayUpgrade(request)) {
      serveAsPlainRequest(app, request, socket, head)
      return
    }
    // Node has removed its own 'error' listener; a reset would otherwise crash the process.
    socket.on('error', destroySocket)
    lifecycle.addPending(socket)
    ;(request as UpgradeRequest)[kUpgrade] = { socket, head }

    const response = new ServerResponse(request)
    // The connection is not reused after an HTTP answer on this path, so say so.
    response.shouldKeepAlive = false
    response.assignSocket(socket as Socket)
    response.once('finish', endAfterReply)
    app.routing(request, response)
  }
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

/**
 * Answer the request as if its Upgrade header were absent (RFC 9110 section 7.8 lets a
 * server ignore it): rebuild the request head without Upgrade and with
 * `Connection: close`, put it back in front of the unread bytes, and give the socket back
 * to Node's HTTP parser, which reads the body and runs the normal route.
 */
function serveAsPlainRequest (app: FastifyInstance, request: IncomingMessage, socket: Duplex, head: Buffer): void {
  let text = `${String(request.method)} ${String(request.url)} HTTP/${request.httpVersion}\r\n`
  const raw = request.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (lower === 'upgrade' || lower === 'connection') continue
    text += `${name}: ${raw[i + 1] as string}\r\n`
  }
  text += 'Connection: close\r\n\r\n'
  socket.unshift(Buffer.concat([Buffer.from(text, 'latin1'), head]))
  app.server.emit('connection', socket)
}

/** The route answered with a normal HTTP response: finish politely, then let go. */
function endAfterReply (this: ServerResponse): void {
  const socket = this.socket
  /* c8 ignore next */
  if (socket === null) return
  this.detachSocket(socket)
  socket.end()
  // Read and drop whatever the client still sends, so the close is not a reset
  // that could discard our response; give up on clients that never hang up.
  socket.resume()
  ;(socket as Socket).setTimeout(lingerAfterReply, destroySocket)
}

function destroySocket (this: Duplex): void {
  this.destroy()
}
