// The few places where the plugin relies on Node's HTTP server beyond its documented
// API, gathered here so that a change in Node breaks one file (test/node-http.test.ts
// checks each of them on the Node version that runs the suite).
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

/** Node's private link from a socket to the response it is writing (set by assignSocket). */
interface PipelinedSocket extends Duplex {
  _httpMessage?: ServerResponse | null
}

/**
 * The response Node is still writing on `socket` for an earlier pipelined request, if
 * any. Node emits 'upgrade' as soon as it parses the request, before those are done.
 */
export function responseInProgress (socket: Duplex): ServerResponse | undefined {
  return (socket as PipelinedSocket)._httpMessage ?? undefined
}

/** What Node's HTTP servers (http, https, http2 with allowHTTP1) run for each new connection. */
type ConnectionListener = (this: unknown, socket: Duplex) => void
const httpConnectionListener = (http as unknown as { _connectionListener: ConnectionListener })._connectionListener

/**
 * Gives a socket back to the server's HTTP/1.1 parser, as if it had just connected.
 * Unlike emitting 'connection', this neither wraps an already decrypted TLS socket in
 * TLS again (https and http2 servers listen for 'connection' to start TLS) nor runs
 * the application's own 'connection' listeners a second time.
 */
export function serveAgain (server: unknown, socket: Duplex): void {
  httpConnectionListener.call(server, socket)
}

/** A server that lets its owner decide which requests with `Upgrade` become upgrades. */
interface UpgradeDeciding {
  shouldUpgradeCallback?: (request: IncomingMessage) => boolean
}

/**
 * Node 22.21 and 24.9 added `shouldUpgradeCallback`: requests for which it returns false
 * are served as ordinary requests (body, keep-alive and all) and never reach the
 * 'upgrade' event. Returns a function that restores the previous callback. On older
 * Node this does nothing, and the 'upgrade' listener must serve them itself.
 */
export function decideUpgrades (server: unknown, mayUpgrade: (request: IncomingMessage) => boolean): () => void {
  const deciding = server as UpgradeDeciding
  const previous = deciding.shouldUpgradeCallback
  // Which side runs depends on the Node version alone; test/node-http.test.ts checks both.
  /* c8 ignore start */
  if (typeof previous !== 'function') return () => {}
  deciding.shouldUpgradeCallback = function (request) { return mayUpgrade(request) && previous.call(this, request) }
  return () => { deciding.shouldUpgradeCallback = previous }
}
/* c8 ignore stop */
