// WebSocket over HTTP/2 (RFC 8441 extended CONNECT) against HTTP/1.1 on the same server,
// for information: one fastify-upgrade server (`http2: true` over TLS with `allowHTTP1`)
// in a child process, the clients in the calling process (bench/run.ts, which is idle by
// then). Over HTTP/1.1 each WebSocket is a TLS connection of its own, as browsers open it
// when they have no HTTP/2 connection to the server; over HTTP/2 each is a stream of one
// open session, as Chromium opens it on the connection its page came over.
//
//   (run by bench/run.ts)             compareHttp2({ quick }) returns the Markdown table
//   tsx bench/http2.ts server         the server (forked by compareHttp2)
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http2, { type ClientHttp2Session } from 'node:http2'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { performance } from 'node:perf_hooks'
import Fastify, { type FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { median, RpcPeer, serveRpc, sleep, type CpuReading } from './common.js'

const here = path.dirname(fileURLToPath(import.meta.url))
// The tests' self-signed certificate for localhost / 127.0.0.1.
const key = readFileSync(path.join(here, '..', 'test', 'fixtures', 'localhost-key.pem'))
const cert = readFileSync(path.join(here, '..', 'test', 'fixtures', 'localhost-cert.pem'))

type Transport = 'h1' | 'h2'
const transportLabel: Record<Transport, string> = {
  h1: 'HTTP/1.1 (wss, a TLS connection each)',
  h2: 'HTTP/2 (extended CONNECT, streams of one session)'
}

// ---------------------------------------------------------------------------------
// The server

async function serve (): Promise<void> {
  const built = process.env.BENCH_FASTIFY_UPGRADE
  const plugin = (await import(built === undefined ? '../lib/index.js' : pathToFileURL(built).href) as typeof import('../lib/index.js')).default
  const app = Fastify({ http2: true, https: { allowHTTP1: true, key, cert } } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance
  await app.register(plugin)
  app.get('/echo', { websocket: true }, (socket) => {
    socket.on('message', (data, isBinary) => { socket.send(data, { binary: isBinary }) })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  serveRpc({
    cpu: (): CpuReading => process.cpuUsage(),
    open: (): number => app.websocketStats().open,
    exit: () => { setImmediate(() => { void app.close().then(() => process.exit(0)) }) }
  })
  process.send?.({ port: (app.server.address() as AddressInfo).port })
}

// ---------------------------------------------------------------------------------
// The clients

/** A WebSocket over an extended CONNECT stream: ws in client mode over the stream (no key, :status 200). */
async function openOverStream (session: ClientHttp2Session, port: number): Promise<WebSocket> {
  const stream = session.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/echo', ':authority': `127.0.0.1:${port}`, 'sec-websocket-version': '13'
  }, { endStream: false })
  stream.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    stream.once('response', (headers) => {
      if (headers[':status'] === 200) resolve()
      else reject(new Error(`CONNECT answered ${String(headers[':status'])}`))
    })
    stream.once('close', () => { reject(new Error('stream closed before its answer')) })
  })
  const ws = new WebSocket(null as unknown as string, undefined, { autoPong: true, closeTimeout: 5000 } as object)
  const internals = ws as unknown as { _isServer: boolean, setSocket: (socket: unknown, head: Buffer, options: object) => void }
  internals._isServer = false
  internals.setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload: 0 })
  return ws
}

async function openOverTls (port: number): Promise<WebSocket> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/echo`, { rejectUnauthorized: false, perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return ws
}

interface Client { open: () => Promise<WebSocket>, done: () => void }

function client (transport: Transport, port: number): Client {
  if (transport === 'h1') return { open: async () => await openOverTls(port), done: () => {} }
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false })
  session.on('error', () => {})
  const ready = new Promise((resolve) => session.once('remoteSettings', resolve))
  return {
    open: async () => {
      await ready
      return await openOverStream(session, port)
    },
    done: () => { session.close() }
  }
}

async function closed (ws: WebSocket): Promise<void> {
  await new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve()
    else ws.once('close', () => { resolve() })
  })
}

interface Window { ops: number, seconds: number, cpuMicros: number }

/** Runs `loops` until `stop` and measures the window after `warmMs`. */
async function measure (server: RpcPeer, loops: (running: () => boolean, count: () => void) => Promise<void>, warmMs: number, windowMs: number): Promise<Window> {
  let going = true
  let ops = 0
  const running = loops(() => going, () => { ops++ })
  await sleep(warmMs)
  const c0 = await server.call<CpuReading>('cpu')
  const o0 = ops
  const t0 = performance.now()
  await sleep(windowMs)
  const o1 = ops
  const t1 = performance.now()
  const c1 = await server.call<CpuReading>('cpu')
  going = false
  await running
  return { ops: o1 - o0, seconds: (t1 - t0) / 1000, cpuMicros: (c1.user + c1.system) - (c0.user + c0.system) }
}

async function handshakes (server: RpcPeer, transport: Transport, port: number, warmMs: number, windowMs: number): Promise<Window> {
  const connector = client(transport, port)
  try {
    return await measure(server, async (running, count) => {
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (running()) {
          const ws = await connector.open()
          ws.close()
          await closed(ws)
          count()
        }
      }))
    }, warmMs, windowMs)
  } finally {
    connector.done()
  }
}

async function echoes (server: RpcPeer, transport: Transport, port: number, warmMs: number, windowMs: number): Promise<Window> {
  const connector = client(transport, port)
  const sockets = await Promise.all(Array.from({ length: 20 }, async () => await connector.open()))
  const payload = Buffer.alloc(20, 7)
  try {
    return await measure(server, async (running, count) => {
      await Promise.all(sockets.map(async (ws) => {
        while (running()) {
          const reply = new Promise((resolve) => ws.once('message', resolve))
          ws.send(payload)
          await reply
          count()
        }
      }))
    }, warmMs, windowMs)
  } finally {
    for (const ws of sockets) ws.close()
    await Promise.all(sockets.map(closed))
    connector.done()
  }
}

// ---------------------------------------------------------------------------------
// The comparison

interface Options { quick: boolean, env: NodeJS.ProcessEnv }

/** Measures both transports on one server, alternating them for `rounds`; returns the Markdown table. */
export async function compareHttp2 ({ quick, env }: Options): Promise<string> {
  const rounds = quick ? 1 : 5
  const warmMs = quick ? 100 : 300
  const windowMs = quick ? 300 : 1000
  const child = fork(fileURLToPath(import.meta.url), ['server'], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const server = new RpcPeer(child)
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the HTTP/2 server did not start within 60 s')) }, 60_000)
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer)
      resolve(message.port)
    })
  })
  const results: Record<string, Window[]> = {}
  try {
    for (let round = 0; round < rounds; round++) {
      for (const transport of (round % 2 === 0 ? ['h1', 'h2'] : ['h2', 'h1']) as Transport[]) {
        (results[`handshake ${transport}`] ??= []).push(await handshakes(server, transport, port, warmMs, windowMs))
        ;(results[`echo ${transport}`] ??= []).push(await echoes(server, transport, port, warmMs, windowMs))
        for (let i = 0; i < 100 && await server.call<number>('open') > 0; i++) await sleep(20)
      }
    }
  } finally {
    await server.call('exit').catch(() => { child.kill() })
  }
  const rate = (key: string): number => median((results[key] ?? []).map((w) => w.ops / w.seconds))
  const cpu = (key: string): number => median((results[key] ?? []).map((w) => w.cpuMicros / Math.max(1, w.ops)))
  const rows: Array<[string, (t: Transport) => number, (value: number) => string]> = [
    ['handshakes/s (16 concurrent connectors)', (t) => rate(`handshake ${t}`), (v) => Math.round(v).toLocaleString('en')],
    ['server CPU µs / handshake', (t) => cpu(`handshake ${t}`), (v) => v.toFixed(1)],
    ['echo 20 B round trips/s (20 sockets × 1 in flight)', (t) => rate(`echo ${t}`), (v) => Math.round(v).toLocaleString('en')],
    ['server CPU µs / round trip', (t) => cpu(`echo ${t}`), (v) => v.toFixed(1)]
  ]
  const lines = [
    `| metric | ${transportLabel.h1} | ${transportLabel.h2} |`,
    '|---|---:|---:|',
    ...rows.map(([label, value, format]) => {
      const h1 = value('h1')
      const h2 = value('h2')
      return `| ${label} | ${format(h1)} | ${format(h2)} (${(h2 / h1).toFixed(2)}) |`
    })
  ]
  return lines.join('\n')
}

if (process.argv[2] === 'server') await serve()
