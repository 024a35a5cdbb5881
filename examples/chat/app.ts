// The chat behind `npm start`: rooms by URL, typed messages (schema.messages), presence,
// validation errors sent back to the page (onInvalidMessage: 'reply'), and the AsyncAPI
// document of it all, with its viewer page at /asyncapi. Each room is a topic,
// `chat:<room>`: with REDIS_URL set (`redisPubSub`), every server of the chat shares its
// rooms, so two servers started on two ports make one chat.
import fs from 'node:fs'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import fastifyUpgrade, { type SocketFor } from '../../lib/index.js'
import { redisPubSub } from '../../lib/redis.js'

const page = fs.readFileSync(new URL('./index.html', import.meta.url))

const RoomParams = Type.Object({ room: Type.String({ pattern: '^[a-z0-9-]{1,32}$', description: 'The room: lower-case letters, digits and dashes' }) })
const Text = Type.String({ minLength: 1, maxLength: 280 })

/** What the server sends to a room: presence (one server's people in it) and what was said. */
const RoomMessage = Type.Union([
  Type.Object({ type: Type.Literal('presence'), room: Type.String(), server: Type.String(), people: Type.Array(Type.String()), joined: Type.Optional(Type.String()), left: Type.Optional(Type.String()) }),
  Type.Object({ type: Type.Literal('said'), from: Type.String(), text: Type.String(), at: Type.String() })
])

// The rooms' topic, typed: websocketPublish checks every message to `chat:<room>` against RoomMessage.
declare module '../../lib/index.js' {
  interface WebSocketTopics { 'chat:*': typeof RoomMessage }
}

/** What a page may send, and what the server sends back. */
const chatSchema = {
  summary: 'A chat room',
  description: 'Join with a name, then say things: everyone in the room gets what is said, and who comes and goes.',
  tags: ['chat'],
  params: RoomParams,
  messages: {
    join: Type.Object({ name: Type.String({ minLength: 1, maxLength: 24 }) }),
    say: Type.Object({ text: Text }),
    // A page that sees someone join asks its server to tell the room who is here.
    here: Type.Object({})
  },
  send: RoomMessage
} as const

type ChatSocket = SocketFor<typeof chatSchema>

export interface ChatOptions {
  /** Share the rooms with every server using this Redis. */
  redisUrl?: string
}

export async function buildChatApp (options: FastifyServerOptions = {}, chat: ChatOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(options)
  await app.register(fastifyUpgrade, {
    allowedOrigins: (origin, request) => origin === `http://${request.headers.host ?? ''}`,
    // GET /asyncapi.json: the document; GET /asyncapi: the viewer page.
    asyncapi: {
      info: { title: 'fastify-upgrade chat', version: '1.0.0', description: 'The chat demo: rooms by URL, typed messages, presence.' },
      path: '/asyncapi'
    },
    pubsub: chat.redisUrl === undefined ? undefined : redisPubSub({ url: chat.redisUrl })
  })
  app.websocketTopic('chat:*', RoomMessage)

  // This server's people, by room and socket; a room's topic carries the others'.
  const server = randomUUID().slice(0, 8)
  const rooms = new Map<string, Map<ChatSocket, string>>()
  const announcing = new Set<string>()

  function presence (room: string, change: { joined?: string, left?: string }): void {
    const people = [...(rooms.get(room)?.values() ?? [])]
    void app.websocketPublish(`chat:${room}`, { type: 'presence', room, server, people, ...change })
  }

  // The page is served for / and for /room/<name>; its script reads the room from the URL.
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))
  app.get('/room/:room', { schema: { params: RoomParams } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))

  // Say something from anywhere: `curl -d '{"from":"cron","text":"hi"}' -H 'content-type: application/json' localhost:3000/rooms/lobby/messages`
  app.post('/rooms/:room/messages', {
    schema: { params: RoomParams, body: Type.Object({ from: Type.String({ minLength: 1, maxLength: 24 }), text: Text }) }
  }, async (request) => {
    const { room } = request.params as Static<typeof RoomParams>
    const { from, text } = request.body as { from: string, text: string }
    return await app.websocketPublish(`chat:${room}`, { type: 'said', from, text, at: new Date().toISOString() })
  })

  app.get('/chat/:room', {
    websocket: { onInvalidMessage: 'reply', idleTimeout: 10 * 60_000 },
    schema: chatSchema
  }, async (socket, request) => {
    const { room } = request.params as Static<typeof RoomParams>
    // Every message to the room's topic, from this server or another, reaches this page:
    // once the subscription is live everywhere (with Redis: confirmed). What the page sends
    // meanwhile is held until the listeners below are added.
    await socket.subscribe(`chat:${room}`)
    let members = rooms.get(room)
    if (members === undefined) {
      members = new Map()
      rooms.set(room, members)
    }
    const people = members

    socket.on('join', (message) => {
      const joined = !people.has(socket)
      people.set(socket, message.name)
      presence(room, joined ? { joined: message.name } : {})
    })

    socket.on('here', () => {
      // One answer per room and turn of the event loop, however many pages ask.
      if (announcing.has(room)) return
      announcing.add(room)
      setImmediate(() => { announcing.delete(room); presence(room, {}) })
    })

    socket.on('say', (message) => {
      const from = people.get(socket)
      if (from === undefined) return // say before join: ignored
      void app.websocketPublish(`chat:${room}`, { type: 'said', from, text: message.text, at: new Date().toISOString() })
    })

    socket.on('close', () => {
      const name = people.get(socket)
      people.delete(socket)
      if (people.size === 0) rooms.delete(room)
      // The socket has left the topic; the others hear who left.
      if (name !== undefined) presence(room, { left: name })
    })
  })

  app.get('/echo', { websocket: true, schema: { description: 'Sends every message back as it came, text as text and binary as binary.', tags: ['tools'] } }, (socket) => {
    socket.on('message', (data, isBinary) => { socket.raw.send(data, { binary: isBinary }) })
  })

  return app
}
