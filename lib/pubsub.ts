// The pub/sub adapter: how topics reach the other servers of an application. The plugin
// delivers every publish to this server's subscribers itself (lib/topics.ts); an adapter
// only moves bytes between servers, one broker channel per topic that has subscribers
// here. Without one (the default), topics are delivered in this process only, and
// nothing remote happens. `fastify-upgrade/redis` (lib/redis.ts) is the Redis adapter;
// another broker (NATS, Postgres LISTEN/NOTIFY...) needs these five members and nothing else.
import type { FastifyBaseLogger } from 'fastify'
import { InvalidOptionError } from './errors.js'

/**
 * What the plugin asks of a broker. Every method is called in the order of the events
 * that cause it, and must act in that order (a subscribe, an unsubscribe and a subscribe
 * again of one topic leave it subscribed). Messages are opaque bytes: the plugin wraps
 * each publish in its own envelope (the origin server and the frame type).
 */
export interface PubSubAdapter {
  /**
   * Called once, when the plugin is registered, with the app's logger: connect here. An
   * unreachable broker must not throw: keep retrying, and log.
   */
  start?: (log: FastifyBaseLogger) => void
  /**
   * Deliver the topic's messages, from every server (this one included), to `onMessage`
   * from now on. Resolves once the broker has confirmed the subscription; while the
   * broker is unreachable, once it is back (the adapter restores its subscriptions itself).
   */
  subscribe: (topic: string, onMessage: (message: Buffer) => void) => Promise<void>
  /** Stop delivering the topic's messages (at once: `onMessage` is not called any more). */
  unsubscribe: (topic: string) => Promise<void>
  /**
   * Send a message to every server subscribed to the topic. Rejects when the broker could
   * not take it (unreachable, or too much waiting): the plugin counts and logs the failure.
   */
  publish: (topic: string, message: Buffer) => Promise<void>
  /** Called once by `app.close()`, after the last connection closed: end what the adapter opened. */
  close: () => Promise<void>
}

const adapterMethods = ['subscribe', 'unsubscribe', 'publish', 'close'] as const

/** The `pubsub` option, checked at registration. */
export function checkPubSubAdapter (adapter: unknown): PubSubAdapter | undefined {
  if (adapter === undefined) return undefined
  const candidate = adapter as Partial<Record<string, unknown>> | null
  const missing = typeof candidate === 'object' && candidate !== null
    ? adapterMethods.filter((method) => typeof candidate[method] !== 'function')
    : adapterMethods
  if (missing.length > 0 || (candidate?.start !== undefined && typeof candidate.start !== 'function')) {
    throw new InvalidOptionError('pubsub', `must be a pub/sub adapter (such as redisPubSub() from fastify-upgrade/redis) with the methods ${adapterMethods.join(', ')}${missing.length > 0 ? `; missing: ${missing.join(', ')}` : ''}, and optionally start`)
  }
  return adapter as PubSubAdapter
}

// The envelope every adapter carries: a version byte, a flags byte (bit 0: binary frame),
// the 16-byte id of the server that published, then the payload as its subscribers get it.
const version = 1
const binaryFlag = 1
const originLength = 16
const headerLength = 2 + originLength

/** A publish as it travels between servers. */
export interface Envelope {
  origin: Buffer
  isBinary: boolean
  payload: Buffer
}

export function encodeEnvelope (origin: Buffer, payload: Buffer, isBinary: boolean): Buffer {
  const message = Buffer.allocUnsafe(headerLength + payload.length)
  message[0] = version
  message[1] = isBinary ? binaryFlag : 0
  origin.copy(message, 2)
  payload.copy(message, headerLength)
  return message
}

/** The envelope in a message from the broker (views, no copy), or undefined when it is not one of ours. */
export function decodeEnvelope (message: Buffer): Envelope | undefined {
  if (message.length < headerLength || message[0] !== version || ((message[1] as number) & ~binaryFlag) !== 0) return undefined
  return {
    origin: message.subarray(2, headerLength),
    isBinary: message[1] === binaryFlag,
    payload: message.subarray(headerLength)
  }
}

export const originIdLength = originLength
