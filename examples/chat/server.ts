// The demo behind `npm start`: a tiny multi-room chat plus an echo endpoint.
// Open http://127.0.0.1:3000/ in two browser tabs to chat between them.
import fs from 'node:fs'
import Fastify from 'fastify'
import fastifyUpgrade, { CloseCode, type WebSocketConnection } from '../../lib/index.js'

const page = fs.readFileSync(new URL('./index.html', import.meta.url))

const app = Fastify({ logger: { level: 'info' } })
await app.register(fastifyUpgrade)

app.get('/', async (_request, reply) => {
  return reply.type('text/html; charset=utf-8').send(page)
})

// room name -> the sockets currently in it
const rooms = new Map<string, Set<WebSocketConnection>>()

function broadcast (room: Set<WebSocketConnection>, message: object): void {
  const line = JSON.stringify(message)
  for (const peer of room) {
    // A peer may be mid-close: its 'close' event (which removes it) has not fired yet.
    if (peer.readyState === peer.raw.OPEN) peer.send(line)
  }
}

/** A chat line from a client, or undefined if it is not `{ name: string, text: string }`. */
function parseChatMessage (data: Buffer, isBinary: boolean): { name: string, text: string } | undefined {
  if (isBinary) return undefined
  try {
    const value: unknown = JSON.parse(data.toString('utf8'))
    if (typeof value !== 'object' || value === null) return undefined
    const { name, text } = value as Record<string, unknown>
    if (typeof name !== 'string' || typeof text !== 'string') return undefined
    return { name, text }
  } catch {
    return undefined
  }
}

app.get<{ Params: { room: string } }>('/chat/:room', { websocket: true }, (socket, request) => {
  const name = request.params.room
  let room = rooms.get(name)
  if (room === undefined) {
    room = new Set()
    rooms.set(name, room)
  }
  const members = room
  members.add(socket)
  request.log.info({ room: name, size: members.size }, 'joined chat room')

  const n = members.size
  socket.send(JSON.stringify({ name: 'server', text: `${n} ${n === 1 ? 'person' : 'people'} here` }))

  socket.on('message', (data, isBinary) => {
    const message = parseChatMessage(data, isBinary)
    if (message === undefined) {
      socket.close(CloseCode.InvalidPayload, 'invalid message') // 1007
      return
    }
    broadcast(members, { name: message.name, text: message.text, at: new Date().toISOString() })
  })

  socket.on('close', (code, reason) => {
    members.delete(socket)
    // Drop empty rooms, unless someone already made a new Set for this name.
    if (members.size === 0 && rooms.get(name) === members) rooms.delete(name)
    request.log.info({ room: name, code, reason }, 'left chat room')
  })
})

app.get('/echo', { websocket: true }, (socket) => {
  socket.on('message', (data, isBinary) => {
    // Our send() takes only data and ws would send a Buffer as binary; the raw ws
    // socket keeps text frames as text.
    socket.raw.send(data, { binary: isBinary })
  })
})

// Graceful shutdown: app.close() closes open websockets (1001) before the HTTP server.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down')
    app.close().then(() => process.exit(0), (error: unknown) => {
      app.log.error({ err: error }, 'error while closing')
      process.exit(1)
    })
  })
}

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
await app.listen({ port, host })

const address = app.server.address()
const realPort = typeof address === 'object' && address !== null ? address.port : port
const urlHost = host.includes(':') ? `[${host}]` : host // IPv6 literals need brackets
console.log(`fastify-upgrade demo: open http://${urlHost}:${realPort}/ in a browser`)
