// The topics benchmark's client side (forked by bench/topics.ts): many subscribers that
// count what they receive, and the latency probe of the cross-server scenario.
//   open      `count` subscribers (ws, or socket.io-client for socket.io), `concurrency` at a time
//   received  messages received by all subscribers since they opened
//   waitFor   resolves once `total` messages have been received (bounded by `ms`)
//   latency   one publisher client and one subscriber client: `samples` messages one at a
//             time, each timed from its send to its arrival; p50 and p99 in ms
//   closeAll  closes every subscriber
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { io, type Socket as IoSocket } from 'socket.io-client'
import { median, serveRpc } from './common.js'

let received = 0
let waiter: { total: number, resolve: () => void } | undefined
const closers: Array<() => void> = []

function count (): void {
  received++
  if (waiter !== undefined && received >= waiter.total) {
    const { resolve } = waiter
    waiter = undefined
    resolve()
  }
}

async function openWs (url: string, ready: boolean): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once('error', reject)
    if (ready) {
      ws.once('message', () => { ws.on('message', count); resolve() })
    } else {
      ws.once('open', () => { resolve() })
      ws.on('message', count)
    }
    closers.push(() => { ws.terminate() })
  })
}

async function openIo (port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket: IoSocket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false })
    socket.once('connect', () => { resolve() })
    socket.once('connect_error', reject)
    socket.on('order', count)
    closers.push(() => { socket.disconnect() })
  })
}

async function withDeadline<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: not within ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

function percentile (sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number
}

serveRpc({
  open: async ({ kind, port, path, count: wanted, concurrency, ready }: { kind: 'ws' | 'socket.io', port: number, path: string, count: number, concurrency: number, ready: boolean }) => {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < wanted) {
        next++
        if (kind === 'ws') await openWs(`ws://127.0.0.1:${port}${path}`, ready)
        else await openIo(port)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    return closers.length
  },
  received: () => received,
  waitFor: async ({ total, ms }: { total: number, ms: number }) => {
    if (received >= total) return received
    await withDeadline(new Promise<void>((resolve) => { waiter = { total, resolve } }), ms, `waiting for ${total} messages (${received} so far)`)
    return received
  },
  latency: async ({ publishUrl, subscribeUrl, samples, size }: { publishUrl: string, subscribeUrl: string, samples: number, size: number }) => {
    const subscriber = new WebSocket(subscribeUrl, { perMessageDeflate: false })
    await withDeadline(new Promise((resolve, reject) => { subscriber.once('message', resolve); subscriber.once('error', reject) }), 10_000, 'the subscriber to be ready')
    const publisher = new WebSocket(publishUrl, { perMessageDeflate: false })
    await withDeadline(new Promise((resolve, reject) => { publisher.once('open', resolve); publisher.once('error', reject) }), 10_000, 'the publisher to open')
    const times = new Float64Array(samples)
    const payload = 'x'.repeat(size)
    for (let i = 0; i < samples; i++) {
      const arrived = new Promise<number>((resolve) => { subscriber.once('message', () => { resolve(performance.now()) }) })
      const sent = performance.now()
      publisher.send(payload)
      times[i] = (await withDeadline(arrived, 10_000, 'a message through the servers')) - sent
    }
    publisher.terminate()
    subscriber.terminate()
    times.sort()
    return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), mean: median(Array.from(times)) }
  },
  closeAll: () => {
    for (const close of closers.splice(0)) close()
    received = 0
  }
})

process.on('disconnect', () => process.exit(0))
