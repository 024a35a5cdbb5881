// The WebSocket handshake itself, done by ws in noServer mode. ws options that must
// differ by route (permessage-deflate) get one ws server per distinct option set, made
// when the route is registered and shared by its connections; never one per connection.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { WebSocketServer, type PerMessageDeflateOptions, type WebSocket } from 'ws'
import { WebSocketConnection } from './connection.js'
import { kProtocol } from './symbols.js'
import type { WsServerOptions } from './options.js'
import type { Accepted } from './negotiate.js'
import type { PendingUpgrade } from './pending-upgrade.js'

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
   * Answers 101 and calls `done` with the open ws socket. ws calls nothing if the
   * client hung up meanwhile; the caller's socket tracking covers that case.
   */
  accept (server: WebSocketServer, request: IncomingMessage, upgrade: PendingUpgrade, accepted: Accepted, done: (socket: WebSocket) => void): void {
    // ws reads the handshake from request.headers, more strictly than HTTP allows: it sees
    // a view of the request with the headers as negotiated, and the handler's request keeps
    // the headers the client sent. The route already chose WebSocket from the client's
    // Upgrade list ("websocket/13, foo" is valid HTTP); ws only accepts the bare token.
    const headers: IncomingHttpHeaders = { ...request.headers, upgrade: 'websocket' }
    headers['sec-websocket-extensions'] = accepted.extensions
    headers['sec-websocket-protocol'] = accepted.protocols
    const view: NegotiatedRequest = { method: request.method, url: request.url, headers, socket: request.socket, request, [kProtocol]: accepted.protocol }
    // ws reads only these fields of the request (test/socket.test.ts checks that it still does).
    server.handleUpgrade(view as unknown as IncomingMessage, upgrade.socket, upgrade.head, done)
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
