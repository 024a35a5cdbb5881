// Topics across servers through Redis (fastify-upgrade/redis): two server processes
// (test/fixtures/topics-server.ts) share a redis-server that this file starts on a free
// port and kills at the end. Every wait is for an event or a condition polled with a
// deadline; Redis is killed with SIGKILL and restarted on the same port mid-test.
import t from 'tap'
import { Redis } from 'ioredis'
import { WebSocket, type RawData } from 'ws'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import { redisPubSub } from '../lib/redis.js'
import { buildChatApp } from '../examples/chat/app.js'
import { captureLogs, closeEvent, freePort, startFixture, startRedis, until, within, type RunningFixture } from './helpers.js'

interface Server { fixture: RunningFixture, port: number, base: string }

async function startServer (t: { teardown: (fn: () => unknown) => void }, url: string): Promise<Server> {
  const fixture = startFixture(t, 'topics-server.ts', [url])
  const line = await fixture.line((line) => line.startsWith('{"listening"'), 'its port', 20_000)
  const port = (JSON.parse(line) as { listening: number }).listening
  return { fixture, port, base: `http://127.0.0.1:${port}` }
}

interface Client { socket: WebSocket, frames: string[] }

/** A client of /ws/<topic>, once the server has subscribed it ('ready': the SUBSCRIBE was acknowledged). */
async function client (server: Server, topic: string, ms = 5000): Promise<Client> {
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/ws/${encodeURIComponent(topic)}`)
  const frames: string[] = []
  socket.on('message', (data: RawData) => { frames.push((data as Buffer).toString()) })
  socket.on('error', () => {})
  await until(() => frames.includes('ready'), `${topic} to be ready`, ms)
  frames.splice(frames.indexOf('ready'), 1)
  return { socket, frames }
}

async function publish (server: Server, topic: string, message: unknown): Promise<{ status: number, body: { delivered?: number, code?: string } }> {
  const response = await fetch(`${server.base}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic, message }) })
  return { status: response.status, body: await response.json() as { delivered?: number, code?: string } }
}

interface Stats { topics: Record<string, { subscribers: number, received: number, publishFailures: number }>, topicTotals: { publishFailures: number, invalidRemoteMessages: number, received: number } }
async function stats (server: Server): Promise<Stats> {
  return await (await fetch(`${server.base}/stats`)).json() as Stats
}

/** Subscribers of a channel as Redis counts them (one per server with local subscribers). */
async function numsub (redis: Redis, topic: string): Promise<number> {
  const reply = await redis.pubsub('NUMSUB', `fastify-upgrade:${topic}`) as [string, number]
  return Number(reply[1])
}

t.test('two servers, one Redis: exactly once, except, unsubscribe, close, Redis restarting, and app.close()', async (t) => {
  const redisServer = await startRedis(t)
  const [a, b] = await Promise.all([startServer(t, redisServer.url), startServer(t, redisServer.url)]) as [Server, Server]
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null })
  redis.on('error', () => {})
  t.teardown(() => { redis.disconnect() })

  const a1 = await client(a, 'room')
  const a2 = await client(a, 'room')
  const b1 = await client(b, 'room')
  const b2 = await client(b, 'room')
  t.equal(await numsub(redis, 'room'), 2, 'one Redis subscription per server, whatever its number of subscribers')

  t.test('a publish on one server reaches the other\'s clients exactly once, and not the excepted socket', async (t) => {
    a1.socket.send('publish hello')
    await until(() => b1.frames.length === 1 && b2.frames.length === 1 && a2.frames.length === 1, 'hello everywhere')
    b1.socket.send('publish from b')
    await until(() => a1.frames.length === 1 && a2.frames.length === 2 && b2.frames.length === 2, 'from b everywhere')
    // A last publish from each server: a duplicate of the earlier ones (Redis echoing a
    // publish back to its own server) would have arrived before it.
    const ended = await publish(a, 'room', 'end')
    t.same(ended, { status: 200, body: { delivered: 2 } }, 'delivered counts this server\'s sockets')
    await until(() => [a1, a2, b1, b2].every(({ frames }) => frames.at(-1) === 'end'), 'end everywhere')
    t.same(a1.frames, ['from b', 'end'], 'a1 (excepted from its own publish)')
    t.same(a2.frames, ['hello', 'from b', 'end'])
    t.same(b1.frames, ['hello', 'end'], 'b1 (excepted from its own publish)')
    t.same(b2.frames, ['hello', 'from b', 'end'])
    const stat = (await stats(b)).topics.room
    t.equal(stat?.received, 2, 'B counts the two publishes of A')
    t.equal(stat?.subscribers, 2)
  })

  t.test('a typed topic refuses an invalid publish on the publishing server; nothing is sent', async (t) => {
    const typed = await client(b, 'typed:1')
    const refused = await publish(a, 'typed:1', { n: 'not a number' })
    t.equal(refused.status, 500)
    t.equal(refused.body.code, 'FST_UPGRADE_INVALID_PUBLISH')
    t.same(await publish(a, 'typed:1', { n: 1 }), { status: 200, body: { delivered: 0 } })
    await until(() => typed.frames.length === 1, 'the valid publish')
    t.same(typed.frames, ['{"n":1}'])
    typed.socket.close()
  })

  t.test('unsubscribe and close stop delivery; the last subscriber leaving ends the Redis subscription', async (t) => {
    b1.socket.send('unsubscribe')
    await until(() => b1.frames.at(-1) === 'unsubscribed', 'unsubscribed')
    await publish(a, 'room', 'after b1 left')
    await until(() => b2.frames.at(-1) === 'after b1 left', 'b2 to get it')
    // B wrote the publish to its subscribers before it read this request from b1.
    b1.socket.send('echo')
    await until(() => b1.frames.at(-1) === 'echo', 'the echo')
    t.same(b1.frames.slice(-2), ['unsubscribed', 'echo'], 'nothing for b1 after it unsubscribed')
    b2.socket.close()
    await closeEvent(b2.socket)
    await until(async () => await numsub(redis, 'room') === 1, 'B to unsubscribe from Redis')
    t.equal((await stats(b)).topics.room, undefined, 'B has no room subscriber left')
    await publish(a, 'room', 'B is gone')
    await until(() => a2.frames.at(-1) === 'B is gone', 'a2')
    b1.socket.send('echo')
    await until(() => b1.frames.length === 5, 'the second echo')
    t.same(b1.frames, ['hello', 'end', 'unsubscribed', 'echo', 'echo'])
  })

  t.test('something else publishing on the channel: dropped and counted, the server carries on', async (t) => {
    const listener = await client(b, 'room')
    await redis.publish('fastify-upgrade:room', 'not an envelope')
    await redis.publish('fastify-upgrade:room', Buffer.from([1, 0xff, 0]))
    await until(async () => (await stats(b)).topicTotals.invalidRemoteMessages === 2, 'B to count them')
    await publish(a, 'room', 'still fine')
    await until(() => listener.frames.at(-1) === 'still fine', 'the next publish')
    t.same(listener.frames, ['still fine'])
    listener.socket.close()
  })

  t.test('Redis killed and restarted: local delivery goes on, failures are counted and logged, subscriptions come back', async (t) => {
    const b3 = await client(b, 'room')
    await redisServer.kill()
    // A publish while Redis is down: delivered on A (to a1 and a2), counted and logged there.
    await until(async () => (await publish(a, 'room', 'during the outage')).body.delivered === 2 && (await stats(a)).topicTotals.publishFailures > 0, 'a failed publish', 10_000)
    t.ok(a2.frames.includes('during the outage'), 'local delivery goes on')
    await a.fixture.line((line) => line.includes('publish did not reach the broker'), 'the failure log')
    const failures = (await stats(a)).topics.room?.publishFailures ?? 0
    t.ok(failures > 0, `${failures} failed publishes counted for the topic`)
    // A subscription asked for while Redis is down waits for it.
    const late = new WebSocket(`ws://127.0.0.1:${b.port}/ws/late`)
    const lateFrames: string[] = []
    late.on('message', (data: RawData) => { lateFrames.push((data as Buffer).toString()) })
    late.on('error', () => {})
    await within(new Promise((resolve) => late.once('open', resolve)), 5000, 'the late client to connect')

    await redisServer.restart()
    // At most once: publishes sent before B has resubscribed are lost. Probe until one arrives.
    let probes = 0
    await until(async () => {
      await publish(a, 'room', `probe ${probes++}`)
      return b3.frames.some((frame) => frame.startsWith('probe'))
    }, 'a probe across the restarted Redis', 20_000)
    t.pass(`B's subscription was restored (${probes} probes)`)
    await until(() => lateFrames.includes('ready'), 'the late subscription to be confirmed', 10_000)
    await publish(a, 'late', 'for the late one')
    await until(() => lateFrames.includes('for the late one'), 'the late subscriber to get it')
    await b.fixture.line((line) => line.includes('Redis connection restored'), 'the reconnection log')
    late.close()
    b3.socket.close()
  })

  t.test('app.close() closes the sockets and the Redis connections: each process exits by itself', async (t) => {
    const closes = [a1, a2, b1].map(async ({ socket }) => await closeEvent(socket))
    for (const server of [a, b]) await fetch(`${server.base}/close`, { method: 'POST' })
    t.same((await Promise.all(closes)).map(({ code }) => code), [1001, 1001, 1001])
    const codes = await within(Promise.all([a.fixture.exited, b.fixture.exited]), 10_000, 'both servers to exit by themselves')
    t.same(codes, [0, 0], 'exit code 0, no handle left open')
    await until(async () => await numsub(redis, 'room') === 0, 'Redis to see no subscriber')
  })
})

t.test('redisPubSub: options are checked; your own client is used to publish and left open', async (t) => {
  t.throws(() => redisPubSub({}), { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "redisPubSub": give either url or client' })
  t.throws(() => redisPubSub({ url: 'redis://x', client: new Redis({ lazyConnect: true }) }), { message: /either url or client/ })
  t.throws(() => redisPubSub({ url: 6379 as unknown as string }), { message: /"redisPubSub: url": must be a redis/ })
  t.throws(() => redisPubSub({ url: 'redis://x', prefix: 1 as unknown as string }), { message: /prefix/ })
  t.throws(() => redisPubSub({ url: 'redis://x', maxPendingBytes: 0 }), { message: /maxPendingBytes/ })
  t.throws(() => redisPubSub({ url: 'redis://x', prefx: 'a:' } as object), { message: /"redisPubSub: prefx": unknown option/ })
  t.throws(() => redisPubSub(undefined as unknown as object), { message: /either url or client/ })

  const redisServer = await startRedis(t)
  const mine = new Redis(redisServer.url)
  t.teardown(() => { mine.disconnect() })
  const logs = captureLogs('info')
  const app = Fastify({ logger: logs.logger })
  await app.register(fastifyUpgrade, { pubsub: redisPubSub({ client: mine, prefix: 'app1/', maxPendingBytes: 64 }) })
  app.get('/ws', { websocket: true }, async (socket) => { await socket.subscribe('news'); socket.sendRaw('ready') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const watcher = new Redis(redisServer.url)
  t.teardown(() => { watcher.disconnect() })
  const seen: Buffer[] = []
  watcher.on('messageBuffer', (_channel: Buffer, message: Buffer) => { seen.push(message) })
  await watcher.subscribe('app1/news')
  const socket = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`)
  await within(new Promise((resolve) => socket.once('message', resolve)), 5000, 'ready')
  t.equal(await numsub(mine, 'news'), 0, 'the prefix replaces the default')
  t.same(await app.websocketPublish('news', 'through my client'), { delivered: 1 })
  await until(() => seen.length === 1, 'the watcher to see the envelope')
  t.equal(seen[0]?.subarray(18).toString(), 'through my client', 'an envelope: 18 bytes of header, then the payload')
  // maxPendingBytes: a publish larger than the bound fails at once, counted and logged.
  t.same(await app.websocketPublish('news', 'x'.repeat(100)), { delivered: 1 })
  t.equal(app.websocketStats().topicTotals.publishFailures, 1)
  t.ok(logs.lines.some((line) => line.level === 40 && line.err?.message === 'More than 64 bytes of publishes wait for the broker'), 'FST_UPGRADE_PUBSUB_OVERLOADED logged')
  socket.close()
  await app.close()
  t.equal(mine.status, 'ready', 'your client is left open')
  t.equal(await mine.ping(), 'PONG')
})

t.test('Redis unreachable from the start: the app starts, topics work on this server, failures are counted, app.close() ends the retries', async (t) => {
  const port = await freePort()
  const logs = captureLogs('debug')
  const app = Fastify({ logger: logs.logger })
  await app.register(fastifyUpgrade, { pubsub: redisPubSub({ url: `redis://127.0.0.1:${port}`, redisOptions: { retryStrategy: () => 20 } }) })
  let subscribed: Promise<void> | undefined
  app.get('/ws', { websocket: true }, (socket) => {
    // While Redis is unreachable the subscription waits for it; this server's publishes reach the socket meanwhile.
    subscribed = socket.subscribe('news')
    socket.sendRaw('ready')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const socket = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`)
  const frames: string[] = []
  socket.on('message', (data: RawData) => { frames.push((data as Buffer).toString()) })
  await until(() => frames.includes('ready'), 'ready')
  t.same(await app.websocketPublish('news', 'local only'), { delivered: 1 })
  await until(() => frames.includes('local only'), 'the local publish')
  t.equal(app.websocketStats().topicTotals.publishFailures, 1)
  await until(() => logs.lines.some((line) => line.msg === 'websocket pub/sub: Redis connection error'), 'a connection error logged at debug')
  socket.close()
  await closeEvent(socket)
  await within(app.close(), 5000, 'app.close()')
  await t.rejects(subscribed as Promise<void>, { code: 'FST_UPGRADE_CLOSING' }, 'the subscription still waiting for Redis ends with app.close()')
})

t.test('the chat demo on two servers sharing a Redis: one chat, presence from both, a message from an HTTP route', async (t) => {
  const redisServer = await startRedis(t)
  const servers = await Promise.all([0, 1].map(async () => {
    const app = await buildChatApp({}, { redisUrl: redisServer.url })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    return { app, port: (app.server.address() as { port: number }).port }
  }))
  /** A page of the demo, as its script behaves: joins, lists people by server, answers a newcomer with 'here'. */
  const page = async (port: number, name: string): Promise<{ said: string[], people: () => string[], socket: WebSocket }> => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/chat/lobby`, { origin: `http://127.0.0.1:${port}` })
    const servers = new Map<string, string[]>()
    const said: string[] = []
    socket.on('message', (data: RawData) => {
      const message = JSON.parse((data as Buffer).toString()) as { type: string, server: string, people: string[], joined?: string, from: string, text: string }
      if (message.type === 'said') said.push(`${message.from}: ${message.text}`)
      if (message.type !== 'presence') return
      servers.set(message.server, message.people)
      if (message.joined !== undefined) socket.send(JSON.stringify({ type: 'here' }))
    })
    await within(new Promise((resolve) => socket.once('open', resolve)), 5000, 'the page to connect')
    // Sent at once: the route holds it until it has subscribed the socket to the room.
    socket.send(JSON.stringify({ type: 'join', name }))
    return { said, people: () => [...new Set([...servers.values()].flat())].sort(), socket }
  }
  const [one, two] = servers as [{ port: number, app: FastifyInstance }, { port: number, app: FastifyInstance }]
  const ada = await page(one.port, 'Ada')
  await until(() => ada.people().includes('Ada'), 'Ada to see herself')
  const bob = await page(two.port, 'Bob')
  await until(() => ada.people().length === 2 && bob.people().length === 2, 'both to see both', 10_000)
  t.same(bob.people(), ['Ada', 'Bob'], "Bob's page lists Ada, who is on the other server")
  ada.socket.send(JSON.stringify({ type: 'say', text: 'hello Bob' }))
  await until(() => bob.said.length === 1, 'Bob to hear Ada')
  const response = await fetch(`http://127.0.0.1:${two.port}/rooms/lobby/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'cron', text: 'tea time' }) })
  t.same(await response.json(), { delivered: 1 })
  await until(() => ada.said.length === 2 && bob.said.length === 2, 'both to hear cron')
  t.same(ada.said, ['Ada: hello Bob', 'cron: tea time'])
  t.same(bob.said, ['Ada: hello Bob', 'cron: tea time'])
  bob.socket.close()
  await until(() => ada.people().length === 1, 'Ada to see Bob leave')
  ada.socket.close()
})
