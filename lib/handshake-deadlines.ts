// The handshake deadlines of the pending upgrades, kept by one timer instead of a
// setTimeout and a clearTimeout per handshake (with the event listeners, the largest cost
// of lib/ in `npm run bench -- --profile fastify-upgrade:handshake`). Every upgrade has the
// same timeout, so deadlines fall due in the order upgrades arrive: the upgrades still
// waiting are kept in that order, the timer is set for the oldest, and when it fires,
// those past due are told and it is set again for the next one. An upgrade leaves as soon
// as its deadline no longer applies (handed over, answered, closed), so a firing only
// ever meets upgrades that are due, and the one after them.
import { performance } from 'node:perf_hooks'

/** A pending upgrade, as the deadlines see it. */
export interface Deadlined {
  deadlinePassed: () => void
}

export class HandshakeDeadlines {
  /** handshakeTimeout, in milliseconds. */
  readonly timeout: number
  // Each waiting upgrade and its deadline (performance.now() ms), in arrival order.
  readonly #waiting = new Map<Deadlined, number>()
  #timer: NodeJS.Timeout | undefined
  readonly #check = (): void => { this.#fire() }

  constructor (timeout: number) {
    this.timeout = timeout
  }

  /** An upgrade arrived: its deadline runs from now. */
  start (upgrade: Deadlined): void {
    if (this.#timer === undefined) this.#arm(this.timeout)
    this.#waiting.set(upgrade, performance.now() + this.timeout)
  }

  /** The upgrade's deadline no longer applies. */
  end (upgrade: Deadlined): void {
    this.#waiting.delete(upgrade)
  }

  /** The app is closing: every pending upgrade has been ended. */
  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#waiting.clear()
  }

  #arm (ms: number): void {
    // Never keeps the process alive: a pending upgrade's socket does, while it is open.
    this.#timer = setTimeout(this.#check, ms).unref()
  }

  #fire (): void {
    this.#timer = undefined
    const now = performance.now()
    for (const [upgrade, deadline] of this.#waiting) {
      // Node's timers count whole milliseconds and may fire a fraction early.
      if (deadline > now) {
        this.#arm(Math.max(1, Math.ceil(deadline - now)))
        return
      }
      this.#waiting.delete(upgrade)
      upgrade.deadlinePassed()
    }
  }
}
