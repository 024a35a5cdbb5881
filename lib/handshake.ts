// The WebSocket handshake itself, done by ws in noServer mode. One ws server serves
// every route; it is created once per plugin registration, never per connection.
import type { IncomingMessage } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import type { WsServerOptions } from './options.js'
import type { PendingUpgrade } from './upgrade.js'

export class Handshake {
  readonly server: WebSocketServer

  constructor (options: WsServerOptions) {
    this.server = new WebSocketServer({ ...options, noServer: true })
  }

  /**
   * Answers 101 and calls `done` with the open ws socket. ws calls nothing if the
   * client hung up meanwhile; the caller's socket tracking covers that case.
   */
  accept (request: IncomingMessage, upgrade: PendingUpgrade, done: (socket: WebSocket) => void): void {
    // The route already chose WebSocket from the client's Upgrade list ("websocket/13,
    // foo" is valid HTTP); ws only accepts the bare token, so hand it the choice.
    request.headers.upgrade = 'websocket'
    this.server.handleUpgrade(request, upgrade.socket, upgrade.head, done)
  }
}
