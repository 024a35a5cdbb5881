// The socket a handler receives: a ws WebSocket (a subclass, created by ws itself through
// its `WebSocket` server option), so everything ws offers works on it. On top of ws it
// holds back messages until the handler listens (up to maxHeldBytes), decodes and checks
// them when the route has message schemas, applies the route's limits, and hands every
// listener exception to the route's error handler: nothing a peer triggers escapes.
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { WebSocket as WsSocket, type RawData } from 'ws'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { CloseCode } from './close-codes.js'
import { InvalidOptionError, InvalidSendError } from './errors.js'
import type { HeartbeatTimer, Ticking } from './heartbeat.js'
import type { Lifecycle } from './lifecycle.js'
import { InvalidMessage, type InvalidMessageHandler, type MessageCodec } from './messages.js'
import { TokenBucket, type RateLimit } from './rate-limit.js'
import type { CountingSocket, RouteStats, Stats } from './stats.js'
import type { Topics } from './topics.js'
import { senderIsIdle, type TopicFrame } from './ws-frames.js'

/** What a route without message schemas receives: ws' own `(data, isBinary)` pair. */
export type RawMessage = [data: Buffer, isBinary: boolean]
/** Anything ws can send. */
export type RawSendData = Buffer | ArrayBuffer | ArrayBufferView | string

export interface ConnectionEvents<Message extends unknown[]> {
  message: Message
  close: [code: number, reason: string]
  error: [error: Error]
  ping: [data: Buffer]
  pong: [data: Buffer]
  /** The operating system took all buffered data: `bufferedAmount` is low again. */
  drain: []
}

/** Per-message-type events of a `schema.messages` route: `say: [message: SayMessage]`. */
export type TaggedEvents<Tagged> = { [Type in keyof Tagged]: [message: Tagged[Type]] }

/** Everything a connection needs from its route, built once when the route is registered. */
export interface SocketSettings {
  /** Decodes and checks incoming messages; undefined keeps ws' raw (data, isBinary). */
  decoder: MessageCodec | undefined
  /** Checks outgoing messages; undefined when there is no schema.send or validateSend is off. */
  sendChecker: MessageCodec | undefined
  /** schema.send is declared: send() JSON-encodes what is not binary. */
  encodesJson: boolean
  /** 'close', 'reply' or 'ignore': what a route without a function of its own does with an invalid message. */
  invalidPolicy: InvalidMessageHandler<AnyWebSocketConnection>
  /** The route's own onInvalidMessage function (handed the request), replacing invalidPolicy. */
  onInvalidMessage: InvalidMessageHandler<AnyWebSocketConnection, FastifyRequest> | undefined
  /** The route's own errorHandler (handed the request); undefined: log and close with 1011. */
  onError: ((error: unknown, socket: AnyWebSocketConnection, request: FastifyRequest) => void) | undefined
  url: string
  /** Ping every `interval` ms; terminate a peer whose pong is `timeout` ms late. */
  heartbeat: { interval: number, timeout: number } | undefined
  /** Close (1000) after this many ms without a message or pong from the peer; 0: never. */
  idleTimeout: number
  /** send() refuses data while more than this many bytes wait to be written. */
  maxBackpressure: number
  /** Decoded bytes of messages held before the handler listens; over it, 1008. */
  maxHeldBytes: number
  backpressurePolicy: 'close' | 'drop'
  rateLimit: Required<RateLimit> | undefined
  timer: HeartbeatTimer
  stats: Stats
  routeStats: RouteStats
  /** Told when this connection closes. */
  lifecycle: Lifecycle
  /** The plugin's topic registry: subscribe() and unsubscribe() go there. */
  topics: Topics
}

/** What a connection is created with: ws calls the constructor itself, inside handleUpgrade. */
interface Accepting {
  request: FastifyRequest
  socket: Duplex
  settings: SocketSettings
}

// Set only for the synchronous duration of ws' handleUpgrade (see accepting()).
let nextConnection: Accepting | undefined

/**
 * Runs `handshake` (ws' handleUpgrade) with what the connection it creates needs: ws
 * constructs the socket itself, synchronously, and passes the constructor nothing of ours.
 */
export function accepting (context: Accepting, handshake: () => void): void {
  nextConnection = context
  try {
    handshake()
  } finally {
    nextConnection = undefined
  }
}

// Shared functions, defined in the class' static block (they reach its private members).
let onNewListener: (this: WebSocketConnection<never, never, never>, event: string | symbol) => void
let flush: (connection: WebSocketConnection<never, never, never>) => void
let uncork: (connection: WebSocketConnection<never, never, never>) => void

// Connections whose socket publishFrame() corked in this tick: uncorked together on the
// next tick, so the frames of a burst of publishes leave in one write per socket.
let corked: Array<WebSocketConnection<never, never, never>> = []

function uncorkAll (): void {
  const connections = corked
  corked = []
  for (const connection of connections) uncork(connection)
}

const binaryFrame: SendOptions = { binary: true }
const textFrame: SendOptions = { binary: false }

const emit = EventEmitter.prototype.emit
const wsSend = WsSocket.prototype.send

/** ws' WebSocket, less the event and send members that the route's schemas type more precisely. */
export type WebSocketMembers = Omit<WsSocket, keyof EventEmitter | 'send'>

/** The socket's typed surface: ws' members, and events typed from the route's schemas. */
export interface TypedWebSocket<Message extends unknown[], Tagged> extends WebSocketMembers, Omit<EventEmitter<ConnectionEvents<Message> & TaggedEvents<Tagged>>, 'emit'> {}

/** ws' WebSocket class, seen with the typed surface (the runtime class is ws' own). */
type TypedWebSocketClass = new <Message extends unknown[], Tagged> (address: null, protocols: undefined, options: object) => TypedWebSocket<Message, Tagged>
const TypedWebSocketBase = WsSocket as unknown as TypedWebSocketClass

/**
 * After a close for a broken limit, how long the peer has to finish the closing
 * handshake before its TCP connection is destroyed (ws' own wait is 30 s, far too
 * long for a peer that is flooding).
 */
const policyCloseGrace = 1000

// Listening to these does not mean the handler is ready for messages.
const lifecycleEvents = new Set<string | symbol>(['close', 'error', 'ping', 'pong', 'drain'])

/** The default error policy: log through the request's logger and close this connection only. */
export function closeWithInternalError (error: unknown, socket: AnyWebSocketConnection, log: FastifyBaseLogger): void {
  log.error({ err: error }, 'websocket handler failed')
  socket.close(CloseCode.InternalError, 'internal error')
}

/** ws' options of `send`, for callers that pass them (createWebSocketStream does not). */
export interface SendOptions {
  binary?: boolean
  compress?: boolean
  fin?: boolean
  mask?: boolean
}

type SendCallback = (error?: Error) => void

/**
 * Any route's socket, whatever its message schemas: what error handlers, invalid-message
 * policies and the plugin's own bookkeeping receive. Every route's socket is one. It can
 * send (checked against the route's `schema.send` at run time, as always), close and
 * read state; its events are typed on the route's own socket type.
 */
export interface AnyWebSocketConnection extends WebSocketMembers {
  /** As the route socket's `send`: the value must match the route's `schema.send` (checked at run time). */
  send (data: unknown, callback?: SendCallback): boolean
  send (data: unknown, options: SendOptions, callback?: SendCallback): boolean
  /** Sends data as is, past schema.send. */
  sendRaw (data: RawSendData, callback?: SendCallback): boolean
  sendRaw (data: RawSendData, options: SendOptions, callback?: SendCallback): boolean
  /** Joins a topic (see `WebSocketConnection.subscribe`). */
  subscribe (topic: string): Promise<void>
  /** Leaves a topic. */
  unsubscribe (topic: string): Promise<void>
  /** The topics this socket is subscribed to. */
  readonly topics: ReadonlySet<string>
}

/** What the plugin's lifecycle and shared timer use of an open connection. */
export interface OpenConnection extends AnyWebSocketConnection, Ticking {
  /** The wire counters of the underlying socket, for stats. */
  readonly wire: CountingSocket
}

export class WebSocketConnection<
  Message extends unknown[] = RawMessage,
  Send = RawSendData,
  Tagged = Record<never, never>
> extends TypedWebSocketBase<Message, Tagged> implements OpenConnection {
  // The request's logger: the connection's log lines carry the request's id.
  readonly #log: FastifyBaseLogger
  // The request itself is kept only for a route's own errorHandler or onInvalidMessage
  // function. Otherwise an idle connection would hold the Fastify request, its
  // IncomingMessage and the header strings (about 1.2 KB of heap) that nothing reads: the
  // handler is handed the request, and keeps what it needs of it.
  readonly #request: FastifyRequest | undefined
  // Messages that arrived before the handler listened; null once delivery is live.
  #held: Array<[data: RawData, isBinary: boolean]> | null = []
  #heldBytes = 0
  #invalidMessages = 0
  readonly #settings: SocketSettings
  readonly #socket: Duplex & CountingSocket
  readonly #openedAt: number
  // Heartbeat and idle state, read by the shared timer (heartbeat.ts).
  #pingSentAt = 0
  #nextPingAt: number
  #lastSeenAt: number
  readonly #bucket: TokenBucket | undefined
  // Closed for a broken limit: nothing more from the peer is processed.
  #overLimit = false
  // The topics this socket is subscribed to; made on first use.
  #topics: Set<string> | undefined
  // The socket is corked until the next tick (publishFrame).
  #corked = false

  /** Called by ws' WebSocketServer (its `WebSocket` option), inside `accepting()`. */
  constructor (address: null, protocols: undefined, options: object) {
    super(address, protocols, options)
    const context = nextConnection
    // app.websocketServer.handleUpgrade() called by the application: the handshake has no
    // route, hooks or settings. Refused by name rather than by a TypeError deep in ws.
    if (context === undefined) throw new InvalidOptionError('websocketServer.handleUpgrade()', 'the plugin\'s ws servers take only upgrades that Fastify routed: declare a route with websocket: true')
    const { request, settings } = context
    this.#log = request.log
    this.#request = settings.onError !== undefined || settings.onInvalidMessage !== undefined ? request : undefined
    this.#settings = settings
    // The upgrade socket is a net.Socket (or injectWS' in-memory socket): both count bytes.
    this.#socket = context.socket as Duplex & CountingSocket
    const now = settings.timer.opened()
    this.#openedAt = settings.timer.clock.now()
    this.#lastSeenAt = now
    this.#nextPingAt = now + (settings.heartbeat?.interval ?? 0)
    this.#bucket = settings.rateLimit === undefined ? undefined : new TokenBucket(settings.rateLimit, this.#openedAt)
    this.#log.debug({ route: settings.url }, 'websocket open')
    // 'newListener' is EventEmitter's own event, outside the typed event map.
    ;(this as EventEmitter).on('newListener', onNewListener)
  }

  /** This socket, typed as ws' WebSocket: for APIs typed against ws (createWebSocketStream). */
  get raw (): WsSocket {
    return this as unknown as WsSocket
  }

  /**
   * ws reports what the peer did by emitting on the socket itself: its messages, pings,
   * pongs, close and errors are taken here (held, decoded, rate-limited, guarded) and
   * re-emitted to the handler's listeners. Every other event is emitted as usual.
   * (It overrides EventEmitter's emit, which the typed surface leaves out.)
   */
  emit (event: string | symbol, ...args: unknown[]): boolean
  emit (event: string | symbol, first?: unknown, second?: unknown): boolean {
    switch (event) {
      case 'message': this.#onMessage(first as RawData, second as boolean); return true
      case 'ping': this.#onPing(first as Buffer); return true
      case 'pong': this.#onPong(first as Buffer); return true
      case 'close': this.#onClose(first as number, second as Buffer); return true
      case 'error': this.#onError(first as Error); return true
    }
    // Fixed arities on the common path; the rare event with more arguments keeps them all.
    return arguments.length <= 3 ? emit.call(this, event, first, second) : Reflect.apply(emit, this, arguments)
  }

  /**
   * Sends a message. With schema.send the value is checked (when validateSend is on; an
   * invalid value throws FST_UPGRADE_INVALID_SEND and nothing is sent) and JSON-encoded,
   * unless it is binary. Returns false when the message was not sent because more than
   * `maxBackpressure` bytes are still waiting (then the backpressure policy applies).
   * @throws FST_UPGRADE_INVALID_SEND (InvalidSendError) when the value fails schema.send; nothing is sent
   */
  send (data: Send, callback?: SendCallback): boolean
  send (data: Send, options: SendOptions, callback?: SendCallback): boolean
  send (data: Send, optionsOrCallback?: SendOptions | SendCallback, callback?: SendCallback): boolean {
    const settings = this.#settings
    if (settings.sendChecker !== undefined) {
      const invalid = settings.sendChecker.checkSend(data)
      if (invalid !== undefined) throw new InvalidSendError(invalid.message, invalid.path)
    }
    return this.#write(settings.encodesJson && !(data instanceof Uint8Array) ? JSON.stringify(data) : data as RawSendData, optionsOrCallback, callback)
  }

  /** Sends data as is, past schema.send: the escape hatch. Backpressure still applies. */
  sendRaw (data: RawSendData, callback?: SendCallback): boolean
  sendRaw (data: RawSendData, options: SendOptions, callback?: SendCallback): boolean
  sendRaw (data: RawSendData, optionsOrCallback?: SendOptions | SendCallback, callback?: SendCallback): boolean {
    return this.#write(data, optionsOrCallback, callback)
  }

  /**
   * Joins a topic: from now on, `app.websocketPublish(topic, ...)` on this server sends the
   * message to this socket too, and on every server once the promise resolves (with a
   * `pubsub` adapter: when the broker has confirmed the subscription). Joining a topic
   * joined already, or after the socket closed, changes nothing. Messages published to it
   * pass `schema.send` (a topic declared with `websocketTopic()` has its own schema).
   * @throws (rejects) FST_UPGRADE_INVALID_TOPIC for a name that is not a non-empty string of at most `maxTopicLength` characters, FST_UPGRADE_TOO_MANY_TOPICS past `maxTopicsPerSocket`
   */
  subscribe (topic: string): Promise<void> {
    return this.#settings.topics.subscribe(this, this.#ownTopics(), topic)
  }

  /** Leaves a topic: this server sends it nothing more from it at once. A closed socket leaves all its topics by itself. */
  unsubscribe (topic: string): Promise<void> {
    return this.#settings.topics.unsubscribe(this, this.#ownTopics(), topic)
  }

  /** The topics this socket is subscribed to, in the order it joined them. */
  get topics (): ReadonlySet<string> {
    return this.#ownTopics()
  }

  #ownTopics (): Set<string> {
    this.#topics ??= new Set()
    return this.#topics
  }

  /**
   * A topic's frame, built once for all its subscribers (topics.ts, ws-frames.ts): past
   * schema.send, under this socket's backpressure policy and counters, as sendRaw. The
   * socket stays corked until the next tick, so a burst of publishes leaves in one write.
   * @internal
   */
  publishFrame (frame: TopicFrame): boolean {
    if (!this.#corked) {
      this.#corked = true
      this.#socket.cork()
      if (corked.push(this as unknown as WebSocketConnection<never, never, never>) === 1) process.nextTick(uncorkAll)
    }
    if (!this.#mayWrite()) return false
    // ws writes through this socket: the prebuilt frame goes where ws' send() would put it.
    if (senderIsIdle(this)) this.#socket.write(frame.wire)
    else wsSend.call(this.raw, frame.payload, frame.isBinary ? binaryFrame : textFrame)
    return true
  }

  #write (data: RawSendData, optionsOrCallback: SendOptions | SendCallback | undefined, callback: SendCallback | undefined): boolean {
    if (!this.#mayWrite()) return false
    const options = typeof optionsOrCallback === 'object' ? optionsOrCallback : undefined
    const done = typeof optionsOrCallback === 'function' ? optionsOrCallback : callback
    wsSend.call(this.raw, data, options ?? {}, done === undefined ? undefined : this.#guard(done))
    return true
  }

  /**
   * The backpressure policy, one definition for everything this socket sends (send,
   * sendRaw, topic frames): over maxBackpressure the message is refused and counted, and
   * under 'close' the socket closes with 1008.
   */
  #mayWrite (): boolean {
    const settings = this.#settings
    if (this.bufferedAmount > settings.maxBackpressure) {
      settings.routeStats.droppedMessages++
      if (settings.backpressurePolicy === 'close') this.#closeOverLimit('backpressure limit exceeded')
      return false
    }
    settings.routeStats.messagesOut++
    return true
  }

  /**
   * Called by the shared timer: heartbeat and idle deadlines. A closing connection is
   * checked too: a peer that stops answering during the closing handshake is dead as well.
   */
  tick (now: number): void {
    const { heartbeat, idleTimeout } = this.#settings
    if (heartbeat !== undefined) {
      if (this.#pingSentAt !== 0) {
        if (now - this.#pingSentAt >= heartbeat.timeout) {
          this.#log.info({ route: this.#settings.url, timeout: heartbeat.timeout }, 'websocket peer missed its pong, terminated')
          this.terminate()
          return
        }
      } else if (now >= this.#nextPingAt) {
        this.#pingSentAt = now
        this.#nextPingAt = now + heartbeat.interval
        this.ping()
      }
    }
    if (idleTimeout > 0 && now - this.#lastSeenAt >= idleTimeout) this.close(CloseCode.Normal, 'idle timeout')
  }

  /**
   * The handler finished (returned, or its promise settled). If it never listened for
   * messages it does not want them: stop holding, so reading resumes and close frames
   * and pongs are seen.
   */
  handlerSettled (): void {
    if (this.#held !== null && this.#held.length === 0) this.#startDelivery()
    else if (this.#held !== null) process.nextTick(flush, this)
  }

  /** A send callback that throws (ws calls it when the peer resets, say) goes to the error handler too. */
  #guard (callback: (error?: Error) => void): (error?: Error) => void {
    return (error) => {
      try {
        callback(error)
      } catch (thrown) {
        this.fail(thrown)
      }
    }
  }

  /** Reports an error thrown by the handler or a listener; closes only this connection. */
  fail (error: unknown): void {
    const onError = this.#settings.onError
    const request = this.#request
    if (onError !== undefined && request !== undefined) onError(error, this, request)
    else closeWithInternalError(error, this, this.#log)
  }

  #deliver (data: RawData, isBinary: boolean): void {
    try {
      const decoder = this.#settings.decoder
      if (decoder === undefined) {
        this.#emit('message', data, isBinary)
        return
      }
      const message = decoder.decode(asBuffer(data), isBinary)
      if (message instanceof InvalidMessage) {
        this.#refuse(message)
        return
      }
      if (decoder.discriminator !== undefined) this.#emit((message as Record<string, string>)[decoder.discriminator] as string, message)
      this.#emit('message', message)
    } catch (error) {
      this.fail(error)
    }
  }

  // Event names and payloads depend on the route's schemas; the typed surface is the
  // class's. Fixed arities, no rest parameters: this runs for every message.
  #emit (event: string, first?: unknown, second?: unknown): void {
    emit.call(this, event, first, second)
  }

  /** Emits an event the peer caused (close, ping, pong, error, drain): a throwing listener goes to the error handler. */
  #emitGuarded (event: string, first?: unknown, second?: unknown): void {
    try {
      emit.call(this, event, first, second)
    } catch (error) {
      this.fail(error)
    }
  }

  #refuse (invalid: InvalidMessage): void {
    // The first invalid message of a connection is worth an info line; a peer that keeps
    // sending them only gets debug lines, so a flood cannot flood the logs.
    this.#settings.routeStats.invalidMessages++
    const level = this.#invalidMessages++ === 0 ? 'info' : 'debug'
    this.#log[level]({ route: this.#settings.url, path: invalid.path, code: invalid.code }, 'invalid websocket message')
    const custom = this.#settings.onInvalidMessage
    const request = this.#request
    if (custom !== undefined && request !== undefined) custom(invalid, this, request)
    else this.#settings.invalidPolicy(invalid, this, undefined)
  }

  #onMessage (data: RawData, isBinary: boolean): void {
    const settings = this.#settings
    settings.routeStats.messagesIn++
    this.#lastSeenAt = settings.timer.now
    if (!this.#admit()) return
    if (this.#held === null) {
      this.#deliver(data, isBinary)
      return
    }
    // Hold the message, and stop reading. ws still emits what it has already read (with
    // permessage-deflate, each frame may inflate up to maxPayload): the hold is bounded
    // in decoded bytes.
    const size = byteLength(data)
    if (this.#heldBytes + size > settings.maxHeldBytes) {
      settings.routeStats.droppedMessages++
      this.#closeOverLimit('held messages limit exceeded')
      return
    }
    if (this.#held.length === 0) this.pause()
    this.#heldBytes += size
    this.#held.push([data, isBinary])
  }

  /**
   * Whether to process something the peer sent (a message, ping or pong): not after a
   * close for a broken limit, and only within the rate limit.
   */
  #admit (): boolean {
    if (this.#overLimit) {
      this.#settings.routeStats.droppedMessages++
      return false
    }
    if (this.#bucket === undefined || this.#bucket.take(this.#settings.timer.clock.now())) return true
    const settings = this.#settings
    settings.routeStats.droppedMessages++
    if (settings.rateLimit?.policy === 'close') this.#closeOverLimit('rate limit exceeded')
    return false
  }

  /**
   * Over a limit with the 'close' policy: 1008, once. From then on nothing from the peer
   * is processed, and a peer that does not finish the closing handshake within
   * policyCloseGrace is cut off.
   */
  #closeOverLimit (reason: string): void {
    if (this.#overLimit) return
    this.#overLimit = true
    this.#log.info({ route: this.#settings.url, reason }, 'websocket closed by a limit')
    this.close(CloseCode.PolicyViolation, reason)
    // Rare: a timer here costs nothing on connections that keep to their limits.
    setTimeout(terminateSocket, policyCloseGrace, this).unref()
  }

  #onNewListener (event: string | symbol): void {
    // Rare, so a closure is fine here.
    if (event === 'drain' && (this as EventEmitter).listenerCount('drain') === 0) this.#socket.on('drain', () => { this.#emitGuarded('drain') })
    if (this.#held === null || lifecycleEvents.has(event)) return
    // Nothing held: go live now; the listener is added right after this returns.
    if (this.#held.length === 0) this.#startDelivery()
    else process.nextTick(flush, this)
  }

  #flush (): void {
    const held = this.#held
    if (held === null) return
    this.#startDelivery()
    for (const [data, isBinary] of held) this.#deliver(data, isBinary)
  }

  #startDelivery (): void {
    this.#held = null
    this.#heldBytes = 0
    // A peer closed for a broken limit is not read any more; the grace timer ends it.
    if (!this.#overLimit) this.resume()
  }

  #onClose (code: number, reason: Buffer): void {
    this.#held = null
    const settings = this.#settings
    if (this.#topics !== undefined) settings.topics.leaveAll(this, this.#topics)
    settings.stats.closed(code, this.#socket)
    settings.lifecycle.closed(this, settings.routeStats)
    this.#log.debug({ route: settings.url, code, durationMs: settings.timer.clock.now() - this.#openedAt }, 'websocket closed')
    this.#emitGuarded('close', code, reason.toString())
  }

  /** The wire counters of the underlying socket, for stats. */
  get wire (): CountingSocket { return this.#socket }

  #onError (error: Error): void {
    // ws has already chosen the close code (1002, 1007, 1009...); an unhandled
    // 'error' event must not take the process down with it.
    if ((this as EventEmitter).listenerCount('error') > 0) this.#emitGuarded('error', error)
    else this.#log.debug({ err: error }, 'websocket protocol error')
  }

  // Pings and pongs count against the rate limit like messages: a peer must not be able
  // to keep the server busy with control frames either. ws has already answered the
  // ping (RFC 6455 section 5.5.2 requires it; ws terminates a peer that leaves more than
  // maxPendingAutoPongs of them unread), so 'drop' only stops it here.
  #onPing (data: Buffer): void {
    if (!this.#admit()) return
    this.#lastSeenAt = this.#settings.timer.now
    this.#emitGuarded('ping', data)
  }

  #onPong (data: Buffer): void {
    // The answer to the heartbeat's own ping is not the peer's to spend.
    if (this.#pingSentAt === 0 && !this.#admit()) return
    this.#pingSentAt = 0
    this.#lastSeenAt = this.#settings.timer.now
    this.#emitGuarded('pong', data)
  }

  static {
    onNewListener = function (event) { this.#onNewListener(event) }
    flush = (connection) => { connection.#flush() }
    uncork = (connection) => {
      connection.#corked = false
      connection.#socket.uncork()
    }
  }
}

/** The bytes of a message as ws gives it, whatever the socket's binaryType. */
function byteLength (data: RawData): number {
  if (!Array.isArray(data)) return data.byteLength
  let total = 0
  for (const fragment of data) total += fragment.length
  return total
}

/** A message's bytes as one Buffer, for decoding (binaryType 'arraybuffer' or 'fragments'). */
function asBuffer (data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
}

function terminateSocket (socket: AnyWebSocketConnection): void {
  socket.terminate()
}
