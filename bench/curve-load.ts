// The cost curve's client side (forked by bench/curve.ts, one or more per server): holds
// thousands of idle ws clients of one server and answers the parent's calls over IPC:
//   open    `count` more connections in a group ('idle' or 'burst'), `concurrency` at a
//           time, from the given loopback source addresses in turn (each address has its
//           own ephemeral ports); every failure is counted, with its reason
//   close   closes a group with the closing handshake (bounded in time)
//   echo    `clients` connections of the idle group (spread over it, if it holds more),
//           each with one binary message in flight; round trips timed over a window
//           after a warm-up
//   status  connections open per group, and held ones the server closed unasked
//   detach  stops counting closes as unasked (before the server is stopped)
//   reset   waits (bounded) for every connection to have closed, terminates the rest
// Idle clients carry no timer and no closure of their own: two shared listeners each.
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { serveRpc } from './common.js'

export type Group = 'idle' | 'burst'

export interface OpenArgs {
  url: string
  group: Group
  count: number
  concurrency: number
  addresses: readonly string[]
  /** Bound of the whole batch; connections still opening then are aborted and counted as failed. */
  ms: number
}

export interface OpenResult {
  opened: number
  failed: number
  /** Failure reasons and how many times each occurred. */
  reasons: Record<string, number>
  seconds: number
  /** CPU time of this process over the batch, µs (user + system), and its system part. */
  cpu: number
  system: number
}

export interface EchoArgs { clients: number, warmMs: number, windowMs: number, size: number }
export interface EchoResult { roundTrips: number, seconds: number, p50: number, p99: number, errors: number, samples: number }

const groups: Record<Group, WebSocket[]> = { idle: [], burst: [] }
/** Held connections closed while nobody was closing them. */
let dropped = 0
/** Round-robin over the source addresses, across batches. */
let nextAddress = 0

// Shared by every held connection.
function onHeldError (): void {}
function onHeldClose (): void {
  dropped++
}

function reasonOf (error: unknown): string {
  const code = (error as { code?: string }).code
  const message = error instanceof Error ? error.message : String(error)
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message
}

async function open (args: OpenArgs): Promise<OpenResult> {
  const held = groups[args.group]
  const reasons: Record<string, number> = {}
  const pending = new Set<WebSocket>()
  const fail = (reason: string): void => { reasons[reason] = (reasons[reason] ?? 0) + 1 }
  // Counters shared by the workers (an object: they change while a worker awaits).
  const batch = { started: 0, opened: 0, failed: 0, expired: false }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  // One timer for the whole batch, none per connection.
  const deadline = setTimeout(() => {
    batch.expired = true
    for (const ws of pending) ws.terminate()
  }, args.ms)
  const one = async (): Promise<void> => {
    const localAddress = args.addresses[nextAddress++ % args.addresses.length]
    const ws = new WebSocket(args.url, { perMessageDeflate: false, localAddress })
    pending.add(ws)
    await new Promise<void>((resolve) => {
      const onOpen = (): void => {
        ws.removeListener('error', onError)
        ws.on('error', onHeldError)
        ws.on('close', onHeldClose)
        held.push(ws)
        batch.opened++
        resolve()
      }
      const onError = (error: Error): void => {
        ws.removeListener('open', onOpen)
        ws.on('error', onHeldError)
        batch.failed++
        fail(batch.expired ? `not open within ${args.ms} ms` : reasonOf(error))
        resolve()
      }
      ws.once('open', onOpen)
      ws.once('error', onError)
    })
    pending.delete(ws)
  }
  const worker = async (): Promise<void> => {
    // A few hundred failures are enough to know; not an endless stream of doomed attempts.
    while (batch.started < args.count && !batch.expired && batch.failed < 200) {
      batch.started++
      await one()
    }
  }
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.count) }, worker))
  clearTimeout(deadline)
  const seconds = (performance.now() - t0) / 1000
  const cpu1 = process.cpuUsage(cpu0)
  const notTried = args.count - batch.started
  if (notTried > 0) {
    batch.failed += notTried
    fail(batch.expired ? `not attempted: the batch ran out of its ${args.ms} ms` : 'not attempted: too many failures before')
  }
  return { opened: batch.opened, failed: batch.failed, reasons, seconds, cpu: cpu1.user + cpu1.system, system: cpu1.system }
}

async function close (args: { group: Group, ms: number }): Promise<{ closed: number, forced: number }> {
  const held = groups[args.group]
  groups[args.group] = []
  let forced = 0
  const closed = held.map(async (ws) => {
    ws.removeListener('close', onHeldClose)
    if (ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      ws.once('close', () => { resolve() })
      ws.close()
    })
  })
  const timer = setTimeout(() => {
    for (const ws of held) {
      if (ws.readyState !== WebSocket.CLOSED) {
        forced++
        ws.terminate()
      }
    }
  }, args.ms)
  await Promise.all(closed)
  clearTimeout(timer)
  return { closed: held.length, forced }
}

const latencies = new Float64Array(2_000_000)

async function echo (args: EchoArgs): Promise<EchoResult> {
  const held = groups.idle
  if (held.length < args.clients) throw new Error(`echo: ${held.length} idle connections, ${args.clients} wanted`)
  const data = Buffer.alloc(args.size)
  for (let i = 0; i < args.size; i++) data[i] = (i * 31 + 7) & 0xff
  const stride = held.length / args.clients
  const active = Array.from({ length: args.clients }, (_, i) => held[Math.floor(i * stride)] as WebSocket)
  let recording = false
  let stopping = false
  let recorded = 0
  let roundTrips = 0
  let errors = 0
  let inFlight = 0
  let drained = (): void => {}
  const listeners: Array<() => void> = []
  for (const ws of active) {
    let sentAt = 0
    const send = (): void => {
      sentAt = performance.now()
      inFlight++
      ws.send(data, { binary: true })
    }
    const onMessage = (message: Buffer): void => {
      const now = performance.now()
      inFlight--
      if (message.length !== args.size) errors++
      if (recording) {
        roundTrips++
        if (recorded < latencies.length) latencies[recorded++] = now - sentAt
      }
      if (!stopping) send()
      else if (inFlight === 0) drained()
    }
    ws.on('message', onMessage)
    listeners.push(() => { ws.removeListener('message', onMessage) })
    send()
  }
  await new Promise((resolve) => setTimeout(resolve, args.warmMs))
  recording = true
  const t0 = performance.now()
  await new Promise((resolve) => setTimeout(resolve, args.windowMs))
  recording = false
  const seconds = (performance.now() - t0) / 1000
  stopping = true
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      drained = resolve
      setTimeout(resolve, 10_000)
    })
  }
  for (const remove of listeners) remove()
  if (inFlight > 0) errors += inFlight
  const window = latencies.slice(0, recorded).sort()
  const at = (q: number): number => window[Math.min(window.length - 1, Math.floor(q * window.length))] ?? Number.NaN
  return { roundTrips, seconds, p50: at(0.5), p99: at(0.99), errors, samples: window.length }
}

function status (): { idle: number, burst: number, dropped: number } {
  const openIn = (group: Group): number => groups[group].filter((ws) => ws.readyState === WebSocket.OPEN).length
  return { idle: openIn('idle'), burst: openIn('burst'), dropped }
}

function detach (): void {
  for (const group of ['idle', 'burst'] as const) {
    for (const ws of groups[group]) ws.removeListener('close', onHeldClose)
  }
}

async function reset (args: { ms: number }): Promise<{ terminated: number }> {
  detach()
  const held = [...groups.idle, ...groups.burst]
  groups.idle = []
  groups.burst = []
  dropped = 0
  const until = performance.now() + args.ms
  while (held.some((ws) => ws.readyState !== WebSocket.CLOSED) && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 100))
  let terminated = 0
  for (const ws of held) {
    if (ws.readyState !== WebSocket.CLOSED) {
      terminated++
      ws.terminate()
    }
  }
  return { terminated }
}

serveRpc({
  open,
  close,
  echo,
  status,
  detach,
  reset,
  exit: () => { setTimeout(() => process.exit(0), 20) }
})
process.send?.({ hello: 'ready' })

process.on('disconnect', () => process.exit(0))
