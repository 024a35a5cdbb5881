// The server's 'upgrade' listener. Node hands over a bare socket; we keep it (and the
// bytes already read after the headers) on the request, give Fastify a response object
// that writes straight onto that socket, and let Fastify route the request as usual.
import { STATUS_CODES, ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Lifecycle } from './lifecycle.js'
import { BadHandshakeError, ServiceUnavailableError } from './errors.js'
import type { FastifyError } from '@fastify/error'
import type { Stats } from './stats.js'

export const kUpgrade = Symbol('fastify-upgrade.upgrade')
const kCounted = Symbol('fastify-upgrade.counted')

/** What the upgrade event gave us, kept until a route handler takes it. */
export interface PendingUpgrade {
  socket: Duplex
  head: Buffer
}

export interface UpgradeRequest extends IncomingMessage {
  [kUpgrade]?: PendingUpgrade
}

/** Node's private link from a socket to the response it is writing (set by assignSocket). */
interface PipelinedSocket extends Duplex {
  _httpMessage?: ServerResponse | null
}


interface UpgradeResponse extends ServerResponse {
  [kCounted]?: boolean
  [kStats]?: Stats
}

const kStats = Symbol('fastify-upgrade.stats')

/**
 * The route switches protocols: Fastify writes nothing more, and the socket leaves the
 * response it was lent to. The links kept for the handshake are dropped so that an open
 * connection does not keep the request's response object alive.
 */
export function claimSocket (reply: FastifyReply, upgrade: PendingUpgrade): void {
  reply.hijack()
  const socket = upgrade.socket as Socket
  reply.raw.detachSocket(socket)
  socket.removeListener('timeout', onHandshakeTimeout)
  // Assigned, not deleted: delete would turn the request into a slower, larger dictionary object.
  ;(reply.request.raw as UpgradeRequest)[kUpgrade] = undefined
}

/** The refusal was already counted by its error code; the generic 'status N' count is skipped. */
export function markCounted (response: ServerResponse): void {
  (response as UpgradeResponse)[kCounted] = true
}

// How long a refused upgrade's socket may stay half-open waiting for the client to hang up.
const lingerAfterReply = 5000

export function createUpgradeListener (
  app: FastifyInstance,
  lifecycle: Lifecycle,
  handshakeTimeout: number
): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return function onUpgrade (request, socket, head) {
    // Node emits 'upgrade' as soon as it parses the request, even when responses to
    // earlier pipelined requests on this connection are still being written. Taking the
    // socket now would interleave the answers (and assignSocket throws): wait for them.
    const previous = (socket as PipelinedSocket)._httpMessage
    if (previous != null) {
      previous.once('finish', () => { setImmediate(onUpgrade, request, socket, head) })
      return
    }
    // The client may have gone while the earlier responses were written.
    /* c8 ignore next */
    if (socket.destroyed) return
    if (!mayUpgrade(request)) {
      serveAsPlainRequest(app, request, socket, head)
      return
    }
    // Node has removed its own 'error' listener; a reset would otherwise crash the process.
    socket.on('error', destroySocket)
    lifecycle.addPending(socket)
    ;(request as UpgradeRequest)[kUpgrade] = { socket, head }

    const response: UpgradeResponse = new ServerResponse(request)
    // The connection is not reused after an HTTP answer on this path, so say so.
    response.shouldKeepAlive = false
    response.assignSocket(socket as Socket)
    response[kStats] = lifecycle.stats
    response.once('finish', endAfterReply)
    // Disarmed when the socket is claimed (claimSocket; ws also clears the socket's timeout).
    ;(socket as Socket).setTimeout(handshakeTimeout, onHandshakeTimeout)
    // Node checks Host (RFC 9112 section 3.2) only on requests it serves itself.
    if (request.headers.host === undefined && request.httpVersion === '1.1') {
      refuseRaw(response, 400, new BadHandshakeError('missing Host header'), lifecycle.stats)
      return
    }
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

/** Hooks took too long: answer 503 and free the socket (Fastify will not reach the route: the reply is sent). */
function onHandshakeTimeout (this: PipelinedSocket): void {
  const response = this._httpMessage as UpgradeResponse | null | undefined
  if (response == null || response.headersSent) {
    this.destroy()
    return
  }
  response.setHeader('retry-after', '5')
  refuseRaw(response, 503, new ServiceUnavailableError('handshake timeout'), response[kStats] as Stats)
}

/** An answer written without Fastify (it is not routing this request, or no longer): a Fastify-style JSON error. */
function refuseRaw (response: UpgradeResponse, status: number, error: FastifyError, stats: Stats): void {
  stats.rejected(error.code)
  response[kCounted] = true
  const body = JSON.stringify({ statusCode: status, code: error.code, error: STATUS_CODES[status], message: error.message })
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  response.end(body)
}

/** The route answered with a normal HTTP response: finish politely, then let go. */
function endAfterReply (this: UpgradeResponse): void {
  if (this[kCounted] !== true) this[kStats]?.rejected(`status ${this.statusCode}`)
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
