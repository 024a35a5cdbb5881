// A token bucket per connection: `rate` messages per second on average, bursts of up
// to `burst`. The state is one small object per rate-limited connection (tokens and
// the time of the last refill); no timer.

export interface RateLimit {
  /** Messages per second, on average. */
  rate: number
  /** Messages allowed at once (the bucket size). Default: `rate`. */
  burst?: number
  /** Over the limit: 'close' (1008, default) or 'drop' (the message is discarded and counted). */
  policy?: 'close' | 'drop'
}

export class TokenBucket {
  #tokens: number
  #refilledAt: number
  readonly #perMs: number
  readonly #burst: number

  constructor (limit: Required<RateLimit>, now: number) {
    this.#burst = limit.burst
    this.#tokens = limit.burst
    this.#perMs = limit.rate / 1000
    this.#refilledAt = now
  }

  /** Takes a token for one message; false when the bucket is empty. */
  take (now: number): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#refilledAt) * this.#perMs)
    this.#refilledAt = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
