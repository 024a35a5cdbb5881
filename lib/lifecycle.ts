// Which sockets are alive, and how they end when the app closes: new upgrades are
// refused, open connections get 1001 Going Away, requests still in their hooks may
// finish (and are refused with 503 at the route), and whatever has not ended within
// the timeout is terminated.
import type { Duplex } from 'node:stream'
import { CloseCode } from './close-codes.js'
import type { OpenConnection } from './connection.js'
import { HeartbeatTimer, type Clock } from './heartbeat.js'
import type { PendingUpgrade } from './pending-upgrade.js'
import { Stats, type RouteStats } from './stats.js'

export class Lifecycle {
  /** Upgrades between the 'upgrade' event and their handover, or their socket's close after a refusal. */
  readonly pending = new Set<PendingUpgrade>()
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
    this.timer = new HeartbeatTimer({ [Symbol.iterator]: () => this.connections() }, clock)
    const lifecycle = this
    this.#streamClosed = function () {
      lifecycle.streams.delete(this)
      lifecycle.#settle()
    }
  }

  /** The open WebSocket connections: each route's record (stats.ts) is the one list of them. */
  * connections (): Generator<OpenConnection> {
    for (const route of this.stats.routes()) yield * route.connections
  }

  /** How many WebSocket connections are open, on every route. */
  openCount (): number {
    let count = 0
    for (const route of this.stats.routes()) count += route.connections.size
    return count
  }

  /** A pending upgrade was handed over, or its socket closed. */
  forgetPending (pending: PendingUpgrade): void {
    this.pending.delete(pending)
    this.#settle()
  }

  add (connection: OpenConnection, route: RouteStats): void {
    route.connections.add(connection)
    this.timer.start()
  }

  /** Called by a connection when it closes. */
  closed (connection: OpenConnection, route: RouteStats): void {
    route.connections.delete(connection)
    this.#settle()
  }

  /** A socket switched to another protocol: tracked until it closes. */
  addStream (stream: Duplex): void {
    this.streams.add(stream)
    stream.once('close', this.#streamClosed)
  }

  async shutdown (timeout: number): Promise<void> {
    this.closing = true
    if (this.#remaining() > 0) {
      const drained = new Promise<void>((resolve) => { this.#drained = resolve })
      for (const connection of this.connections()) connection.close(CloseCode.GoingAway, 'server shutting down')
      // Other protocols have no close code: half-close them, their handlers see 'end'.
      for (const stream of this.streams) stream.end()
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout) })
      await Promise.race([drained, timedOut])
      clearTimeout(timer)
      for (const connection of this.connections()) connection.terminate()
      for (const pending of this.pending) pending.socket.destroy()
      for (const stream of this.streams) stream.destroy()
    }
  }

  #remaining (): number {
    return this.openCount() + this.pending.size + this.streams.size
  }

  #settle (): void {
    if (this.closing && this.#remaining() === 0) this.#drained?.()
  }
}
