// Topics: which sockets of this server listen to which topic, and the fan-out of a
// publish to them. A publish is checked (typed topics) and encoded once, into one Buffer
// that every subscriber's frame shares; each socket sends it under its own backpressure
// policy (connection.ts' publishFrame), and writes of one tick are batched per socket.
// Other servers are reached through the pub/sub adapter (pubsub.ts), one channel per
// topic with subscribers here; a message that comes back from the broker with this
// server's own id was delivered here already and is dropped.
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { AnyWebSocketConnection } from './connection.js'
import { InvalidOptionError, InvalidPublishError, InvalidTopicError, TooManyTopicsError } from './errors.js'
import { MessageCodec } from './messages.js'
import { decodeEnvelope, encodeEnvelope, originIdLength, type PubSubAdapter } from './pubsub.js'
import type { TopicStats, TopicTotals } from './stats.js'
import { topicFrame, type TopicFrame } from './ws-frames.js'

/** What the registry needs of a socket. */
export interface Subscriber {
  readonly readyState: number
  /**
   * Sends a frame built once for every subscriber, past `schema.send`, under the socket's
   * backpressure policy. False when the policy refused it (dropped, or closing the socket).
   */
  publishFrame: (frame: TopicFrame) => boolean
}

/** `websocketPublish`'s options. */
export interface PublishOptions {
  /** A socket of this server that does not get the message (typically the one it came from). */
  except?: AnyWebSocketConnection
}

/** What `websocketPublish` resolves with. */
export interface PublishResult {
  /** Sockets of this server that the message was sent to (other servers' are not counted). */
  delivered: number
}

export interface TopicLimits {
  maxTopicsPerSocket: number
  maxTopicLength: number
}

const open = 1
const closed = 3
const resolved = Promise.resolve()

/** One topic with subscribers on this server. */
class Topic {
  readonly subscribers = new Set<Subscriber>()
  /** Settles when the adapter confirmed the subscription (at once without an adapter). */
  ready: Promise<void> = resolved
  publishes = 0
  received = 0
  deliveries = 0
  drops = 0
  publishFailures = 0
}

/** A topic name or pattern declared with a schema. */
interface DeclaredTopic {
  pattern: string
  /** Undefined for an exact name (no `*`). */
  matches: RegExp | undefined
  codec: MessageCodec
}

/** `*` matches any run of characters, none included; everything else is literal. */
function patternExpression (pattern: string): RegExp {
  const literal = pattern.split('*').map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
  return new RegExp(`^${literal.join('[\\s\\S]*')}$`)
}

export class Topics {
  readonly #topics = new Map<string, Topic>()
  readonly #exact = new Map<string, DeclaredTopic>()
  readonly #patterns: DeclaredTopic[] = []
  readonly #limits: TopicLimits
  readonly #adapter: PubSubAdapter | undefined
  /** This server's id in the envelopes it publishes. */
  readonly #origin = randomBytes(originIdLength)
  #log: FastifyBaseLogger | undefined
  #closed = false
  /** Publishes the broker refused since it last took one (logged once per outage). */
  #failing = 0
  readonly totals: Omit<TopicTotals, 'topics' | 'subscriptions'> = { publishes: 0, received: 0, deliveries: 0, drops: 0, publishFailures: 0, invalidRemoteMessages: 0 }

  constructor (limits: TopicLimits, adapter: PubSubAdapter | undefined) {
    this.#limits = limits
    this.#adapter = adapter
  }

  /** The plugin is registered: the adapter may connect. */
  start (log: FastifyBaseLogger): void {
    this.#log = log
    this.#adapter?.start?.(log)
  }

  /**
   * `app.websocketTopic(pattern, schema)`: publishes to every topic the pattern matches are
   * checked against the schema, once per publish.
   * @throws FST_UPGRADE_INVALID_OPTION for an invalid pattern, a pattern declared twice or a schema that does not compile
   */
  declare (pattern: string, schema: unknown): void {
    const where = `websocketTopic('${String(pattern)}')`
    if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > this.#limits.maxTopicLength) {
      throw new InvalidOptionError(where, `the pattern must be a non-empty string of at most ${this.#limits.maxTopicLength} characters (maxTopicLength)`)
    }
    if (this.#exact.has(pattern) || this.#patterns.some((declared) => declared.pattern === pattern)) {
      throw new InvalidOptionError(where, 'this pattern is declared already')
    }
    if (typeof schema !== 'object' || schema === null) throw new InvalidOptionError(where, 'the schema must be a TypeBox (0.34 or 1.x) or JSON Schema object')
    const matches = pattern.includes('*') ? patternExpression(pattern) : undefined
    const declared = { pattern, matches, codec: MessageCodec.forTopic(schema, pattern) }
    if (matches === undefined) this.#exact.set(pattern, declared)
    else this.#patterns.push(declared)
  }

  subscribe (socket: Subscriber, own: Set<string>, topic: string): Promise<void> {
    const invalid = this.#checkName(topic)
    if (invalid !== undefined) return Promise.reject(invalid)
    // A closed socket has left its topics already: joining now would never be undone.
    if (socket.readyState === closed) return resolved
    let record = this.#topics.get(topic)
    if (own.has(topic)) return (record as Topic).ready
    if (own.size >= this.#limits.maxTopicsPerSocket) return Promise.reject(new TooManyTopicsError(this.#limits.maxTopicsPerSocket))
    if (record === undefined) {
      record = new Topic()
      this.#topics.set(topic, record)
      if (this.#adapter !== undefined && !this.#closed) record.ready = this.#remoteSubscribe(this.#adapter, topic)
    }
    record.subscribers.add(socket)
    own.add(topic)
    return record.ready
  }

  unsubscribe (socket: Subscriber, own: Set<string>, topic: string): Promise<void> {
    if (!own.delete(topic)) return resolved
    return this.#leave(socket, topic)
  }

  /** A socket closed: it leaves every topic. */
  leaveAll (socket: Subscriber, own: Set<string>): void {
    for (const topic of own) void this.#leave(socket, topic)
    own.clear()
  }

  /**
   * `app.websocketPublish()`: checks (typed topics) and encodes the message once, sends it
   * to this server's subscribers, then hands it to the adapter for the other servers.
   */
  publish (topic: string, message: unknown, options: PublishOptions | undefined): Promise<PublishResult> {
    const invalid = this.#checkName(topic)
    if (invalid !== undefined) return Promise.reject(invalid)
    let payload: Buffer
    let isBinary: boolean
    try {
      ;[payload, isBinary] = this.#encode(topic, message)
    } catch (error) {
      return Promise.reject(error)
    }
    const totals = this.totals
    totals.publishes++
    const record = this.#topics.get(topic)
    let delivered = 0
    if (record !== undefined) {
      record.publishes++
      delivered = this.#fanOut(record, payload, isBinary, options?.except)
    }
    const result = { delivered }
    if (this.#adapter === undefined || this.#closed) return Promise.resolve(result)
    return this.#adapter.publish(topic, encodeEnvelope(this.#origin, payload, isBinary)).then(() => {
      if (this.#failing > 0) {
        this.#log?.info({ failed: this.#failing }, 'websocket pub/sub: publishing to the broker works again')
        this.#failing = 0
      }
      return result
    }, (error: unknown) => {
      totals.publishFailures++
      const current = this.#topics.get(topic)
      if (current !== undefined) current.publishFailures++
      // One warning per outage; the rest at debug level, so an outage cannot flood the logs.
      this.#log?.[this.#failing++ === 0 ? 'warn' : 'debug']({ err: error, topic }, 'websocket pub/sub: publish did not reach the broker (delivered on this server only)')
      return result
    })
  }

  /** app.close(): after the last connection closed, the adapter ends what it opened. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#adapter?.close()
  }

  /** Per-topic counters (topics with subscribers on this server) and the totals. */
  snapshot (): { topics: Record<string, TopicStats>, topicTotals: TopicTotals } {
    const topics: Record<string, TopicStats> = {}
    let subscriptions = 0
    for (const [name, record] of this.#topics) {
      const { subscribers, publishes, received, deliveries, drops, publishFailures } = record
      topics[name] = { subscribers: subscribers.size, publishes, received, deliveries, drops, publishFailures }
      subscriptions += subscribers.size
    }
    return { topics, topicTotals: { topics: this.#topics.size, subscriptions, ...this.totals } }
  }

  #checkName (topic: unknown): Error | undefined {
    if (typeof topic !== 'string' || topic.length === 0) return new InvalidTopicError('a topic is a non-empty string')
    if (topic.length > this.#limits.maxTopicLength) return new InvalidTopicError(`longer than ${this.#limits.maxTopicLength} characters (maxTopicLength)`)
    return undefined
  }

  /**
   * The frame payload, once for all subscribers. Untyped topics: a string is text, bytes
   * are binary, anything else is JSON. Typed topics are checked against every declared
   * pattern the name matches, and, as with `schema.send`, JSON-encoded unless binary.
   */
  #encode (topic: string, message: unknown): [Buffer, boolean] {
    let typed = false
    const exact = this.#exact.get(topic)
    if (exact !== undefined) {
      typed = true
      check(exact, topic, message)
    }
    for (const declared of this.#patterns) {
      if ((declared.matches as RegExp).test(topic)) {
        typed = true
        check(declared, topic, message)
      }
    }
    if (message instanceof Uint8Array) return [Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength), true]
    if (!typed) {
      if (typeof message === 'string') return [Buffer.from(message), false]
      if (ArrayBuffer.isView(message)) return [Buffer.from(message.buffer, message.byteOffset, message.byteLength), true]
      if (message instanceof ArrayBuffer) return [Buffer.from(message), true]
    }
    let text: string | undefined
    try {
      text = JSON.stringify(message)
    } catch (error) {
      throw new InvalidPublishError(topic, `the message cannot be JSON-encoded: ${(error as Error).message}`)
    }
    if (text === undefined) throw new InvalidPublishError(topic, `a message of type ${typeof message} cannot be JSON-encoded`)
    return [Buffer.from(text), false]
  }

  #fanOut (record: Topic, payload: Buffer, isBinary: boolean, except: object | undefined): number {
    let delivered = 0
    let drops = 0
    // Built once, when the first subscriber is sent it.
    let frame: TopicFrame | undefined
    for (const socket of record.subscribers) {
      // A closing socket is still subscribed until its 'close': it gets nothing meanwhile.
      if (socket === except || socket.readyState !== open) continue
      frame ??= topicFrame(payload, isBinary)
      if (socket.publishFrame(frame)) delivered++
      else drops++
    }
    record.deliveries += delivered
    record.drops += drops
    this.totals.deliveries += delivered
    this.totals.drops += drops
    return delivered
  }

  #remoteSubscribe (adapter: PubSubAdapter, topic: string): Promise<void> {
    return adapter.subscribe(topic, (message) => { this.#onRemote(topic, message) })
  }

  #onRemote (topic: string, message: Buffer): void {
    const envelope = decodeEnvelope(message)
    if (envelope === undefined) {
      this.totals.invalidRemoteMessages++
      this.#log?.debug({ topic, bytes: message.length }, 'websocket pub/sub: a message on the topic\'s channel is not a fastify-upgrade envelope, dropped')
      return
    }
    // Published here: this server's subscribers had it at publish time.
    if (this.#origin.equals(envelope.origin)) return
    const record = this.#topics.get(topic)
    if (record === undefined) return
    record.received++
    this.totals.received++
    this.#fanOut(record, envelope.payload, envelope.isBinary, undefined)
  }

  #leave (socket: Subscriber, topic: string): Promise<void> {
    const record = this.#topics.get(topic) as Topic
    record.subscribers.delete(socket)
    if (record.subscribers.size > 0) return resolved
    this.#topics.delete(topic)
    if (this.#adapter === undefined || this.#closed) return resolved
    return this.#adapter.unsubscribe(topic).catch((error: unknown) => {
      this.#log?.debug({ err: error, topic }, 'websocket pub/sub: unsubscribe did not reach the broker')
    })
  }
}

function check (declared: DeclaredTopic, topic: string, message: unknown): void {
  const invalid = declared.codec.checkSend(message)
  if (invalid !== undefined) throw new InvalidPublishError(topic, `the message does not match the schema of '${declared.pattern}': ${invalid.message} at "${invalid.path}"`)
}
