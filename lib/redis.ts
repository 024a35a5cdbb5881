// `fastify-upgrade/redis`: the pub/sub adapter for Redis, through ioredis (an optional
// peer dependency: only this subpath loads it, the plugin itself never does). One Redis
// channel per topic with subscribers on this server, `prefix + topic`; PUBLISH on one
// connection, SUBSCRIBE on another (a subscribed Redis connection takes no other command).
// Redis pub/sub delivers at most once: a server that is disconnected when a message is
// published never gets it. Order is kept per publishing server and topic (one connection).
import { Redis, type RedisOptions } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { InvalidOptionError, PubSubOverloadedError, ServerClosingError } from './errors.js'
import type { PubSubAdapter } from './pubsub.js'

export interface RedisPubSubOptions {
  /**
   * Where Redis is (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS): the
   * adapter opens its two connections from it and closes them at `app.close()`. Give
   * either `url` or `client`.
   */
  url?: string
  /**
   * Your own ioredis client instead of `url`: publishes go through it, and the adapter
   * subscribes on a `client.duplicate()` that it opens and closes itself. Your client is
   * left open at `app.close()`, and its settings apply to publishes (with its default
   * offline queue, publishes wait while Redis is down, up to `maxPendingBytes`).
   */
  client?: Redis
  /**
   * ioredis options for the connections opened from `url` (TLS, password, retryStrategy...).
   * @default {}
   */
  redisOptions?: RedisOptions
  /**
   * Prepended to each topic to name its Redis channel, so several applications can share a Redis.
   * @default 'fastify-upgrade:'
   */
  prefix?: string
  /**
   * Bytes of publishes sent to Redis and not yet acknowledged. Beyond, a publish fails at
   * once (FST_UPGRADE_PUBSUB_OVERLOADED, counted in publishFailures): a Redis that stalls
   * cannot make the server buffer without bound.
   * @default 8388608 (8 MiB)
   */
  maxPendingBytes?: number
}

const defaultPrefix = 'fastify-upgrade:'
const defaultMaxPendingBytes = 8 * 1024 * 1024
const optionNames = new Set(['url', 'client', 'redisOptions', 'prefix', 'maxPendingBytes'])

/**
 * The Redis adapter, for the plugin's `pubsub` option:
 * `app.register(fastifyUpgrade, { pubsub: redisPubSub({ url: 'redis://127.0.0.1:6379' }) })`.
 * @throws FST_UPGRADE_INVALID_OPTION for options it cannot use (neither or both of url and client, an unknown name)
 */
export function redisPubSub (options: RedisPubSubOptions): PubSubAdapter {
  return new RedisPubSub(options)
}

function noop (): void {}

class RedisPubSub implements PubSubAdapter {
  readonly #publisher: Redis
  readonly #subscriber: Redis
  readonly #ownsPublisher: boolean
  readonly #prefix: string
  readonly #maxPendingBytes: number
  /** Channel → the plugin's handler, changed when subscribe/unsubscribe are called (not when Redis answers). */
  readonly #handlers = new Map<string, (message: Buffer) => void>()
  #pendingBytes = 0
  #closing = false
  /** Rejects at close(): ends the subscriptions still waiting for an unreachable Redis. */
  readonly #closed: Promise<never>
  #close: (error: Error) => void = noop

  constructor (options: RedisPubSubOptions) {
    for (const name of Object.keys(options ?? {})) {
      if (!optionNames.has(name)) throw new InvalidOptionError(`redisPubSub: ${name}`, `unknown option; the options are ${[...optionNames].join(', ')}`)
    }
    const { url, client } = options ?? {}
    if ((url === undefined) === (client === undefined)) throw new InvalidOptionError('redisPubSub', 'give either url or client')
    if (url !== undefined && typeof url !== 'string') throw new InvalidOptionError('redisPubSub: url', 'must be a redis:// or rediss:// URL')
    this.#prefix = options.prefix ?? defaultPrefix
    if (typeof this.#prefix !== 'string') throw new InvalidOptionError('redisPubSub: prefix', 'must be a string')
    this.#maxPendingBytes = options.maxPendingBytes ?? defaultMaxPendingBytes
    if (!Number.isSafeInteger(this.#maxPendingBytes) || this.#maxPendingBytes < 1) throw new InvalidOptionError('redisPubSub: maxPendingBytes', 'must be a positive integer')
    // Connections are opened by start(), once the plugin is registered.
    // Publishes fail at once while Redis is unreachable (no offline queue): they are
    // delivered on this server, counted and logged, never queued without bound.
    this.#publisher = client ?? new Redis(url as string, { ...options.redisOptions, lazyConnect: true, enableOfflineQueue: false })
    this.#ownsPublisher = client === undefined
    // Subscriptions asked for while Redis is down wait for it (the offline queue, with no
    // retry limit); those Redis had confirmed are restored by ioredis on reconnect.
    this.#subscriber = this.#publisher.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true })
    this.#closed = new Promise<never>((_resolve, reject) => { this.#close = reject })
    this.#closed.catch(noop)
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      this.#handlers.get(channel.toString())?.(message)
    })
  }

  start (log: FastifyBaseLogger): void {
    const closing = (): boolean => this.#closing
    if (this.#ownsPublisher) watch(this.#publisher, 'publish', log, closing)
    watch(this.#subscriber, 'subscribe', log, closing)
    // An unreachable Redis is not an error at startup: ioredis keeps retrying, the
    // connection's 'error' events are logged, and topics work on this server meanwhile.
    if (this.#ownsPublisher) this.#publisher.connect().catch(noop)
    this.#subscriber.connect().catch(noop)
  }

  async subscribe (topic: string, onMessage: (message: Buffer) => void): Promise<void> {
    const channel = this.#prefix + topic
    this.#handlers.set(channel, onMessage)
    await Promise.race([this.#subscriber.subscribe(channel), this.#closed])
  }

  async unsubscribe (topic: string): Promise<void> {
    const channel = this.#prefix + topic
    this.#handlers.delete(channel)
    await this.#subscriber.unsubscribe(channel)
  }

  async publish (topic: string, message: Buffer): Promise<void> {
    const size = message.length
    if (this.#pendingBytes + size > this.#maxPendingBytes) throw new PubSubOverloadedError(this.#maxPendingBytes)
    this.#pendingBytes += size
    try {
      await this.#publisher.publish(this.#prefix + topic, message)
    } finally {
      this.#pendingBytes -= size
    }
  }

  async close (): Promise<void> {
    this.#closing = true
    this.#close(new ServerClosingError())
    this.#handlers.clear()
    // disconnect(), not quit(): no reconnection, no wait for a Redis that may be down.
    this.#subscriber.disconnect()
    if (this.#ownsPublisher) this.#publisher.disconnect()
  }
}

/**
 * Logs a connection's outages once each: its loss at `warn` (ioredis reconnects, with an
 * error per failed attempt, at `debug`), and its return at `info`.
 */
function watch (connection: Redis, role: string, log: FastifyBaseLogger, closing: () => boolean): void {
  let down = false
  let lastError: Error | undefined
  connection.on('error', (error: Error) => {
    lastError = error
    log.debug({ err: error, connection: role }, 'websocket pub/sub: Redis connection error')
  })
  connection.on('close', () => {
    if (down || closing()) return
    down = true
    log.warn({ err: lastError, connection: role }, 'websocket pub/sub: Redis connection lost, reconnecting (topics are delivered on this server meanwhile)')
  })
  connection.on('ready', () => {
    if (!down) return
    down = false
    lastError = undefined
    log.info({ connection: role }, 'websocket pub/sub: Redis connection restored')
  })
}
