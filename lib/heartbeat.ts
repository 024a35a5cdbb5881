// One timer for every connection of the plugin: it pings, terminates peers that miss
// their pong, closes idle connections, and keeps a coarse clock from which connections
// note when the peer was last seen, instead of calling Date.now() per message (the rate
// limit needs exact times and reads Date.now()). Each tick walks the open connections
// once; nothing is scheduled per socket.

/** What the timer needs from a connection. */
export interface Ticking {
  tick: (now: number) => void
}

const finest = 5
const coarsest = 1000

export class HeartbeatTimer {
  #now = Date.now()
  #resolution = coarsest
  #timer: NodeJS.Timeout | undefined
  readonly #connections: Iterable<Ticking>

  constructor (connections: Iterable<Ticking>) {
    this.#connections = connections
  }

  /**
   * Milliseconds since the epoch at the last tick; the exact time while the timer is
   * stopped (its last tick may be long past when a first connection opens again).
   */
  get now (): number {
    return this.#timer === undefined ? Date.now() : this.#now
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
   * Starts ticking, if it is not already (a connection opened). It stops by itself at the
   * first tick that finds no connection. It never keeps the process alive.
   */
  start (): void {
    if (this.#timer !== undefined) return
    this.#now = Date.now()
    this.#timer = setInterval(this.#tick, this.#resolution)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  #tick = (): void => {
    const now = this.#now = Date.now()
    let ticked = false
    for (const connection of this.#connections) {
      ticked = true
      connection.tick(now)
    }
    if (!ticked) this.stop()
  }
}
