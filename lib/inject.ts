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

/** The rejection of injectWS when the server answered with an HTTP response, not 101. */
export interface InjectRejection extends FastifyError {
  statusCode: number
  headers: IncomingMessage['headers']
  body: string
}

/** One end of an in-memory connection; it quacks enough like a net.Socket for http and ws. */
class MemorySocket extends Duplex {
  peer: MemorySocket | undefined
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
    process.nextTick(deliver, this.peer, chunk)
    callback()
  }

  override _final (callback: (error?: Error | null) => void): void {
    process.nextTick(deliver, this.peer, null)
    callback()
  }

  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer
    this.peer = undefined
    if (peer !== undefined && !peer.destroyed) {
      peer.push(null)
      peer.destroy()
    }
    callback(error)
  }

  setTimeout (): this { return this }
  setNoDelay (): this { return this }
}

function deliver (peer: MemorySocket | undefined, chunk: Buffer | null): void {
  if (peer === undefined || peer.destroyed) return
  if (chunk !== null) peer.bytesRead += chunk.length
  peer.push(chunk)
}

function memorySocketPair (): [MemorySocket, MemorySocket] {
  const client = new MemorySocket()
  const server = new MemorySocket()
  client.peer = server
  server.peer = client
  return [client, server]
}

export async function injectWS (this: FastifyInstance, path = '/', options: InjectWSOptions = {}): Promise<WebSocket> {
  await this.ready()
  const [clientEnd, serverEnd] = memorySocketPair()
  this.server.emit('connection', serverEnd)

  const query = options.query === undefined ? '' : `?${new URLSearchParams(options.query).toString()}`
  const client = new WebSocket(`ws://localhost${path}${query}`, options.protocols ?? [], {
    ...options.client,
    headers: options.headers,
    createConnection: () => clientEnd as unknown as import('node:net').Socket
  })

  options.onInit?.(client)
  return await new Promise<WebSocket>((resolve, reject) => {
    client.once('open', () => {
      client.removeListener('error', reject)
      resolve(client)
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
