// One contender of the topics benchmark (bench/topics.ts), in a process of its own,
// forked with --expose-gc. Subscribers connect to `/sub` (socket.io: any connection) and
// join the topic 'room'; on the parent's `publish` call the server sends `burst`
// messages (the order of bench/common.ts, its `seq` changed each time) to every
// subscriber, synchronously, in one tick. Contenders:
//   ws-stringify       raw ws, a Set of sockets, JSON.stringify per socket (the loop people write)
//   ws-serialized      the same loop with the JSON string made once per message
//   fastify-upgrade    app.websocketPublish('room', message)
//   uws                uWebSockets.js (native) app.publish('room', JSON.stringify(message))
//   socket.io          io.to('room').emit('order', message)
//   fastify-upgrade-redis   (the cross-server scenario) fastify-upgrade with redisPubSub({ url: REDIS_URL });
//                      /sub/:topic subscribes and says 'ready', /pub/:topic publishes each message it gets
//   fastify-upgrade-local   the same routes without an adapter (the in-process path)
//
//   node --import tsx --expose-gc bench/topics-server.ts <contender>
import http from 'node:http'
import { createRequire } from 'node:module'
import path from 'node:path'
import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { WebSocketServer, type WebSocket } from 'ws'
import { Server as SocketIoServer } from 'socket.io'
import type * as Uws from '@trufflesuite/uws-js-unofficial'
import { order, serveRpc, type ServerHello } from './common.js'

const require = createRequire(import.meta.url)
const host = '127.0.0.1'
const message = { seq: 0, ...order }

type Publish = () => void
let publishOne: Publish = () => {}
let subscribers = (): number => 0

async function listen (server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return (server.address() as AddressInfo).port
}

async function startWs (serializeOnce: boolean): Promise<number> {
  const server = http.createServer()
  const wss = new WebSocketServer({ noServer: true })
  const room = new Set<WebSocket>()
  server.on('upgrade', (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      room.add(ws)
      ws.once('close', () => { room.delete(ws) })
    })
  })
  publishOne = serializeOnce
    ? () => {
        const text = JSON.stringify(message)
        for (const ws of room) ws.send(text)
      }
    : () => {
        for (const ws of room) ws.send(JSON.stringify(message))
      }
  subscribers = () => room.size
  return await listen(server)
}

async function loadPlugin (): Promise<typeof import('../lib/index.js')> {
  const built = process.env.BENCH_FASTIFY_UPGRADE
  return await import(built === undefined ? '../lib/index.js' : pathToFileURL(built).href) as typeof import('../lib/index.js')
}

async function startFastifyUpgrade (redisUrl: string | undefined): Promise<number> {
  const plugin = (await loadPlugin()).default
  let pubsub
  if (redisUrl !== undefined) {
    const built = process.env.BENCH_FASTIFY_UPGRADE
    const redis = await import(built === undefined ? '../lib/redis.js' : pathToFileURL(path.join(path.dirname(built), 'redis.js')).href) as typeof import('../lib/redis.js')
    pubsub = redis.redisPubSub({ url: redisUrl })
  }
  const app = Fastify()
  await app.register(plugin, { pubsub })
  let open = 0
  app.get('/sub', { websocket: true }, (socket) => {
    open++
    socket.once('close', () => { open-- })
    void socket.subscribe('room')
  })
  app.get('/sub/:topic', { websocket: true }, async (socket, request) => {
    await socket.subscribe((request.params as { topic: string }).topic)
    socket.sendRaw('ready')
  })
  app.get('/pub/:topic', { websocket: true }, (socket, request) => {
    const topic = (request.params as { topic: string }).topic
    socket.on('message', (data, isBinary) => { void app.websocketPublish(topic, isBinary ? data : data.toString(), { except: socket }) })
  })
  publishOne = () => { void app.websocketPublish('room', message) }
  subscribers = () => open
  await app.listen({ host, port: 0 })
  return (app.server.address() as AddressInfo).port
}

async function startSocketIo (): Promise<number> {
  const server = http.createServer()
  const io = new SocketIoServer(server, { transports: ['websocket'], serveClient: false })
  io.on('connection', (socket) => { void socket.join('room') })
  publishOne = () => { io.to('room').emit('order', message) }
  subscribers = () => io.of('/').adapter.rooms.get('room')?.size ?? 0
  return await listen(server)
}

function loadUws (): typeof Uws | string {
  let packageDir: string
  try {
    packageDir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'))
  } catch (error) {
    return `@trufflesuite/uws-js-unofficial is not installed (${String(error)})`
  }
  const binary = path.join(packageDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
  if (!existsSync(binary)) return `no native binary for this platform and Node ABI ${process.versions.modules}`
  const uws = require(binary) as typeof Uws
  // The native module, not a JavaScript fallback.
  if (typeof uws.App !== 'function' || !String(uws.App).includes('[native code]')) return `${binary} did not export a native App`
  return uws
}

async function startUws (uws: typeof Uws): Promise<number> {
  const app = uws.App()
  let open = 0
  app.ws('/sub', {
    compression: uws.DISABLED,
    // Room for the backlog of a burst (uWS closes a subscriber past it).
    maxBackpressure: 64 * 1024 * 1024,
    open: (ws) => { open++; ws.subscribe('room') },
    close: () => { open-- }
  })
  publishOne = () => { app.publish('room', JSON.stringify(message), false) }
  subscribers = () => open
  return await new Promise<number>((resolve, reject) => {
    app.listen(host, 0, (token) => {
      if (token === false) reject(new Error('uWS could not listen'))
      else resolve(uws.us_socket_local_port(token as unknown as Uws.us_socket))
    })
  })
}

async function main (): Promise<void> {
  const id = process.argv[2] as string
  let port: number
  const info: string[] = []
  switch (id) {
    case 'ws-stringify': port = await startWs(false); break
    case 'ws-serialized': port = await startWs(true); break
    case 'fastify-upgrade':
    case 'fastify-upgrade-local': port = await startFastifyUpgrade(undefined); break
    case 'fastify-upgrade-redis': port = await startFastifyUpgrade(process.env.REDIS_URL as string); break
    case 'socket.io': port = await startSocketIo(); break
    case 'uws': {
      const uws = loadUws()
      if (typeof uws === 'string') {
        process.send?.({ hello: 'skip', reason: uws } satisfies ServerHello)
        return
      }
      port = await startUws(uws)
      info.push('uWebSockets.js native')
      break
    }
    default: throw new Error(`unknown contender ${id}`)
  }
  process.send?.({ hello: 'ready', port, info } satisfies ServerHello)
}

serveRpc({
  cpu: () => process.cpuUsage(),
  subscribers: () => subscribers(),
  /** `burst` messages in one tick, `times` times a turn of the event loop apart. */
  publish: async ({ burst, times }: { burst: number, times: number }) => {
    for (let time = 0; time < times; time++) {
      for (let i = 0; i < burst; i++) {
        message.seq++
        publishOne()
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
  },
  exit: () => { setTimeout(() => process.exit(0), 50) }
})

process.on('disconnect', () => process.exit(0))
main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
