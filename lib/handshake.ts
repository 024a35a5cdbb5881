// The WebSocket handshake itself, done by ws in noServer mode: ws' handleUpgrade on an
// HTTP/1.1 socket, ws' own steps less the 101 on an HTTP/2 stream (ws-internals.ts), which
// is answered with :status 200 (RFC 8441 section 5). ws options that must differ by route
// (permessage-deflate) get one ws server per distinct option set, made when the route is
// registered and shared by its connections; never one per connection.
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2'
import { WebSocketServer, type PerMessageDeflateOptions, type WebSocket } from 'ws'
import { WebSocketConnection } from './connection.js'
import { countBytes } from './http2.js'
import { kProtocol } from './symbols.js'
import type { WsServerOptions } from './options.js'
import type { Accepted } from './negotiate.js'
import type { PendingUpgrade } from './pending-upgrade.js'
import { chooseProtocol, negotiateExtensions, openSocket, type NegotiatedExtensions } from './ws-internals.js'

// RFC 6455 section 1.3: appended to Sec-WebSocket-Key before hashing.
const acceptGuid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/**
 * What ws' handleUpgrade reads of a request, as negotiated. A plain object, short-lived:
 * a view made with Object.create(request) would make the request a prototype, which
 * costs every connection a hidden class of its own (about 0.8 KiB of heap, kept as long
 * as the request).
 */
interface NegotiatedRequest {
  method: string | undefined
  url: string | undefined
  headers: IncomingHttpHeaders
  socket: IncomingMessage['socket']
  /** The upgraded request itself, for a handleProtocols of the application's. */
  request: IncomingMessage
  /** The route's subprotocol choice; undefined leaves it to ws' usual rule. */
  [kProtocol]: string | false | undefined
}

/** ws options a route may set for itself. */
export interface RouteServerOptions {
  perMessageDeflate?: boolean | PerMessageDeflateOptions
  maxPayload: number
}

export class Handshake {
  /** The server for routes that change no ws option: `app.websocketServer`. */
  readonly server: WebSocketServer
  readonly #base: WsServerOptions
  readonly #servers = new Map<string, WebSocketServer>()

  constructor (options: WsServerOptions, maxPayload: number) {
    this.#base = { ...options, maxPayload }
    this.server = this.#create(this.#base)
  }

  /** The ws server for a route's options, shared with every route that has the same. */
  serverFor (route: RouteServerOptions): WebSocketServer {
    if (route.perMessageDeflate === undefined && route.maxPayload === this.#base.maxPayload) return this.server
    const options = { ...this.#base, ...route, perMessageDeflate: route.perMessageDeflate ?? this.#base.perMessageDeflate }
    const key = JSON.stringify([options.perMessageDeflate, options.maxPayload])
    let server = this.#servers.get(key)
    if (server === undefined) {
      server = this.#create(options)
      // One set of clients for the whole app: `app.websocketServer.clients` is every open
      // connection, whichever ws server did its handshake (ws only adds and deletes).
      server.clients = this.server.clients
      this.#servers.set(key, server)
    }
    return server
  }

  /**
   * The extensions ws' rules accept from the client's (already well-formed) offer, or
   * undefined when their parameters are unacceptable (ws would answer 400 itself).
   */
  extensions (server: WebSocketServer, accepted: Accepted): NegotiatedExtensions | undefined {
    try {
      return negotiateExtensions(server, accepted.extensions)
    } catch {
      return undefined
    }
  }

  /**
   * Answers 101 (HTTP/1.1) or :status 200 (HTTP/2) and calls `done` with the open ws
   * socket. Nothing is called if the client hung up meanwhile; the socket is destroyed.
   */
  accept (server: WebSocketServer, request: IncomingMessage, upgrade: PendingUpgrade, accepted: Accepted, extensions: NegotiatedExtensions, done: (socket: WebSocket) => void): void {
    // ws reads the handshake from request.headers, more strictly than HTTP allows: it sees
    // a view of the request with the headers as negotiated, and the handler's request keeps
    // the headers the client sent. The route already chose WebSocket from the client's
    // Upgrade list ("websocket/13, foo" is valid HTTP); ws only accepts the bare token.
    // Only the five headers ws reads (test/ws-internals.test.ts checks which), in one fixed
    // shape: a copy of the client's headers has a shape per header set, and adding the
    // negotiated ones to it took V8's slow path (about 1 µs per handshake in a micro-benchmark).
    const client = request.headers
    const headers: IncomingHttpHeaders = {
      upgrade: 'websocket',
      'sec-websocket-key': client['sec-websocket-key'],
      'sec-websocket-version': client['sec-websocket-version'],
      'sec-websocket-extensions': accepted.extensions,
      'sec-websocket-protocol': accepted.protocols
    }
    const view: NegotiatedRequest = { method: request.method, url: request.url, headers, socket: request.socket, request, [kProtocol]: accepted.protocol }
    // ws reads only these fields of the request (the handshake tests fail if it reads more).
    const wsRequest = view as unknown as IncomingMessage
    if (upgrade.isStream) acceptStream(server, wsRequest, upgrade.socket as ServerHttp2Stream, accepted, extensions, done)
    else server.handleUpgrade(wsRequest, upgrade.socket, upgrade.head, done)
  }

  /**
   * Stops the ws servers taking handshakes. Not awaited: the lifecycle has already ended
   * every connection, and ws calls back only once a server's clients are gone, which for
   * servers sharing one set of clients may be told to another server than the one waiting.
   */
  close (): void {
    for (const server of [this.server, ...this.#servers.values()]) server.close()
  }

  #create (options: WsServerOptions): WebSocketServer {
    const userChoice = options.handleProtocols
    return new WebSocketServer({
      ...options,
      noServer: true,
      // ws creates every connection as the plugin's subclass of its WebSocket.
      WebSocket: WebSocketConnection as unknown as typeof WebSocket,
      handleProtocols: (offered, request) => {
        const view = request as unknown as NegotiatedRequest
        const chosen = view[kProtocol]
        if (chosen !== undefined) return chosen
        if (userChoice !== undefined) return userChoice(offered, view.request)
        // ws' own default: the client's first choice.
        return offered.values().next().value as string // ws calls this only when something was offered
      }
    })
  }
}

/** An extended CONNECT's handshake: ws' completeUpgrade, answered with HTTP/2 headers. */
function acceptStream (server: WebSocketServer, request: IncomingMessage, stream: ServerHttp2Stream, accepted: Accepted, extensions: NegotiatedExtensions, done: (socket: WebSocket) => void): void {
  // As ws does with a socket whose client has already ended or gone.
  if (!stream.readable || !stream.writable) {
    stream.destroy()
    return
  }
  const protocol = chooseProtocol(server, accepted.protocols?.split(', ') ?? [], request)
  const headers: OutgoingHttpHeaders = { ':status': 200 }
  if (protocol !== '') headers['sec-websocket-protocol'] = protocol
  if (extensions.header !== undefined) headers['sec-websocket-extensions'] = extensions.header
  // RFC 8441 needs no key exchange, but clients that send a key may check the answer
  // (undici's HTTP/2 WebSocket does): it costs one hash.
  const key = request.headers['sec-websocket-key']
  if (typeof key === 'string') headers['sec-websocket-accept'] = createHash('sha1').update(key + acceptGuid).digest('base64')
  stream.respond(headers)
  done(openSocket(server, countBytes(stream), protocol, extensions))
}
