// The chat behind `npm start`: rooms by URL, typed messages (schema.messages), presence,
// validation errors sent back to the page (onInvalidMessage: 'reply'), and the AsyncAPI
// document of it all, with its viewer page at /asyncapi.
import fs from 'node:fs'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import fastifyUpgrade, { type SocketFor } from '../../lib/index.js'

const page = fs.readFileSync(new URL('./index.html', import.meta.url))

const RoomParams = Type.Object({ room: Type.String({ pattern: '^[a-z0-9-]{1,32}$', description: 'The room: lower-case letters, digits and dashes' }) })

/** What a page may send, and what the server sends back. */
const chatSchema = {
  summary: 'A chat room',
  description: 'Join with a name, then say things: everyone in the room gets what is said, and who comes and goes.',
  tags: ['chat'],
  params: RoomParams,
  messages: {
    join: Type.Object({ name: Type.String({ minLength: 1, maxLength: 24 }) }),
    say: Type.Object({ text: Type.String({ minLength: 1, maxLength: 280 }) })
  },
  send: Type.Union([
    Type.Object({ type: Type.Literal('presence'), room: Type.String(), people: Type.Array(Type.String()), joined: Type.Optional(Type.String()), left: Type.Optional(Type.String()) }),
    Type.Object({ type: Type.Literal('said'), from: Type.String(), text: Type.String(), at: Type.String() })
  ])
} as const

type ChatSocket = SocketFor<typeof chatSchema>
type Outgoing = Static<typeof chatSchema.send>

export async function buildChatApp (options: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(options)
  await app.register(fastifyUpgrade, {
    allowedOrigins: (origin, request) => origin === `http://${request.headers.host ?? ''}`,
    // GET /asyncapi.json: the document; GET /asyncapi: the viewer page.
    asyncapi: {
      info: { title: 'fastify-upgrade chat', version: '1.0.0', description: 'The chat demo: rooms by URL, typed messages, presence.' },
      path: '/asyncapi'
    }
  })

  // room name -> the people in it, by socket
  const rooms = new Map<string, Map<ChatSocket, string>>()

  function broadcast (members: Map<ChatSocket, string>, message: Outgoing): void {
    for (const peer of members.keys()) peer.send(message)
  }

  function presence (room: string, members: Map<ChatSocket, string>, change: { joined?: string, left?: string }): void {
    broadcast(members, { type: 'presence', room, people: [...members.values()], ...change })
  }

  // The page is served for / and for /room/<name>; its script reads the room from the URL.
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))
  app.get('/room/:room', { schema: { params: RoomParams } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))

  app.get('/chat/:room', {
    websocket: { onInvalidMessage: 'reply', idleTimeout: 10 * 60_000 },
    schema: chatSchema
  }, (socket, request) => {
    const { room } = request.params as Static<typeof RoomParams>
    let members = rooms.get(room)
    if (members === undefined) {
      members = new Map()
      rooms.set(room, members)
    }
    const people = members

    socket.on('join', (message) => {
      const joined = !people.has(socket)
      people.set(socket, message.name)
      presence(room, people, joined ? { joined: message.name } : {})
    })

    socket.on('say', (message) => {
      const from = people.get(socket)
      if (from === undefined) return // say before join: ignored
      broadcast(people, { type: 'said', from, text: message.text, at: new Date().toISOString() })
    })

    socket.on('close', () => {
      const name = people.get(socket)
      people.delete(socket)
      if (people.size === 0) rooms.delete(room)
      else if (name !== undefined) presence(room, people, { left: name })
    })
  })

  app.get('/echo', { websocket: true, schema: { description: 'Sends every message back as it came, text as text and binary as binary.', tags: ['tools'] } }, (socket) => {
    socket.on('message', (data, isBinary) => { socket.raw.send(data, { binary: isBinary }) })
  })

  return app
}
