// One contender's server, in a process of its own (forked by bench/run.ts with
// --expose-gc). Every contender serves the same two things on 127.0.0.1:
//   echo: sends every message back as it came (binary frames in the benchmark)
//   json: JSON.parse, then JSON.stringify the value back as text (fastify-upgrade's typed
//         route: decoded and checked by its TypeBox schema.message, then JSON.stringify)
// and counts its open connections in its own handlers. The parent talks to it over IPC:
// `cpu` (process.cpuUsage()), `mem` (GC, then process.memoryUsage() and open connections)
// and `exit`.
//
//   node --import tsx --expose-gc bench/server.ts <contender>
import { readFileSync, existsSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { setImmediate as nextLoop } from 'node:timers/promises'
import type { AddressInfo } from 'node:net'
import { writeHeapSnapshot } from 'node:v8'
import Fastify, { type FastifyInstance, type FastifyPluginCallback } from 'fastify'
import { Type } from '@sinclair/typebox'
import { WebSocketServer, type WebSocket } from 'ws'
import { Server as SocketIoServer } from 'socket.io'
import type * as Uws from '@trufflesuite/uws-js-unofficial'
import { bufferutilState, serveRpc, type ContenderId, type CpuReading, type GcReading, type MemReading, type ServerHello } from './common.js'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const host = '127.0.0.1'

let open = 0

function version (pkg: string): string {
  const file = path.join(root, 'node_modules', pkg, 'package.json')
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
}

// The same per-message work for every ws-based contender (ws' WebSocket, or
// fastify-upgrade's wrapper, which has the same on('message') / send surface).
interface WsLike {
  on: (event: 'message', listener: (data: Buffer, isBinary: boolean) => void) => unknown
  send: (data: Buffer | string) => unknown
}

function echo (socket: WsLike): void {
  socket.on('message', (data) => { socket.send(data) })
}

function jsonEcho (socket: WsLike): void {
  socket.on('message', (data) => { socket.send(JSON.stringify(JSON.parse(data.toString()))) })
}

function counted (socket: { once: (event: 'close', listener: () => void) => unknown }): void {
  open++
  socket.once('close', () => { open-- })
}

// The schema of the order message (bench/common.ts' `order`), as in bench/messages.ts.
const Item = Type.Object({ id: Type.Integer(), name: Type.String(), price: Type.Number(), tags: Type.Array(Type.String()), active: Type.Boolean() })
const Order = Type.Object({ order: Type.String(), customer: Type.Object({ name: Type.String(), email: Type.String() }), items: Type.Array(Item) })

/** raw ws: WebSocketServer in noServer mode, a hand-written 'upgrade' listener on node:http. */
async function startWs (): Promise<number> {
  const server = http.createServer((_request, response) => {
    response.writeHead(426, { connection: 'close' })
    response.end()
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (request, socket, head) => {
    const url = request.url
    if (url !== '/echo' && url !== '/json') {
      socket.destroy()
      return
    }
    wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      counted(ws)
      if (url === '/echo') echo(ws as unknown as WsLike)
      else jsonEcho(ws as unknown as WsLike)
    })
  })
  return await listen(server)
}

/**
 * @fastify/websocket 11 on Fastify 5. Loaded with require so that its type augmentation
 * of 'fastify' stays out of this program (it conflicts with fastify-upgrade's); its
 * handler receives ws' WebSocket.
 */
async function startFastifyWebsocket (): Promise<number> {
  const plugin = require('@fastify/websocket') as FastifyPluginCallback
  const app = Fastify()
  await app.register(plugin)
  const route = app.route.bind(app) as unknown as (options: Record<string, unknown>) => void
  route({ method: 'GET', url: '/echo', websocket: true, handler: (socket: WebSocket) => { counted(socket); echo(socket as unknown as WsLike) } })
  route({ method: 'GET', url: '/json', websocket: true, handler: (socket: WebSocket) => { counted(socket); jsonEcho(socket as unknown as WsLike) } })
  return await listenFastify(app)
}

/**
 * fastify-upgrade, plugin and route options all at their defaults (heartbeat on: 30 s / 10 s).
 * From the tsc build the parent made (BENCH_FASTIFY_UPGRADE), else from lib/ through tsx.
 */
async function startFastifyUpgrade (typed: boolean): Promise<number> {
  const built = process.env.BENCH_FASTIFY_UPGRADE
  const plugin = (await import(built === undefined ? '../lib/index.js' : pathToFileURL(built).href) as typeof import('../lib/index.js')).default
  const app = Fastify()
  await app.register(plugin)
  if (typed) {
    app.get('/json', { websocket: true, schema: { message: Order } }, (socket) => {
      counted(socket)
      socket.on('message', (message) => { socket.send(JSON.stringify(message)) })
    })
  } else {
    app.get('/echo', { websocket: true }, (socket) => { counted(socket); echo(socket) })
    app.get('/json', { websocket: true }, (socket) => { counted(socket); jsonEcho(socket) })
  }
  return await listenFastify(app)
}

/** socket.io 4, WebSocket transport only; events 'echo' and 'json' send their argument back. */
async function startSocketIo (): Promise<number> {
  const server = http.createServer()
  const io = new SocketIoServer(server, { transports: ['websocket'], serveClient: false })
  io.on('connection', (socket) => {
    open++
    socket.once('disconnect', () => { open-- })
    socket.on('echo', (data: Buffer) => { socket.emit('echo', data) })
    // socket.io parses and stringifies JSON itself.
    socket.on('json', (value: unknown) => { socket.emit('json', value) })
  })
  return await listen(server)
}

/** The native uWebSockets.js binary for this platform and Node ABI, loaded by path (never the JS fallback). */
function loadUws (): { uws: typeof Uws, binary: string } | { reason: string } {
  let packageDir: string
  try {
    packageDir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'))
  } catch (error) {
    return { reason: `@trufflesuite/uws-js-unofficial is not installed (${String(error)})` }
  }
  const binary = path.join(packageDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
  if (!existsSync(binary)) return { reason: `no native binary for this platform and Node ABI ${process.versions.modules}: ${binary}` }
  try {
    const uws = require(binary) as typeof Uws
    if (typeof uws.App !== 'function' || !String(uws.App).includes('[native code]')) return { reason: `${binary} did not export a native App` }
    return { uws, binary }
  } catch (error) {
    return { reason: `the native binary did not load: ${String(error)}` }
  }
}

async function startUws (uws: typeof Uws): Promise<number> {
  const behaviour = {
    compression: uws.DISABLED,
    // uWS' default is 16 KiB, which the 16 KiB payload would hit; 1 MiB is fastify-upgrade's default.
    maxPayloadLength: 1024 * 1024,
    open: () => { open++ },
    close: () => { open-- }
  }
  const app = uws.App()
  app.ws('/echo', { ...behaviour, message: (ws, message, isBinary) => { ws.send(message, isBinary) } })
  app.ws('/json', {
    ...behaviour,
    message: (ws, message) => { ws.send(JSON.stringify(JSON.parse(Buffer.from(message).toString())), false) }
  })
  return await new Promise<number>((resolve, reject) => {
    app.listen(host, 0, (token) => {
      if (token === false) reject(new Error('uWS could not listen'))
      else resolve(uws.us_socket_local_port(token as unknown as Uws.us_socket))
    })
  })
}

async function listen (server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return (server.address() as AddressInfo).port
}

async function listenFastify (app: FastifyInstance): Promise<number> {
  await app.listen({ host, port: 0 })
  return (app.server.address() as AddressInfo).port
}

async function main (): Promise<void> {
  const id = process.argv[2] as ContenderId
  const info: string[] = []
  let port: number
  switch (id) {
    case 'ws':
      port = await startWs()
      info.push(`ws ${version('ws')}`)
      break
    case 'fastify-websocket':
      port = await startFastifyWebsocket()
      info.push(`@fastify/websocket ${version('@fastify/websocket')}`, `fastify ${version('fastify')}`, `ws ${version('ws')}`)
      break
    case 'fastify-upgrade':
    case 'fastify-upgrade-typed':
      port = await startFastifyUpgrade(id === 'fastify-upgrade-typed')
      info.push(process.env.BENCH_FASTIFY_UPGRADE === undefined ? 'fastify-upgrade (lib/ through tsx)' : 'fastify-upgrade (lib/ built by tsc)', `fastify ${version('fastify')}`, `ws ${version('ws')}`)
      break
    case 'socket.io':
      port = await startSocketIo()
      info.push(`socket.io ${version('socket.io')}`, `engine.io ${version('engine.io')}`, `ws ${version('engine.io/node_modules/ws')}`)
      break
    case 'uws': {
      const loaded = loadUws()
      if ('reason' in loaded) {
        process.send?.({ hello: 'skip', reason: loaded.reason } satisfies ServerHello)
        return
      }
      port = await startUws(loaded.uws)
      info.push(`uWebSockets.js ${version('@trufflesuite/uws-js-unofficial')} native (${path.relative(root, loaded.binary)})`)
      break
    }
    default:
      throw new Error(`unknown contender ${String(id)}`)
  }
  if (id !== 'uws') info.push(bufferutilState())
  process.send?.({ hello: 'ready', port, info } satisfies ServerHello)
}

const gc = (globalThis as { gc?: () => void }).gc

// GC pauses, to tell a latency tail made by the collector from one made elsewhere.
const pauses: GcReading = { count: 0, totalMs: 0, longestMs: 0 }
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    pauses.count++
    pauses.totalMs += entry.duration
    if (entry.duration > pauses.longestMs) pauses.longestMs = entry.duration
  }
}).observe({ entryTypes: ['gc'] })

serveRpc({
  // hr: the monotonic clock in µs, the clock of --cpu-prof's sample times (bench/profile.ts).
  // gc: the pauses so far; the longest is counted afresh from each reading.
  cpu: (): CpuReading & { hr: number, gc: GcReading } => {
    const reading = { ...process.cpuUsage(), hr: Number(process.hrtime.bigint() / 1000n), gc: { ...pauses } }
    pauses.longestMs = 0
    return reading
  },
  open: (): number => open,
  mem: async (): Promise<MemReading> => {
    if (gc === undefined) throw new Error('run with --expose-gc')
    // Full collections with a turn of the loop between them, so that objects freed by
    // finalizers and weak callbacks of one are gone after the next.
    for (let i = 0; i < 3; i++) {
      gc()
      await nextLoop()
    }
    const usage = process.memoryUsage()
    return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers, open }
  },
  /** For `--profile <contender>:memory`: a heap snapshot after GC, written to `file`. */
  heapSnapshot: async (file: string): Promise<string> => {
    for (let i = 0; i < 3; i++) {
      gc?.()
      await nextLoop()
    }
    return writeHeapSnapshot(file)
  },
  exit: (): void => {
    // After the answer has gone; process.exit() also writes --cpu-prof profiles.
    setTimeout(() => process.exit(0), 50)
  }
})

// The parent went away: do not linger.
process.on('disconnect', () => process.exit(0))

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
