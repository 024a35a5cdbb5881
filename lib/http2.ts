// HTTP/2's way in: RFC 8441's extended CONNECT. HTTP/2 has no Upgrade; a client opens a
// WebSocket as a CONNECT stream whose `:protocol` is `websocket`, once the server has
// advertised SETTINGS_ENABLE_CONNECT_PROTOCOL. Node's compatibility API emits such
// streams as the server's 'connect' event; each one becomes a PendingUpgrade and is
// routed through Fastify as a GET of its `:path`, as an HTTP/1.1 upgrade is.
import { constants, Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Stream } from 'node:http2'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { ConnectUnsupportedError } from './errors.js'
import { isWebSocketConnect } from './headers.js'
import type { Lifecycle } from './lifecycle.js'
import { PendingUpgrade, type UpgradeDeadlines } from './pending-upgrade.js'
import type { CountingSocket } from './stats.js'

/** What an HTTP/2 server (http2.createServer or createSecureServer) has and an HTTP/1 one has not. */
interface Http2Settable {
  updateSettings: (settings: { enableConnectProtocol: boolean }) => void
}

const noHead = Buffer.alloc(0)

/**
 * On an HTTP/2 app: advertises SETTINGS_ENABLE_CONNECT_PROTOCOL in every new session's
 * first SETTINGS frame and takes the server's 'connect' events. Returns what stops taking
 * them (the setting stays: RFC 8441 section 3 forbids withdrawing it). On an HTTP/1 app
 * it does nothing.
 */
export function acceptExtendedConnect (app: FastifyInstance, lifecycle: Lifecycle, deadlines: UpgradeDeadlines): () => void {
  const server = app.server
  if (typeof (server as Partial<Http2Settable>).updateSettings !== 'function') return () => {}
  ;(server as unknown as Http2Settable).updateSettings({ enableConnectProtocol: true })

  function onConnect (request: IncomingMessage | Http2ServerRequest, responseOrSocket: Http2ServerResponse | Duplex): void {
    // The application's own 'connect' listeners keep every CONNECT that is not a WebSocket.
    const alone = server.listenerCount('connect') === 1
    if (!(request instanceof Http2ServerRequest)) {
      // An HTTP/1.1 CONNECT (allowHTTP1). Node destroys its socket when nobody listens.
      if (alone) (responseOrSocket as Duplex).destroy()
      return
    }
    const webSocket = isWebSocketConnect(request.headers)
    if (!webSocket && !alone) return
    const response = responseOrSocket as Http2ServerResponse
    const pending = new PendingUpgrade(request, request.stream, noHead, lifecycle, deadlines, response)
    if (!webSocket) {
      // A CONNECT without :protocol asks for a TCP tunnel to :authority (RFC 9113 section
      // 8.5), which an origin server does not provide for any resource: 501, "the
      // appropriate response when the server ... is not capable of supporting it for any
      // resource" (RFC 9110 section 15.6.2). An extended CONNECT whose :protocol is not
      // websocket gets 501 too, as RFC 9220 section 3 prescribes for "a :protocol value
      // that is unknown or is not supported" (RFC 8441 leaves the status open; RFC 9220
      // states the same mechanism's rule for HTTP/3, and says its semantics are RFC 8441's).
      const protocol = request.headers[':protocol']
      pending.refuse(new ConnectUnsupportedError(protocol === undefined ? 'a CONNECT without :protocol (this server is no proxy)' : `the :protocol "${String(protocol)}"`))
      return
    }
    // Routed as the GET it replaces (RFC 8441 section 5): `method` is shadowed on this
    // request only, so routes, hooks and logs see GET while request.headers keep the
    // :method and :protocol the client sent.
    Object.defineProperty(request, 'method', { value: 'GET', writable: true, enumerable: true, configurable: true })
    app.routing(request as unknown as IncomingMessage, response as never)
  }

  server.on('connect', onConnect)
  return () => { server.removeListener('connect', onConnect) }
}

/** An HTTP/2 stream fitted to stand in for an upgraded TCP socket. */
export type FittedStream = ServerHttp2Stream & CountingSocket

/**
 * Makes `destroy()` of a stream reset it with CANCEL, as RFC 8441 section 5 maps an
 * abrupt TCP close (Node resets with NO_ERROR). ws, the handshake deadline and the
 * shutdown end sockets abruptly with destroy(); a reset from the peer or the session's
 * end reaches destroy() with the stream already closed and goes through unchanged, as
 * does a destroy with an error.
 */
export function resetWithCancel (stream: ServerHttp2Stream): void {
  // The class's own methods, from the class Node gives server streams.
  streamMethods ??= Object.getPrototypeOf(stream) as ServerHttp2Stream
  stream.destroy = destroyWithCancel
}

let streamMethods: ServerHttp2Stream | undefined

function destroyWithCancel (this: ServerHttp2Stream, error?: Error): ServerHttp2Stream {
  if (error == null && !this.closed && this.session?.destroyed === false) {
    // Node destroys the stream once nghttp2 has sent the reset and closed it. Destroying
    // it here at once could drop the reset (Node defers it behind a write in progress)
    // and let the stream end with a plain END_STREAM instead.
    this.close(constants.NGHTTP2_CANCEL)
    return this
  }
  return (streamMethods as ServerHttp2Stream).destroy.call(this, error)
}

/**
 * Counts the bytes of an accepted stream's DATA (WebSocket frames, not HTTP/2 framing)
 * as net.Socket counts its own, for stats. From the handshake on: nothing reads the
 * stream before ws does.
 */
export function countBytes (stream: ServerHttp2Stream): FittedStream {
  const fitted = stream as FittedStream
  fitted.bytesRead = 0
  fitted.bytesWritten = 0
  fitted.prependListener('data', countRead)
  fitted.write = countedWrite
  return fitted
}

function countRead (this: FittedStream, chunk: Buffer): void {
  this.bytesRead += chunk.length
}

type Write = (this: FittedStream, chunk: Buffer | string, encoding?: unknown, callback?: unknown) => boolean

function countedWrite (this: FittedStream, chunk: Buffer | string, encoding?: unknown, callback?: unknown): boolean {
  this.bytesWritten += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
  return ((streamMethods as unknown as { write: Write }).write).call(this, chunk, encoding, callback)
}
