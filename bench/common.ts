// What the benchmark's three kinds of process share: the contenders, the scenarios, the
// payloads, and a tiny request/response protocol over Node's IPC channel.
import type { ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'

export type ContenderId = 'ws' | 'fastify-websocket' | 'fastify-upgrade' | 'fastify-upgrade-typed' | 'socket.io' | 'uws'
export type ClientKind = 'ws' | 'socket.io'

export interface Contender {
  id: ContenderId
  label: string
  client: ClientKind
  /** Path of the binary echo route; undefined: the contender does not take part in the echo scenarios. */
  echoPath: string | undefined
  /** Path of the JSON echo route. */
  jsonPath: string
  /** Path the handshake and idle-memory scenarios connect to. */
  connectPath: string
}

export const contenders: readonly Contender[] = [
  { id: 'ws', label: 'raw ws', client: 'ws', echoPath: '/echo', jsonPath: '/json', connectPath: '/echo' },
  { id: 'fastify-websocket', label: '@fastify/websocket', client: 'ws', echoPath: '/echo', jsonPath: '/json', connectPath: '/echo' },
  { id: 'fastify-upgrade', label: 'fastify-upgrade', client: 'ws', echoPath: '/echo', jsonPath: '/json', connectPath: '/echo' },
  // schema.message route: every message is JSON-decoded and checked, so a binary echo does
  // not apply; handshakes and idle memory are measured on the typed route itself.
  { id: 'fastify-upgrade-typed', label: 'fastify-upgrade + schema.message', client: 'ws', echoPath: undefined, jsonPath: '/json', connectPath: '/json' },
  { id: 'socket.io', label: 'socket.io', client: 'socket.io', echoPath: 'echo', jsonPath: 'json', connectPath: '' },
  { id: 'uws', label: 'uWebSockets.js', client: 'ws', echoPath: '/echo', jsonPath: '/json', connectPath: '/echo' }
]

export type ScenarioId = 'handshake' | 'echo-20' | 'echo-16k' | 'json' | 'memory'

/** A realistic JSON message (an order with 11 line items, about 1 KB), the shape bench/messages.ts uses. */
export const order = {
  order: 'A-1001',
  customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
  items: Array.from({ length: 11 }, (_, i) => ({ id: i, name: `item number ${i}`, price: 9.99 + i, tags: ['a', 'b'], active: i % 2 === 0 }))
}

// ---------------------------------------------------------------------------------
// IPC: the parent calls, the child answers. One outstanding map per peer.

export interface RpcRequest { rpc: number, cmd: string, args?: unknown }
export interface RpcResponse { rpc: number, ok: boolean, result?: unknown, error?: string }

type Handler = (args: never) => unknown

/** Child side: answers the parent's calls with `handlers[cmd](args)`. */
export function serveRpc (handlers: Record<string, Handler>): void {
  process.on('message', (message: RpcRequest) => {
    if (typeof message !== 'object' || message === null || typeof message.rpc !== 'number') return
    const handler = handlers[message.cmd]
    const reply = (response: Omit<RpcResponse, 'rpc'>): void => { process.send?.({ rpc: message.rpc, ...response }) }
    if (handler === undefined) {
      reply({ ok: false, error: `unknown command ${message.cmd}` })
      return
    }
    Promise.resolve()
      .then(() => handler(message.args as never))
      .then((result) => { reply({ ok: true, result }) }, (error: unknown) => { reply({ ok: false, error: String((error as Error)?.stack ?? error) }) })
  })
}

/** Parent side: calls into a forked child. */
export class RpcPeer {
  readonly child: ChildProcess
  #next = 1
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (error: Error) => void, timer: NodeJS.Timeout }>()

  constructor (child: ChildProcess) {
    this.child = child
    child.on('message', (message: RpcResponse) => {
      if (typeof message !== 'object' || message === null || typeof message.rpc !== 'number') return
      const pending = this.#pending.get(message.rpc)
      if (pending === undefined) return
      this.#pending.delete(message.rpc)
      clearTimeout(pending.timer)
      if (message.ok) pending.resolve(message.result)
      else pending.reject(new Error(message.error))
    })
    child.once('exit', (code, signal) => {
      for (const [, pending] of this.#pending) {
        clearTimeout(pending.timer)
        pending.reject(new Error(`child exited (${code ?? signal ?? '?'}) before answering`))
      }
      this.#pending.clear()
    })
  }

  async call<T> (cmd: string, args?: unknown, timeoutMs = 60_000): Promise<T> {
    const rpc = this.#next++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rpc)
        reject(new Error(`${cmd}: no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(rpc, { resolve: resolve as (value: unknown) => void, reject, timer })
      this.child.send({ rpc, cmd, args } satisfies RpcRequest)
    })
  }
}

// ---------------------------------------------------------------------------------
// Messages between the processes.

/** First message of a server child: where it listens, or why it cannot run. */
export type ServerHello =
  | { hello: 'ready', port: number, info: string[] }
  | { hello: 'skip', reason: string }

export interface CpuReading { user: number, system: number }

/** The server's GC pauses (PerformanceObserver 'gc' entries) since it started. */
export interface GcReading {
  count: number
  totalMs: number
  /** The longest pause since the previous reading. */
  longestMs: number
}

export interface MemReading {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  /** Connections the server's handlers count as open. */
  open: number
}

export interface LoadMark {
  /** Operations completed since the load started. */
  count: number
  errors: number
  /** performance.now() of the load process. */
  at: number
  /** CPU time of the load process, microseconds (user + system). */
  cpu: number
  /** Round-trip latencies recorded since the previous mark, in ms: p50 and p99 (echo only). */
  p50?: number
  p99?: number
  samples?: number
}

export interface StartEcho {
  kind: ClientKind
  port: number
  path: string
  connections: number
  payload: 'bin20' | 'bin16k' | 'json'
  /** Safety bounds of the load loop. */
  maxOps: number
  maxMs: number
}

export interface StartHandshakes {
  kind: ClientKind
  port: number
  path: string
  concurrency: number
  maxOps: number
  maxMs: number
}

export interface OpenIdle {
  kind: ClientKind
  port: number
  path: string
  count: number
  concurrency: number
}

/** Which copy of bufferutil (if any) the ws copies loaded in this process use. */
export function bufferutilState (): string {
  const require = createRequire(import.meta.url)
  const loaded = Object.keys(require.cache).filter((key) => key.includes('/bufferutil/'))
  if (loaded.length === 0) return 'bufferutil: not loaded'
  const native = loaded.some((key) => key.endsWith('.node'))
  return `bufferutil: ${native ? 'native' : 'JS fallback'}`
}

export function median (values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Asks a forked child to exit, kills it if it does not answer, and waits until it is gone (SIGKILL after 10 s). */
export async function stopChild (peer: RpcPeer): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (peer.child.exitCode !== null || peer.child.signalCode !== null) resolve()
    else peer.child.once('exit', () => { resolve() })
  })
  await peer.call('exit', undefined, 5_000).catch(() => { peer.child.kill() })
  const timer = setTimeout(() => peer.child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}
