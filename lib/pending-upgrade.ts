// One upgrade request in flight, from Node's 'upgrade' event (HTTP/1.1) or 'connect'
// event (an HTTP/2 extended CONNECT, http2.ts) until its transport is handed to a
// protocol (claim) or the request is refused with an HTTP response (refuse). It alone
// owns the transport meanwhile, a socket or an HTTP/2 stream: its error listener
// (attached before anything can wait), its absolute deadlines, its place among the
// lifecycle's pending upgrades, and the one place where a refusal is counted.
import { STATUS_CODES, ServerResponse, type IncomingMessage } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyReply } from 'fastify'
import type { FastifyError } from '@fastify/error'
import { retryLater, ServiceUnavailableError } from './errors.js'
import type { Deadlined, HandshakeDeadlines } from './handshake-deadlines.js'
import { resetWithCancel } from './http2.js'
import type { Lifecycle } from './lifecycle.js'
import { kPending, kUpgrade } from './symbols.js'

/** A request that arrived through the 'upgrade' or 'connect' event, until its transport is claimed. */
export interface UpgradeRequest extends IncomingMessage {
  [kUpgrade]?: PendingUpgrade | undefined
}

/** The response an HTTP answer is written with: ours on a socket (HTTP/1.1), Node's on a stream (HTTP/2). */
type AnyResponse = ServerResponse | Http2ServerResponse

interface OwnedSocket extends Duplex {
  [kPending]?: PendingUpgrade | undefined
}

/** The plugin's deadlines of an upgrade (the options of those names). */
export interface UpgradeDeadlines {
  /** handshakeTimeout: from the 'upgrade' event until the route takes the socket; past it, 503. */
  handshake: HandshakeDeadlines
  /**
   * How long a refused upgrade's socket may stay open after the response, reading and
   * dropping what the client still sends so that the close is not a reset that could
   * discard the response. Absolute: bytes from the client do not extend it.
   */
  refusalLinger: number
}

// Shared functions, not closures per upgrade (defined in the class' static block).
let onResponseFinish: (this: { [kPending]: PendingUpgrade }) => void

export class PendingUpgrade implements Deadlined {
  readonly request: IncomingMessage
  /** The transport: the upgraded socket, or the HTTP/2 stream of an extended CONNECT. */
  readonly socket: Duplex
  /** Bytes the client sent past the request head (the new protocol's first bytes); none on a stream. */
  readonly head: Buffer
  /** The transport is an HTTP/2 stream. */
  readonly isStream: boolean
  /** Fastify's reply for this request, from the moment the plugin's onRequest hook sees it. */
  reply: FastifyReply | undefined
  #response: AnyResponse | undefined
  /** After an answer: the end of the linger. */
  #lingerTimer: NodeJS.Timeout | undefined
  /** The error code of the refusal, once refused; counted once, by that code. */
  #refusal: string | undefined
  /** The deadline passed while earlier pipelined responses were still being written. */
  #expired = false
  readonly #lifecycle: Lifecycle
  readonly #deadlines: UpgradeDeadlines

  /**
   * `response`: Node's response on an HTTP/2 stream (the transport is then `socket`, the
   * stream); on an HTTP/1.1 socket the response is made by respond().
   */
  constructor (request: IncomingMessage | Http2ServerRequest, socket: Duplex, head: Buffer, lifecycle: Lifecycle, deadlines: UpgradeDeadlines, response?: Http2ServerResponse) {
    // Node removed its own 'error' listener when it emitted 'upgrade': without this one,
    // a reset at any later moment (even while we wait below) would crash the process.
    // It stays for the socket's whole life: protocols may forget to listen.
    socket.on('error', destroySocket)
    this.request = request as IncomingMessage
    this.socket = socket
    this.head = head
    this.isStream = response !== undefined
    this.#lifecycle = lifecycle
    this.#deadlines = deadlines
    if (response !== undefined) {
      resetWithCancel(socket as ServerHttp2Stream)
      this.#response = response
      // Node's response emits 'finish' only when the whole stream closes; the stream's
      // own 'finish' is the end of the answer.
      socket.on('finish', onResponseFinish)
    }
    ;(request as UpgradeRequest)[kUpgrade] = this
    ;(socket as OwnedSocket)[kPending] = this
    // on, not once: both are removed when the socket stops being pending (#release), and
    // once would wrap each in a closure of its own.
    socket.on('close', onSocketClose)
    lifecycle.pending.add(this)
    deadlines.handshake.start(this)
  }

  /**
   * Lends the socket (HTTP/1.1) to a response of ours and returns it: Fastify writes any
   * HTTP answer (an error from a hook, a 404, a refusal) through it. The connection is
   * never reused after such an answer.
   */
  respond (): ServerResponse {
    const response = new ServerResponse(this.request)
    response.shouldKeepAlive = false
    response.assignSocket(this.socket as Socket)
    response.on('finish', onResponseFinish)
    ;(response as { [kPending]?: PendingUpgrade })[kPending] = this
    this.#response = response
    return response
  }

  /** The deadline passed before the socket was ours to answer on: refuse at once. */
  get expired (): boolean {
    return this.#expired
  }

  /**
   * The route switches protocols: Fastify writes nothing more, the socket leaves our
   * response and the deadline ends. The links kept for the handshake are dropped so
   * that an open connection does not keep the request's response alive.
   */
  claim (reply: FastifyReply): void {
    reply.hijack()
    if (!this.isStream) reply.raw.detachSocket(this.socket as Socket)
    this.#release()
    // Assigned, not deleted: delete would turn the request into a slower dictionary object.
    ;(this.request as UpgradeRequest)[kUpgrade] = undefined
  }

  /**
   * Stops owning the socket without answering: Node serves the request as an ordinary
   * one (see upgrade-listener.ts).
   */
  release (): void {
    this.#release()
  }

  /**
   * Refuses the upgrade with an HTTP error, counted by its code. Through Fastify's reply
   * when there is one (so the app's error handler shapes it), else written directly in
   * the shape of a Fastify error.
   */
  refuse (error: FastifyError, header?: readonly [name: string, value: string]): void {
    this.#refusal = error.code
    this.#lifecycle.stats.rejected(error.code)
    const reply = this.reply
    if (reply !== undefined) {
      if (header !== undefined) reply.header(header[0], header[1])
      reply.send(error)
      return
    }
    const response = this.#response as AnyResponse
    const status = error.statusCode as number
    const body = JSON.stringify({ statusCode: status, code: error.code, error: STATUS_CODES[status], message: error.message })
    if (header !== undefined) response.setHeader(header[0], header[1])
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    ;(response as ServerResponse).end(body)
  }

  /** The handshake deadline passed: 503 if nothing was answered yet, else let the socket go. */
  deadlinePassed (): void {
    const response = this.#response
    if (response === undefined) {
      // Earlier pipelined responses are still being written: theirs to finish, then 503.
      this.#expired = true
    } else if (response.headersSent) {
      // An answer started and did not finish in time (a stalled stream, a client that does not read).
      this.socket.destroy()
    } else {
      this.refuseTimedOut()
    }
  }

  /** 503: the handshake did not reach its route within handshakeTimeout. */
  refuseTimedOut (): void {
    this.refuse(new ServiceUnavailableError('handshake timeout'), retryLater)
  }

  /** An HTTP answer was written: count it (unless refuse did), end, and linger a while. */
  #onFinish (): void {
    const response = this.#response as AnyResponse
    // A stream reset before any answer ends its writable side too: its 'close' follows.
    if (!response.headersSent) return
    if (this.#refusal === undefined) this.#lifecycle.stats.rejected(`status ${response.statusCode}`)
    const socket = this.socket
    // The answer ended the stream's side already. The client's side is left to end as
    // the socket's is, rather than reset with NO_ERROR (which RFC 9113 section 8.1
    // allows): Node 20's client then spins in nghttp2 when it next resets a stream.
    if (!this.isStream) {
      (response as ServerResponse).detachSocket(socket as Socket)
      socket.end()
    }
    socket.resume()
    this.#deadlines.handshake.end(this)
    this.#lingerTimer = setTimeout(destroyPending, this.#deadlines.refusalLinger, this)
  }

  #release (): void {
    this.#deadlines.handshake.end(this)
    clearTimeout(this.#lingerTimer)
    this.#lingerTimer = undefined
    const socket = this.socket as OwnedSocket
    socket[kPending] = undefined
    socket.removeListener('close', onSocketClose)
    socket.removeListener('finish', onResponseFinish)
    this.#lifecycle.forgetPending(this)
  }

  static {
    onResponseFinish = function () { this[kPending].#onFinish() }
  }
}

// Removed when the socket stops being pending, so the socket is always still pending here.
function onSocketClose (this: OwnedSocket): void {
  (this[kPending] as PendingUpgrade).release()
}

function destroyPending (pending: PendingUpgrade): void {
  pending.socket.destroy()
}

function destroySocket (this: Duplex): void {
  this.destroy()
}
