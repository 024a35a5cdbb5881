// The handshake deadlines of the pending upgrades, kept by one timer instead of a
// setTimeout and a clearTimeout per handshake (with the event listeners, the largest cost
// of lib/ in `npm run bench -- --profile fastify-upgrade:handshake`). Every upgrade has the
// same timeout, so deadlines fall due in the order upgrades arrive, which is the order of
// the lifecycle's set of pending upgrades: the timer is set for the oldest; when it fires,
// those past due are told, and it is set again for the next one.
import { performance } from 'node:perf_hooks'

/** A pending upgrade, as the deadlines see it. */
export interface Deadlined {
  /** When its handshake must have reached its route (performance.now() ms); 0: no deadline any more. */
  readonly deadline: number
  deadlinePassed: () => void
}

export class HandshakeDeadlines {
  /** handshakeTimeout, in milliseconds. */
  readonly timeout: number
  readonly #pending: Iterable<Deadlined>
  #timer: NodeJS.Timeout | undefined
  readonly #check = (): void => { this.#fire() }

  /** `pending`: the pending upgrades, in the order they arrived (a Set keeps it). */
  constructor (pending: Iterable<Deadlined>, timeout: number) {
    this.#pending = pending
    this.timeout = timeout
  }

  /** The deadline of an upgrade that arrives now. */
  next (): number {
    if (this.#timer === undefined) this.#arm(this.timeout)
    return performance.now() + this.timeout
  }

  /** The app is closing: every pending upgrade has been ended. */
  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm (ms: number): void {
    // Never keeps the process alive: a pending upgrade's socket does, while it is open.
    this.#timer = setTimeout(this.#check, ms).unref()
  }

  #fire (): void {
    this.#timer = undefined
    const now = performance.now()
    for (const upgrade of this.#pending) {
      const deadline = upgrade.deadline
      if (deadline === 0) continue
      // Node's timers count whole milliseconds and may fire a fraction early.
      if (deadline > now) {
        this.#arm(Math.max(1, Math.ceil(deadline - now)))
        return
      }
      upgrade.deadlinePassed()
    }
  }
}
