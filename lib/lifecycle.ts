// Which sockets are alive, and how they end when the app closes: new upgrades are
// refused, open connections get 1001 Going Away, and whoever has not finished the
// closing handshake within the timeout is terminated.
import type { Duplex } from 'node:stream'
import { CloseCode } from './close-codes.js'
import type { WebSocketConnection } from './connection.js'

export class Lifecycle {
  /** Upgrade sockets between the 'upgrade' event and the end of their handshake or reply. */
  readonly pending = new Set<Duplex>()
  readonly open = new Set<WebSocketConnection<never, never>>()
  closing = false
  #drained: (() => void) | undefined

  add (connection: WebSocketConnection<never, never>): void {
    this.open.add(connection)
    connection.raw.once('close', () => {
      this.open.delete(connection)
      if (this.open.size === 0) this.#drained?.()
    })
  }

  async shutdown (timeout: number): Promise<void> {
    this.closing = true
    if (this.open.size > 0) {
      const drained = new Promise<void>((resolve) => { this.#drained = resolve })
      for (const connection of this.open) connection.close(CloseCode.GoingAway, 'server shutting down')
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout) })
      await Promise.race([drained, timedOut])
      clearTimeout(timer)
      for (const connection of this.open) connection.terminate()
    }
    for (const socket of this.pending) socket.destroy()
  }
}
