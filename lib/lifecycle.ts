// Which sockets are alive, and how they end when the app closes: new upgrades are
// refused, open connections get 1001 Going Away, requests still in their hooks may
// finish (and are refused with 503 at the route), and whatever has not ended within
// the timeout is terminated.
import type { Duplex } from 'node:stream'
import { CloseCode } from './close-codes.js'
import type { WebSocketConnection } from './connection.js'
import { HeartbeatTimer, type Clock } from './heartbeat.js'
import type { PendingUpgrade } from './pending-upgrade.js'
import { Stats } from './stats.js'

export class Lifecycle {
  /** Upgrades between the 'upgrade' event and their handover, or their socket's close after a refusal. */
  readonly pending = new Set<PendingUpgrade>()
  readonly open = new Set<WebSocketConnection<never, never>>()
  /** Streams of other upgraded protocols, handed to their handlers. */
  readonly streams = new Set<Duplex>()
  closing = false
  /** The one timer of all connections (heartbeat, idle, coarse clock). */
  readonly timer: HeartbeatTimer
  readonly stats = new Stats()
  #drained: (() => void) | undefined
  // One listener function per lifecycle, shared by every stream (`this` is the stream).
  readonly #streamClosed: (this: Duplex) => void

  constructor (clock: Clock) {
    this.timer = new HeartbeatTimer(this.open, clock)
    const lifecycle = this
    this.#streamClosed = function () {
      lifecycle.streams.delete(this)
      lifecycle.#settle()
    }
  }

  /** A pending upgrade was handed over, or its socket closed. */
  forgetPending (pending: PendingUpgrade): void {
    this.pending.delete(pending)
    this.#settle()
  }

  add (connection: WebSocketConnection<never, never>): void {
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
      for (const pending of this.pending) pending.socket.destroy()
      for (const stream of this.streams) stream.destroy()
    }
  }

  #settle (): void {
    if (this.closing && this.open.size + this.pending.size + this.streams.size === 0) this.#drained?.()
  }
}
