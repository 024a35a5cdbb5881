// A route that speaks "line/1" (see protocol.ts) and WebSocket on the same path.
// Try it: printf 'GET /line?user=ada HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: line/1\r\n\r\nPING\r\nQUIT\r\n' | nc 127.0.0.1 3001
import Fastify from 'fastify'
import fastifyUpgrade from '../../lib/index.js'
import { lineProtocol } from './protocol.js'

const app = Fastify({ logger: true })
await app.register(fastifyUpgrade)

app.get('/line', {
  websocket: true,
  upgrade: { 'line/1': lineProtocol }
}, (socket) => {
  socket.send('this route also speaks WebSocket')
})

await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' })
