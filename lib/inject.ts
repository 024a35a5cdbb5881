// injectWS: a connected ws client for tests, without listening on a port. The client
// and the server talk over an in-memory stream pair that the HTTP server accepts as a
// connection, so the request takes the same path as a real one: Node's HTTP parser,
// the upgrade event, Fastify's routing and hooks, and ws' handshake.
import { Duplex } from 'node:stream'
import type { IncomingMessage } from 'node:http'
import { WebSocket, type ClientOptions } from 'ws'
import type { FastifyError, FastifyInstance } from 'fastify'
import { InjectRejectedError } from './errors.js'

export interface InjectWSOptions {
  headers?: Record<string, string>
  query?: Record<string, string>
  /** Subprotocols offered in Sec-WebSocket-Protocol. */
  protocols?: string[]
  /**
   * Called with the client before the handshake, to attach listeners that must not miss
   * what the server sends as soon as the connection opens.
   */
  onInit?: (client: WebSocket) => void
  /** Extra ws client options (e.g. `perMessageDeflate`). */
  client?: Omit<ClientOptions, 'createConnection' | 'headers'>
}

/** @fastify/websocket's third argument of injectWS, accepted as is. */
export interface InjectWSHooks {
  /** Called with the client before the handshake (as `options.onInit`). */
  onInit?: (client: WebSocket) => void
  /** Called with the client when it opens, before the promise resolves. */
  onOpen?: (client: WebSocket) => void
}

/** The rejection of injectWS when the server answered with an HTTP response, not 101. */
export interface InjectRejection extends FastifyError {
  statusCode: number
  headers: IncomingMessage['headers']
  body: string
}

/** One end of an in-memory connection; it quacks enough like a net.Socket for http and ws. */
class MemorySocket extends Duplex {
  peer: MemorySocket | undefined
  /** Chunks kept back from this end's reader (see `hold`), null for the peer's end; null while delivering. */
  held: Array<Buffer | null> | null = null
  readonly remoteAddress = '127.0.0.1'
  readonly remotePort = 0
  // net.Socket's wire counters, for app.websocketStats().
  bytesRead = 0
  bytesWritten = 0

  override _read (): void {}

  // Delivery is deferred to the next tick: a real socket never hands data to the peer
  // inside the writer's call stack, and code under test may rely on that.
  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesWritten += chunk.length
    process.nextTick(deliver, this.peer as MemorySocket, chunk)
    callback()
  }

  override _final (callback: (error?: Error | null) => void): void {
    process.nextTick(deliver, this.peer as MemorySocket, null)
    callback()
  }

  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer
    this.peer = undefined
    // After what was written before it, as on a real connection.
    if (peer !== undefined) process.nextTick(endPeer, peer)
    callback(error)
  }

  setTimeout (): this { return this }
  setNoDelay (): this { return this }
}

// Only a live end writes, so its peer is known. The peer may have gone since: a destroyed
// stream ignores what is pushed to it.
function deliver (peer: MemorySocket, chunk: Buffer | null): void {
  if (chunk !== null) peer.bytesRead += chunk.length
  if (peer.held !== null) peer.held.push(chunk)
  else peer.push(chunk)
}

/**
 * What the server sends right after the 101 (a greeting, a close) is kept from the client
 * until the code that awaited injectWS has run: it attaches its listeners first, as it
 * could on a real connection, whose bytes arrive in a later turn of the event loop.
 */
function hold (end: MemorySocket): void {
  end.held = []
}

function release (end: MemorySocket): void {
  const held = end.held as Array<Buffer | null> // hold() ran when the client opened
  end.held = null
  for (const chunk of held) {
    if (end.destroyed) return
    if (chunk === null) endAndDestroy(end)
    else end.push(chunk)
  }
}

function endPeer (peer: MemorySocket): void {
  if (peer.destroyed) return
  if (peer.held !== null) peer.held.push(null) // the end, after what is held
  else endAndDestroy(peer)
}

function endAndDestroy (end: MemorySocket): void {
  end.push(null)
  end.destroy()
}

function memorySocketPair (): [MemorySocket, MemorySocket] {
  const client = new MemorySocket()
  const server = new MemorySocket()
  client.peer = server
  server.peer = client
  return [client, server]
}

export async function injectWS (this: FastifyInstance, path = '/', options: InjectWSOptions = {}, hooks: InjectWSHooks = {}): Promise<WebSocket> {
  await this.ready()
  const [clientEnd, serverEnd] = memorySocketPair()
  this.server.emit('connection', serverEnd)
  // An in-memory connection holds no handle: without this timer a test awaiting an
  // idle timeout or a heartbeat on it would see the event loop empty and the process end.
  const keepAlive = setInterval(noop, 1 << 30)
  const stop = (): void => { clearInterval(keepAlive) }
  serverEnd.once('close', stop)
  clientEnd.once('close', stop)

  const query = options.query === undefined ? '' : `?${new URLSearchParams(options.query).toString()}`
  let client: WebSocket
  try {
    client = new WebSocket(`ws://localhost${path}${query}`, options.protocols ?? [], {
      ...options.client,
      headers: options.headers,
      createConnection: () => clientEnd as unknown as import('node:net').Socket
    })
  } catch (error) {
    // ws refused the client's own options: the connection never starts.
    clientEnd.destroy()
    throw error
  }

  options.onInit?.(client)
  hooks.onInit?.(client)
  return await new Promise<WebSocket>((resolve, reject) => {
    client.once('open', () => {
      client.removeListener('error', reject)
      hooks.onOpen?.(client)
      hold(clientEnd)
      resolve(client)
      // After the awaiting code's continuation (a microtask), before any I/O.
      setImmediate(release, clientEnd)
    })
    client.once('error', reject)
    client.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.once('end', () => {
        // An 'unexpected-response' always carries a status code.
        const statusCode = Number(response.statusCode)
        const error = new InjectRejectedError(statusCode) as InjectRejection
        error.statusCode = statusCode
        error.headers = response.headers
        error.body = Buffer.concat(chunks).toString()
        clientEnd.destroy()
        reject(error)
      })
    })
  })
}

/* c8 ignore next -- never runs: the timer only keeps the event loop alive */
function noop (): void {}
