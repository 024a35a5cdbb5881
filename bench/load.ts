// The load generator, in a process of its own (forked by bench/run.ts). It drives one
// load at a time against one server on 127.0.0.1, with ws' client (or socket.io-client
// for socket.io), and answers the parent's calls over IPC:
//   startHandshakes  N connectors loop connect → open → close (counted when closed)
//   startEcho        C connections, one message in flight each; each reply is counted,
//                    its round trip timed, and the next message sent at once
//   mark             operations so far, the time, this process' CPU time; starts or stops
//                    recording round-trip times
//   latency          p50 / p99 of the round trips recorded between two marks
//   stop             stops the loop, waits for what is in flight, closes every connection
//   openIdle / closeIdle   the idle connections of the memory scenario
// Every loop is bounded by a count and a deadline as well as by `stop`.
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { io, type Socket as IoSocket } from 'socket.io-client'
import { order, serveRpc, type LoadMark, type OpenIdle, type StartEcho, type StartHandshakes } from './common.js'

interface Load {
  count: number
  errors: number
  maxOps: number
  deadline: number
  stopping: boolean
  /** Loops (echo connections or handshake connectors) still running. */
  active: number
  /** Resolves when `active` reaches 0. */
  idle: Promise<void>
  settle: () => void
  /** Connections to close when the load stops. */
  connections: Array<{ close: () => Promise<void> }>
}

let load: Load | undefined

// Round-trip times of the current window, in ms.
const latencies = new Float64Array(4_000_000)
let recorded = 0
let recording = false

function newLoad (maxOps: number, maxMs: number): Load {
  if (load !== undefined) throw new Error('a load is already running')
  let settle = (): void => {}
  const idle = new Promise<void>((resolve) => { settle = resolve })
  recorded = 0
  recording = false
  return { count: 0, errors: 0, maxOps, deadline: performance.now() + maxMs, stopping: false, active: 0, idle, settle, connections: [] }
}

function goOn (state: Load, now: number): boolean {
  return !state.stopping && state.count < state.maxOps && now < state.deadline
}

function finished (state: Load): void {
  if (--state.active === 0) state.settle()
}

function wsUrl (port: number, path: string): string {
  return `ws://127.0.0.1:${port}${path}`
}

const wsOptions = { perMessageDeflate: false, handshakeTimeout: 10_000 }
const ioOptions = { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10_000 }

async function openWs (port: number, path: string): Promise<WebSocket> {
  return await new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(port, path), wsOptions)
    ws.once('open', () => {
      ws.removeListener('error', reject)
      ws.on('error', () => {})
      resolve(ws)
    })
    ws.once('error', reject)
  })
}

async function openIo (port: number): Promise<IoSocket> {
  return await new Promise((resolve, reject) => {
    const socket = io(`http://127.0.0.1:${port}`, ioOptions)
    socket.once('connect', () => {
      socket.off('connect_error')
      resolve(socket)
    })
    socket.once('connect_error', (error) => {
      socket.close()
      reject(error)
    })
  })
}

/** The ws WebSocket under a socket.io-client socket, whose 'close' is the end of the TCP connection. */
function transportOf (socket: IoSocket): WebSocket | undefined {
  return (socket.io.engine?.transport as unknown as { ws?: WebSocket } | undefined)?.ws
}

async function closeWs (ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return
  await new Promise<void>((resolve) => {
    ws.once('close', () => { resolve() })
    ws.close()
  })
}

async function closeIo (socket: IoSocket): Promise<void> {
  const ws = transportOf(socket)
  const closed = ws === undefined || ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise<void>((resolve) => { ws.once('close', () => { resolve() }) })
  socket.disconnect()
  await closed
}

async function withTimeout (promise: Promise<unknown>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: not done within ${ms} ms`)) }, ms) })
  try {
    await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------
// Handshakes: connect → open → close, `concurrency` at a time.

function startHandshakes (options: StartHandshakes): void {
  const state = load = newLoad(options.maxOps, options.maxMs)
  const connector = options.kind === 'ws'
    ? (): void => {
        if (!goOn(state, performance.now())) {
          finished(state)
          return
        }
        const ws = new WebSocket(wsUrl(options.port, options.path), wsOptions)
        let failed = false
        ws.on('open', () => { ws.close() })
        ws.on('error', () => {
          failed = true
          state.errors++
        })
        ws.on('close', () => {
          if (!failed) state.count++
          // ws emits 'close' after 'error'; a refused connection is not retried at once.
          if (failed) setTimeout(connector, 10)
          else connector()
        })
      }
    : (): void => {
        if (!goOn(state, performance.now())) {
          finished(state)
          return
        }
        const socket = io(`http://127.0.0.1:${options.port}`, ioOptions)
        socket.once('connect', () => {
          // Counted when the WebSocket under it has closed, as with the ws clients.
          const ws = transportOf(socket)
          const next = (): void => {
            state.count++
            connector()
          }
          if (ws === undefined) {
            socket.disconnect()
            next()
            return
          }
          ws.once('close', next)
          socket.disconnect()
        })
        socket.once('connect_error', () => {
          state.errors++
          socket.close()
          setTimeout(connector, 10)
        })
      }
  state.active = options.concurrency
  for (let i = 0; i < options.concurrency; i++) connector()
}

// ---------------------------------------------------------------------------------
// Echo: `connections` connections, one message in flight on each.

function payloadFor (payload: StartEcho['payload']): { data: Buffer, binary: boolean, length: number } {
  if (payload === 'json') {
    const data = Buffer.from(JSON.stringify(order))
    return { data, binary: false, length: data.length }
  }
  const length = payload === 'bin20' ? 20 : 16 * 1024
  const data = Buffer.alloc(length)
  for (let i = 0; i < length; i++) data[i] = (i * 31 + 7) & 0xff
  return { data, binary: true, length }
}

function reply (state: Load, sentAt: number, now: number): boolean {
  state.count++
  if (recording && recorded < latencies.length) latencies[recorded++] = now - sentAt
  if (goOn(state, now)) return true
  finished(state)
  return false
}

async function startEcho (options: StartEcho): Promise<void> {
  const state = load = newLoad(options.maxOps, options.maxMs)
  const { data, binary, length } = payloadFor(options.payload)
  const sendOptions = { binary }
  const starters: Array<() => void> = []
  try {
    for (let i = 0; i < options.connections; i++) {
      if (options.kind === 'ws') {
        const ws = await openWs(options.port, options.path)
        state.connections.push({ close: async () => { await closeWs(ws) } })
        let sentAt = 0
        ws.on('message', (message: Buffer) => {
          if (message.length !== length) state.errors++
          const now = performance.now()
          if (!reply(state, sentAt, now)) return
          sentAt = now
          ws.send(data, sendOptions)
        })
        starters.push(() => {
          sentAt = performance.now()
          ws.send(data, sendOptions)
        })
      } else {
        const socket = await openIo(options.port)
        state.connections.push({ close: async () => { await closeIo(socket) } })
        const event = options.path
        const value: unknown = options.payload === 'json' ? order : data
        let sentAt = 0
        socket.on(event, (message: unknown) => {
          const ok = options.payload === 'json'
            ? typeof message === 'object' && message !== null && (message as typeof order).items?.length === order.items.length
            : Buffer.isBuffer(message) && message.length === length
          if (!ok) state.errors++
          const now = performance.now()
          if (!reply(state, sentAt, now)) return
          sentAt = now
          socket.emit(event, value)
        })
        starters.push(() => {
          sentAt = performance.now()
          socket.emit(event, value)
        })
      }
    }
  } catch (error) {
    load = undefined
    await Promise.allSettled(state.connections.map(async (connection) => { await connection.close() }))
    throw error
  }
  state.active = starters.length
  for (const start of starters) start()
}

// ---------------------------------------------------------------------------------

async function stop (): Promise<{ count: number, errors: number }> {
  const state = load
  if (state === undefined) return { count: 0, errors: 0 }
  state.stopping = true
  recording = false
  try {
    await withTimeout(state.idle, 15_000, 'stopping the load')
  } finally {
    await withTimeout(Promise.allSettled(state.connections.map(async (connection) => { await connection.close() })), 15_000, 'closing the connections')
    load = undefined
  }
  return { count: state.count, errors: state.errors }
}

function mark (options: { record: boolean }): LoadMark {
  const state = load
  if (state === undefined) throw new Error('no load is running')
  const cpu = process.cpuUsage()
  const result: LoadMark = { count: state.count, errors: state.errors, at: performance.now(), cpu: cpu.user + cpu.system }
  if (options.record) recorded = 0
  recording = options.record
  return result
}

function latency (): { p50: number, p99: number, samples: number } {
  const window = latencies.slice(0, recorded).sort()
  const at = (q: number): number => window[Math.min(window.length - 1, Math.floor(q * window.length))] ?? Number.NaN
  return { p50: at(0.5), p99: at(0.99), samples: window.length }
}

// ---------------------------------------------------------------------------------
// Idle connections (memory scenario).

let idle: Array<() => Promise<void>> = []

async function openIdle (options: OpenIdle): Promise<{ opened: number, failures: number }> {
  let next = 0
  let failures = 0
  const worker = async (): Promise<void> => {
    while (next < options.count && failures < 50) {
      next++
      try {
        if (options.kind === 'ws') {
          const ws = await openWs(options.port, options.path)
          idle.push(async () => { await closeWs(ws) })
        } else {
          const socket = await openIo(options.port)
          idle.push(async () => { await closeIo(socket) })
        }
      } catch {
        failures++
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return { opened: idle.length, failures }
}

async function closeIdle (): Promise<void> {
  const closing = idle
  idle = []
  await withTimeout(Promise.allSettled(closing.map(async (close) => { await close() })), 30_000, 'closing idle connections')
}

serveRpc({
  startHandshakes: (options: StartHandshakes) => { startHandshakes(options) },
  startEcho,
  mark,
  latency,
  stop,
  openIdle,
  closeIdle,
  ping: () => 'pong',
  exit: () => { setTimeout(() => process.exit(0), 20) }
})

process.on('disconnect', () => process.exit(0))
