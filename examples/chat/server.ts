// `npm start`: the chat demo. Open the printed URL in two browser tabs.
// `REDIS_URL=redis://127.0.0.1:6379 PORT=3001 npm start` in two terminals (3001, 3002):
// two servers, one chat, their rooms shared through Redis.
import { buildChatApp } from './app.js'

const redisUrl = process.env.REDIS_URL
const app = await buildChatApp({ logger: { level: 'info' } }, { redisUrl: redisUrl === '' ? undefined : redisUrl })

// Graceful shutdown: app.close() sends 1001 to open websockets before the HTTP server closes.
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
console.log(`fastify-upgrade demo: open http://${urlHost}:${realPort}/room/lobby in two browser tabs (its AsyncAPI document: http://${urlHost}:${realPort}/asyncapi)${redisUrl === undefined || redisUrl === '' ? '' : ` (rooms shared through ${redisUrl}: start another server with another PORT and the same REDIS_URL)`}`)
