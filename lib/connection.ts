// The socket a handler receives: a thin wrapper over a ws WebSocket that holds back
// messages until the handler listens, and turns listener exceptions into a 1011 close.
import { EventEmitter } from 'node:events'
import type { WebSocket as WsSocket, RawData } from 'ws'
import type { FastifyRequest } from 'fastify'

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
}

/** Called once when a listener or the handler fails; decides how the connection ends. */
export type FailureHandler = (error: unknown, connection: WebSocketConnection<never, never>) => void

export class WebSocketConnection<
  Message extends unknown[] = RawMessage,
  Send = RawSendData
> extends EventEmitter<ConnectionEvents<Message>> {
  /** The underlying ws WebSocket, for what this wrapper does not cover. */
  readonly raw: WsSocket
  /** The Fastify request that was upgraded. */
  readonly request: FastifyRequest

  // Messages that arrived before the handler listened; null once delivery is live.
  #held: RawMessage[] | null = []
  readonly #fail: FailureHandler

  constructor (raw: WsSocket, request: FastifyRequest, fail: FailureHandler) {
    super()
    this.raw = raw
    this.request = request
    this.#fail = fail
    raw.on('message', this.#onMessage)
    raw.once('close', this.#onClose)
    raw.on('error', this.#onError)
    raw.on('ping', this.#onPing)
    raw.on('pong', this.#onPong)
    // 'newListener' is EventEmitter's own event, outside the typed event map.
    ;(this as EventEmitter).on('newListener', this.#onNewListener)
  }

  get protocol (): string { return this.raw.protocol }
  get extensions (): string { return this.raw.extensions }
  get readyState (): WsSocket['readyState'] { return this.raw.readyState }
  /** Bytes queued by `send` and not yet handed to the operating system. */
  get bufferedAmount (): number { return this.raw.bufferedAmount }

  send (data: Send, callback?: (error?: Error) => void): void {
    this.raw.send(data as RawSendData, callback)
  }

  close (code?: number, reason?: string): void {
    this.raw.close(code, reason)
  }

  /** Destroys the TCP socket at once, without a closing handshake. */
  terminate (): void {
    this.raw.terminate()
  }

  ping (data?: RawSendData): void {
    this.raw.ping(data)
  }

  /**
   * The handler finished (returned, or its promise settled). If it never listened for
   * messages it does not want them: stop holding, so reading resumes and close frames
   * and pongs are seen.
   */
  handlerSettled (): void {
    if (this.#held !== null && this.#held.length === 0) this.#startDelivery()
    else if (this.#held !== null) process.nextTick(this.#flush)
  }

  /** Reports an error thrown by the handler or a listener; closes only this connection. */
  fail (error: unknown): void {
    this.#fail(error, this as unknown as WebSocketConnection<never, never>)
  }

  #deliver (data: RawData, isBinary: boolean): void {
    try {
      // @ts-expect-error -- Message is RawMessage until message decoding narrows it
      this.emit('message', data, isBinary)
    } catch (error) {
      this.fail(error)
    }
  }

  #onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.#held === null) {
      this.#deliver(data, isBinary)
      return
    }
    // Hold the message, and stop reading: what ws already parsed is all we keep.
    if (this.#held.length === 0) this.raw.pause()
    this.#held.push([data as Buffer, isBinary])
  }

  #onNewListener = (event: string | symbol): void => {
    if (event !== 'message' || this.#held === null) return
    // Nothing held: go live now; the listener is added right after this returns.
    if (this.#held.length === 0) this.#startDelivery()
    else process.nextTick(this.#flush)
  }

  #flush = (): void => {
    const held = this.#held
    if (held === null) return
    this.#startDelivery()
    for (const [data, isBinary] of held) this.#deliver(data, isBinary)
  }

  #startDelivery (): void {
    this.#held = null
    this.raw.resume()
  }

  #onClose = (code: number, reason: Buffer): void => {
    this.#held = null
    this.emit('close', code, reason.toString())
  }

  #onError = (error: Error): void => {
    // ws has already chosen the close code (1002, 1007, 1009...); an unhandled
    // 'error' event must not take the process down with it.
    if (this.listenerCount('error') > 0) this.emit('error', error)
    else this.request.log.debug({ err: error }, 'websocket protocol error')
  }

  #onPing = (data: Buffer): void => { this.emit('ping', data) }
  #onPong = (data: Buffer): void => { this.emit('pong', data) }
}
