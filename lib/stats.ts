import type { OpenConnection } from './connection.js'

// Counters for app.websocketStats(). The per-message path only increments integers on
// an object it already holds; bytes come from the sockets' own counters when asked.

/** Counters of one route, and its open connections (the plugin's one record of them). */
export class RouteStats {
  readonly connections = new Set<OpenConnection>()
  messagesIn = 0
  messagesOut = 0
  invalidMessages = 0
  droppedMessages = 0
}

export interface WebSocketStats {
  /** Open WebSocket connections, in all and by route URL. */
  open: number
  routes: Record<string, { open: number, messagesIn: number, messagesOut: number, invalidMessages: number, droppedMessages: number }>
  messagesIn: number
  messagesOut: number
  /** Bytes read and written on the wire by WebSocket connections (frames included), closed and open. */
  bytesIn: number
  bytesOut: number
  invalidMessages: number
  droppedMessages: number
  /** Closed connections by close code (1006: ended without a close frame). */
  closes: Record<string, number>
  /** Upgrade requests answered without switching, by reason (an error code, or `status <code>` for replies from hooks, validation and routing). */
  rejectedHandshakes: Record<string, number>
  /** Topics with subscribers on this server, by name (an entry lives while the topic has subscribers here). */
  topics: Record<string, TopicStats>
  /** Every topic's counters since the app started, and the subscriptions now. */
  topicTotals: TopicTotals
}

/** One topic's counters on this server. */
export interface TopicStats {
  /** Sockets of this server subscribed to it. */
  subscribers: number
  /** websocketPublish() calls for it on this server. */
  publishes: number
  /** Messages for it from other servers, through the pub/sub adapter. */
  received: number
  /** Frames sent to this server's subscribers (from publishes here and from other servers). */
  deliveries: number
  /** Frames refused by a subscriber's backpressure policy (also in its route's droppedMessages). */
  drops: number
  /** Publishes here that the pub/sub adapter could not hand to the broker (delivered here only). */
  publishFailures: number
}

export interface TopicTotals extends Omit<TopicStats, 'subscribers'> {
  /** Topics with subscribers on this server. */
  topics: number
  /** Subscriptions of this server's sockets, over all topics. */
  subscriptions: number
  /** Messages on a topic's channel that were not fastify-upgrade envelopes (dropped). */
  invalidRemoteMessages: number
}

/** The wire counters of a socket (net.Socket's, and injectWS' in-memory socket's). */
export interface CountingSocket {
  bytesRead: number
  bytesWritten: number
}

export class Stats {
  readonly #routes = new Map<string, RouteStats>()
  readonly #closes = new Map<number, number>()
  readonly #rejected = new Map<string, number>()
  #closedBytesIn = 0
  #closedBytesOut = 0

  /** The counters of a route, made once when the route is registered. */
  route (url: string): RouteStats {
    let route = this.#routes.get(url)
    if (route === undefined) {
      route = new RouteStats()
      this.#routes.set(url, route)
    }
    return route
  }

  closed (code: number, socket: CountingSocket): void {
    this.#closes.set(code, (this.#closes.get(code) ?? 0) + 1)
    this.#closedBytesIn += socket.bytesRead
    this.#closedBytesOut += socket.bytesWritten
  }

  rejected (reason: string): void {
    this.#rejected.set(reason, (this.#rejected.get(reason) ?? 0) + 1)
  }

  /** Every route's record (routes with the same URL share one). */
  routes (): IterableIterator<RouteStats> {
    return this.#routes.values()
  }

  /** The counters now; the topics' come from the topic registry (topics.ts). */
  snapshot (topics: Pick<WebSocketStats, 'topics' | 'topicTotals'>): WebSocketStats {
    const stats: WebSocketStats = {
      open: 0,
      routes: {},
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: this.#closedBytesIn,
      bytesOut: this.#closedBytesOut,
      invalidMessages: 0,
      droppedMessages: 0,
      closes: Object.fromEntries(this.#closes),
      rejectedHandshakes: Object.fromEntries(this.#rejected),
      topics: topics.topics,
      topicTotals: topics.topicTotals
    }
    for (const [url, route] of this.#routes) {
      const { connections, messagesIn, messagesOut, invalidMessages, droppedMessages } = route
      stats.routes[url] = { open: connections.size, messagesIn, messagesOut, invalidMessages, droppedMessages }
      stats.open += connections.size
      for (const { wire } of connections) {
        stats.bytesIn += wire.bytesRead
        stats.bytesOut += wire.bytesWritten
      }
      stats.messagesIn += route.messagesIn
      stats.messagesOut += route.messagesOut
      stats.invalidMessages += route.invalidMessages
      stats.droppedMessages += route.droppedMessages
    }
    return stats
  }
}
