// One timer for every connection of the plugin: it pings, terminates peers that miss
// their pong, and closes idle connections. Each tick walks the open connections once;
// nothing is scheduled per socket.
//
// The timer also keeps a coarse clock, `now`: the clock's time at the last tick (or when
// the timer started). Connections read it, not Date.now(), on every message, ping and pong
// they receive (their "last seen" time), and through opened() when they open (last seen,
// next ping). It lags the real time by at most one tick, so a deadline is noticed between
// one tick early and one tick late. The rate limit needs exact times: it reads `clock.now()` per message, as
// connections do for their open time (the duration in their close log line).
//
// The clock is the real one (Date.now, setInterval) but for the plugin's own tests, which
// give their own (kClock in symbols.ts) to drive heartbeats, idle timeouts and rate limits
// without waiting.

/** What the timer needs from a connection. */
export interface Ticking {
  tick: (now: number) => void
}

/** Where the timer gets the time and its interval from. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now: () => number
  /** Calls `callback` every `ms` milliseconds, without keeping the process alive; returns a handle for clearInterval. */
  setInterval: (callback: () => void, ms: number) => unknown
  clearInterval: (handle: unknown) => void
}

/** The real clock: Date.now and Node's unref'd intervals. */
export const realClock: Clock = {
  now: Date.now,
  setInterval: (callback, ms) => setInterval(callback, ms).unref(),
  clearInterval: (handle) => { clearInterval(handle as NodeJS.Timeout) }
}

const finest = 5
const coarsest = 1000

export class HeartbeatTimer {
  /** The clock's time at the last tick (set again when the timer starts). */
  now: number
  /** The exact time, and the interval the timer ticks on. */
  readonly clock: Clock
  #resolution = coarsest
  #timer: unknown
  readonly #connections: Iterable<Ticking>

  constructor (connections: Iterable<Ticking>, clock: Clock) {
    this.#connections = connections
    this.clock = clock
    this.now = clock.now()
  }

  /**
   * Makes the timer fine enough for a deadline of `ms` (a quarter of it, within 5 ms to
   * 1 s). Called as routes register, which Fastify allows only before the app listens,
   * so before the timer first starts.
   */
  resolve (ms: number): void {
    this.#resolution = Math.min(this.#resolution, Math.max(finest, Math.min(coarsest, Math.floor(ms / 4))))
  }

  /**
   * The time for a connection that opens now (its last-seen time, the base of its first
   * ping). While the timer ticks, the coarse `now`; while it is stopped (before the first
   * connection, after the last one closed) `now` may be any age: read the clock afresh.
   */
  opened (): number {
    if (this.#timer === undefined) this.now = this.clock.now()
    return this.now
  }

  /**
   * Starts ticking, if it is not already (a connection opened). It stops by itself at the
   * first tick that finds no connection. It never keeps the process alive.
   */
  start (): void {
    if (this.#timer !== undefined) return
    this.now = this.clock.now()
    this.#timer = this.clock.setInterval(this.#tick, this.#resolution)
  }

  stop (): void {
    this.clock.clearInterval(this.#timer)
    this.#timer = undefined
  }

  #tick = (): void => {
    const now = this.now = this.clock.now()
    let ticked = false
    for (const connection of this.#connections) {
      ticked = true
      connection.tick(now)
    }
    if (!ticked) this.stop()
  }
}
