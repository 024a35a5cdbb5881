// Which sockets are alive, and how they end when the app closes: new upgrades are
// refused, open connections get 1001 Going Away, requests still in their hooks may
// finish (and are refused with 503 at the route), and whatever has not ended within
// the timeout is terminated.
import type { Duplex } from 'node:stream'
import { CloseCode } from './close-codes.js'
import type { WebSocketConnection } from './connection.js'
import { HeartbeatTimer } from './heartbeat.js'
import { Stats } from './stats.js'

export class Lifecycle {
  /** Upgrade sockets between the 'upgrade' event and the end of their handshake or HTTP reply. */
  readonly pending = new Set<Duplex>()
  readonly open = new Set<WebSocketConnection<never, never>>()
  /** Streams of other upgraded protocols, handed to their handlers. */
  readonly streams = new Set<Duplex>()
  closing = false
  /** The one timer of all connections (heartbeat, idle, coarse clock). */
  readonly timer = new HeartbeatTimer(this.open)
  readonly stats = new Stats()
  #drained: (() => void) | undefined
  // One listener function per lifecycle, shared by every socket (`this` is the socket).
  readonly #pendingClosed: (this: Duplex) => void
  readonly #streamClosed: (this: Duplex) => void

  constructor () {
    const lifecycle = this
    this.#pendingClosed = function () { lifecycle.#forgetPending(this) }
    this.#streamClosed = function () {
      lifecycle.streams.delete(this)
      lifecycle.#settle()
    }
  }

  /** Tracks a socket from the 'upgrade' event until it closes or becomes a connection. */
  addPending (socket: Duplex): void {
    this.pending.add(socket)
    socket.once('close', this.#pendingClosed)
  }

  add (connection: WebSocketConnection<never, never>, socket: Duplex): void {
    this.#forgetPending(socket)
    this.open.add(connection)
    if (this.open.size === 1) this.timer.start()
  }

  /** Called by a connection when it closes. */
  closed = (connection: WebSocketConnection<never, never>): void => {
    this.open.delete(connection)
    if (this.open.size === 0) this.timer.stop()
    this.#settle()
  }

  /** A socket switched to another protocol: tracked until it closes. */
  addStream (stream: Duplex): void {
    this.#forgetPending(stream)
    this.streams.add(stream)
    stream.once('close', this.#streamClosed)
  }

  async shutdown (timeout: number): Promise<void> {
    this.closing = true
    if (this.open.size + this.pending.size + this.streams.size > 0) {
      const drained = new Promise<void>((resolve) => { this.#drained = resolve })
      for (const connection of this.open) connection.close(CloseCode.GoingAway, 'server shutting down')
      // Other protocols have no close code: half-close them, their handlers see 'end'.
      for (const stream of this.streams) stream.end()
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout) })
      await Promise.race([drained, timedOut])
      clearTimeout(timer)
      for (const connection of this.open) connection.terminate()
      for (const socket of this.pending) socket.destroy()
      for (const stream of this.streams) stream.destroy()
    }
  }

  #forgetPending (socket: Duplex): void {
    if (this.pending.delete(socket)) {
      socket.removeListener('close', this.#pendingClosed)
      this.#settle()
    }
  }

  #settle (): void {
    if (this.closing && this.open.size + this.pending.size + this.streams.size === 0) this.#drained?.()
  }
}
