// Topics on one server (no pub/sub adapter, the default) and through a fake adapter (an
// in-memory broker between two apps of this process): subscribe/unsubscribe, encodings,
// `except`, `delivered`, typed topics, limits, stats, a socket's close, per-tick batching.
// The Redis adapter, across processes, is test/topics-redis.test.ts.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { Type as Type1 } from 'typebox'
import { WebSocket, type RawData } from 'ws'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUpgrade, { type AnyWebSocketConnection, type PubSubAdapter, type WebSocketConnection } from '../lib/index.js'
import { encodeEnvelope } from '../lib/pubsub.js'
import { captureLogs, closeEvent, connect, delay, listen, nextMessage, within, type LogLine } from './helpers.js'

interface Frame { text: string, isBinary: boolean }

/** A client that records every frame, binary or not, in order. */
async function subscriber (url: string): Promise<{ client: WebSocket, frames: Frame[], next: () => Promise<Frame> }> {
  const client = new WebSocket(url)
  const frames: Frame[] = []
  const waiting: Array<() => void> = []
  client.on('message', (data: RawData, isBinary: boolean) => {
    frames.push({ text: (data as Buffer).toString(), isBinary })
    waiting.shift()?.()
  })
  // The route answers 'ready' once the socket has subscribed.
  await within(new Promise<void>((resolve, reject) => { waiting.push(resolve); client.once('error', reject) }), 3000, 'ready')
  frames.shift()
  let read = 0
  const next = async (): Promise<Frame> => {
    if (frames.length <= read) await within(new Promise<void>((resolve) => { waiting.push(resolve) }), 3000, 'a frame')
    return frames[read++] as Frame
  }
  return { client, frames, next }
}

/** Polls `condition` every 5 ms until it holds, for at most `ms`. */
async function until (condition: () => boolean, what: string, ms = 3000): Promise<void> {
  await within((async () => { while (!condition()) await delay(5) })(), ms, what)
}

/** An app whose /topic/:name route subscribes each socket to `name` (and `also`, comma-separated), then says 'ready'. */
async function topicApp (options: Parameters<typeof listen>[1] = {}, fastifyOptions: Parameters<typeof listen>[2] = {}, setup: (app: FastifyInstance) => void = () => {}): Promise<{ app: FastifyInstance, url: string, sockets: AnyWebSocketConnection[] }> {
  const sockets: AnyWebSocketConnection[] = []
  const { app, url } = await listen((app) => {
    setup(app)
    app.get('/topic/:names', { websocket: true }, async (socket, request) => {
      sockets.push(socket)
      for (const name of (request.params as { names: string }).names.split(',')) await socket.subscribe(decodeURIComponent(name))
      socket.sendRaw('ready')
    })
  }, options, fastifyOptions)
  return { app, url, sockets }
}

t.test('untyped topics: a string is text, bytes are binary, anything else JSON; each subscriber once, the excepted socket never', async (t) => {
  const { app, url, sockets } = await topicApp()
  t.teardown(() => app.close())
  const a = await subscriber(`${url}/topic/news`)
  const b = await subscriber(`${url}/topic/news`)
  const other = await subscriber(`${url}/topic/sport`)

  const both = async (): Promise<Frame[]> => {
    const [fromA, fromB] = [await a.next(), await b.next()]
    t.same(fromB, fromA, 'both subscribers got the same frame')
    return [fromA]
  }
  t.same(await app.websocketPublish('news', 'plain text'), { delivered: 2 })
  t.same(await both(), [{ text: 'plain text', isBinary: false }])
  t.same(await app.websocketPublish('news', Buffer.from('a buffer')), { delivered: 2 })
  t.same(await both(), [{ text: 'a buffer', isBinary: true }])
  await app.websocketPublish('news', new TextEncoder().encode('a Uint8Array'))
  t.same(await both(), [{ text: 'a Uint8Array', isBinary: true }])
  await app.websocketPublish('news', new Uint16Array([0x6968, 0x2121]))
  t.same(await both(), [{ text: 'hi!!', isBinary: true }], 'any typed array: its bytes')
  await app.websocketPublish('news', new TextEncoder().encode('an ArrayBuffer').buffer)
  t.same(await both(), [{ text: 'an ArrayBuffer', isBinary: true }])
  await app.websocketPublish('news', { json: [1, 'two'] })
  t.same(await both(), [{ text: '{"json":[1,"two"]}', isBinary: false }])
  await app.websocketPublish('news', 42)
  t.same(await both(), [{ text: '42', isBinary: false }])

  // except: the socket the message came from, typically.
  const [socketA] = sockets
  t.same(await app.websocketPublish('news', 'not for a', { except: socketA }), { delivered: 1 })
  t.same(await b.next(), { text: 'not for a', isBinary: false })
  t.same(await app.websocketPublish('nobody-listens', 'x'), { delivered: 0 }, 'a topic without subscribers: delivered 0')
  await app.websocketPublish('news', 'last')
  t.same(await a.next(), { text: 'last', isBinary: false }, 'a skipped "not for a"')
  t.same(await b.next(), { text: 'last', isBinary: false })
  t.equal(b.frames.length, 9, 'b got every news frame once')
  t.equal(other.frames.length, 0, 'sport got nothing')
  for (const { client } of [a, b, other]) client.close()
})

t.test('subscribe and unsubscribe: idempotent, socket.topics, delivery stops at once, a closed socket leaves every topic', async (t) => {
  let server: WebSocketConnection | undefined
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => {
      server = socket
      socket.on('message', (data) => {
        const [command, topic] = data.toString().split(' ') as [string, string]
        const done = command === 'sub' ? socket.subscribe(topic) : socket.unsubscribe(topic)
        void done.then(() => socket.sendRaw(`${command} ${topic} ok`))
      })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/ws`)
  const frames: string[] = []
  client.on('message', (data: Buffer) => frames.push(data.toString()))
  const ask = async (line: string): Promise<void> => {
    const count = frames.length
    client.send(line)
    await until(() => frames.length > count, line)
  }
  await ask('sub a')
  await ask('sub b')
  await ask('sub a')
  const socket = server as WebSocketConnection
  t.same([...socket.topics], ['a', 'b'], 'socket.topics, joined once each')
  t.same(app.websocketStats().topics.a, { subscribers: 1, publishes: 0, received: 0, deliveries: 0, drops: 0, publishFailures: 0 })
  t.same(await app.websocketPublish('a', 'one'), { delivered: 1 }, 'subscribed twice, delivered once')
  await ask('unsub a')
  await ask('unsub a')
  t.same([...socket.topics], ['b'])
  t.same(await app.websocketPublish('a', 'two'), { delivered: 0 }, 'nothing after unsubscribe')
  t.equal(app.websocketStats().topics.a, undefined, 'a topic without subscribers has no entry')
  t.same(frames, ['sub a ok', 'sub b ok', 'sub a ok', 'one', 'unsub a ok', 'unsub a ok'])
  await socket.unsubscribe('never-joined')

  client.close()
  await closeEvent(client)
  await until(() => app.websocketStats().open === 0, 'the server side to close')
  t.same([...socket.topics], [], 'the closed socket left its topics')
  t.same(app.websocketStats().topicTotals, { topics: 0, subscriptions: 0, publishes: 2, received: 0, deliveries: 1, drops: 0, publishFailures: 0, invalidRemoteMessages: 0 })
  t.same(await app.websocketPublish('b', 'gone'), { delivered: 0 })
  await socket.subscribe('c')
  t.same([...socket.topics], [], 'subscribing after the close changes nothing')
})

t.test('stats: per topic (subscribers, publishes, deliveries) and in total', async (t) => {
  const { app, url } = await topicApp()
  t.teardown(() => app.close())
  const clients = await Promise.all([
    subscriber(`${url}/topic/room%3A1,room%3A2`),
    subscriber(`${url}/topic/room%3A1`),
    subscriber(`${url}/topic/room%3A2`)
  ])
  for (let i = 0; i < 3; i++) await app.websocketPublish('room:1', `m${i}`)
  await app.websocketPublish('room:2', 'once')
  await until(() => clients[0]?.frames.length === 4, 'the frames')
  const stats = app.websocketStats()
  t.same(stats.topics, {
    'room:1': { subscribers: 2, publishes: 3, received: 0, deliveries: 6, drops: 0, publishFailures: 0 },
    'room:2': { subscribers: 2, publishes: 1, received: 0, deliveries: 2, drops: 0, publishFailures: 0 }
  })
  t.same(stats.topicTotals, { topics: 2, subscriptions: 4, publishes: 4, received: 0, deliveries: 8, drops: 0, publishFailures: 0, invalidRemoteMessages: 0 })
  t.equal(stats.routes['/topic/:names']?.messagesOut, 8 + 3, "deliveries are the route's messagesOut too (plus the 3 'ready')")
  for (const { client } of clients) client.close()
})

t.test('typed topics: checked once per publish, JSON-encoded, FST_UPGRADE_INVALID_PUBLISH sends nothing', async (t) => {
  const Room = Type.Object({ from: Type.String(), text: Type.String({ maxLength: 10 }) })
  const { app, url } = await topicApp({}, {}, (app) => {
    app.websocketTopic('room:*', Room)
      .websocketTopic('room:lobby', { type: 'object', required: ['pinned'] })
      .websocketTopic('label', Type.String())
      .websocketTopic('ticker:*:price', Type1.Object({ price: Type1.Number() }))
      .websocketTopic('bytes', Type.Uint8Array())
      .websocketTopic('strict', Type.Object({ a: Type.Number() }, { additionalProperties: false }))
  })
  t.teardown(() => app.close())
  const room = await subscriber(`${url}/topic/room%3A1,label,ticker%3AACME%3Aprice,bytes,room%3Alobby`)

  t.same(await app.websocketPublish('room:1', { from: 'ada', text: 'hi' }), { delivered: 1 })
  t.same(await room.next(), { text: '{"from":"ada","text":"hi"}', isBinary: false })
  await t.rejects(app.websocketPublish('room:1', { from: 'ada', text: 'far too long a text' }), {
    code: 'FST_UPGRADE_INVALID_PUBLISH',
    statusCode: 500,
    message: 'Refused to publish to topic "room:1": the message does not match the schema of \'room:*\': Expected string length less or equal to 10 at "/text"'
  })
  await t.rejects(app.websocketPublish('strict', { a: 1, extra: 1 }), { code: 'FST_UPGRADE_INVALID_PUBLISH', message: /unexpected property at ""/ })
  // Every pattern a name matches applies: 'room:lobby' is a 'room:*' too.
  await t.rejects(app.websocketPublish('room:lobby', { from: 'ada', text: 'hi' }), { message: /schema of 'room:lobby': must have required property at "\/pinned"/ })
  await t.rejects(app.websocketPublish('room:lobby', { pinned: true }), { message: /schema of 'room:\*'/ })
  await app.websocketPublish('room:lobby', { from: 'ada', text: 'hi', pinned: true })
  t.same(await room.next(), { text: '{"from":"ada","text":"hi","pinned":true}', isBinary: false })
  // As with schema.send, a typed topic's string is JSON.
  await app.websocketPublish('label', 'quoted')
  t.same(await room.next(), { text: '"quoted"', isBinary: false })
  await t.rejects(app.websocketPublish('label', 7), { code: 'FST_UPGRADE_INVALID_PUBLISH' })
  await app.websocketPublish('ticker:ACME:price', { price: 1.5 })
  t.same(await room.next(), { text: '{"price":1.5}', isBinary: false })
  await t.rejects(app.websocketPublish('ticker:ACME:price', { price: 'high' }), { message: /schema of 'ticker:\*:price': must be number at "\/price"/ })
  await app.websocketPublish('bytes', new Uint8Array([104, 105]))
  t.same(await room.next(), { text: 'hi', isBinary: true }, 'bytes a schema accepts are binary')
  await t.rejects(app.websocketPublish('bytes', 'text'), { code: 'FST_UPGRADE_INVALID_PUBLISH' })
  // A name that merely resembles a pattern is untyped: `*` is the only wildcard.
  await app.websocketPublish('room', 'untyped')
  await app.websocketPublish('ticker:ACME:volume', 'untyped')
  t.equal(room.frames.length, 5, 'nothing of the refused publishes was sent')
  t.equal(app.websocketStats().topicTotals.publishes, 7, 'refused publishes are not counted as publishes (5 sent, 2 untyped)')
  room.client.close()
})

t.test('websocketTopic: patterns and schemas are checked at declaration', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade, { maxTopicLength: 10 })
  t.teardown(() => app.close())
  app.websocketTopic('a.*(b)', Type.String())
  t.throws(() => app.websocketTopic('a.*(b)', Type.String()), { code: 'FST_UPGRADE_INVALID_OPTION', message: 'Invalid fastify-upgrade option "websocketTopic(\'a.*(b)\')": this pattern is declared already' })
  app.websocketTopic('exact', Type.String())
  t.throws(() => app.websocketTopic('exact', Type.String()), { message: /declared already/ })
  t.throws(() => app.websocketTopic('', Type.String()), { message: /non-empty string of at most 10 characters/ })
  t.throws(() => app.websocketTopic('x'.repeat(11), Type.String()), { message: /at most 10 characters/ })
  t.throws(() => app.websocketTopic(42 as unknown as string, Type.String()), { message: /websocketTopic\('42'\)/ })
  t.throws(() => app.websocketTopic('nothing', undefined as unknown as object), { message: /the schema must be a TypeBox \(0.34 or 1.x\) or JSON Schema object/ })
  t.throws(() => app.websocketTopic('bad', { type: 'nonsense' }), { code: 'FST_UPGRADE_INVALID_OPTION', message: /websocketTopic\('bad'\)": the schema does not compile/ })
  // Regular-expression characters in a pattern are literal.
  await app.websocketPublish('a.x(b)', 7).then(() => t.fail('should be checked'), (error: Error) => t.match(error.message, /schema of 'a.\*\(b\)'/))
  t.same(await app.websocketPublish('aXx(b)', 7), { delivered: 0 }, '"." is not a wildcard')
})

t.test('topic names and limits: FST_UPGRADE_INVALID_TOPIC, FST_UPGRADE_TOO_MANY_TOPICS, and messages that cannot be encoded', async (t) => {
  const results: string[] = []
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, async (socket) => {
      for (const topic of ['', 'x'.repeat(33), 1 as unknown as string, 'a', 'b', 'c', 'a', 'd']) {
        await socket.subscribe(topic).then(() => results.push(`ok ${String(topic).slice(0, 5)}`), (error: { code: string, statusCode: number, message: string }) => results.push(`${error.code} ${error.statusCode} ${error.message}`))
      }
      socket.sendRaw('done')
    })
  }, { maxTopicsPerSocket: 3, maxTopicLength: 32 })
  t.teardown(() => app.close())
  const client = await connect(`${url}/ws`)
  t.equal(await nextMessage(client), 'done')
  t.same(results, [
    'FST_UPGRADE_INVALID_TOPIC 400 Invalid topic name: a topic is a non-empty string',
    'FST_UPGRADE_INVALID_TOPIC 400 Invalid topic name: longer than 32 characters (maxTopicLength)',
    'FST_UPGRADE_INVALID_TOPIC 400 Invalid topic name: a topic is a non-empty string',
    'ok a', 'ok b', 'ok c', 'ok a',
    'FST_UPGRADE_TOO_MANY_TOPICS 400 A socket may subscribe to at most 3 topics'
  ])
  await t.rejects(app.websocketPublish('x'.repeat(33), 'text'), { code: 'FST_UPGRADE_INVALID_TOPIC' })
  await t.rejects(app.websocketPublish(undefined as unknown as string, 'text'), { code: 'FST_UPGRADE_INVALID_TOPIC' })
  await t.rejects(app.websocketPublish('a', undefined), { code: 'FST_UPGRADE_INVALID_PUBLISH', message: 'Refused to publish to topic "a": a message of type undefined cannot be JSON-encoded' })
  await t.rejects(app.websocketPublish('a', { big: 1n }), { code: 'FST_UPGRADE_INVALID_PUBLISH', message: /cannot be JSON-encoded: Do not know how to serialize a BigInt/ })
  client.close()
})

t.test('options: maxTopicsPerSocket, maxTopicLength and pubsub are checked at registration', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxTopicsPerSocket: 0 }, /"maxTopicsPerSocket": must be a positive integer/],
    [{ maxTopicsPerSocket: 1.5 }, /maxTopicsPerSocket/],
    [{ maxTopicLength: -1 }, /"maxTopicLength": must be a positive integer/],
    [{ pubsub: {} }, /"pubsub": must be a pub\/sub adapter .* missing: subscribe, unsubscribe, publish, close/],
    [{ pubsub: 'redis://localhost' }, /missing: subscribe, unsubscribe, publish, close/],
    [{ pubsub: null }, /missing: subscribe/],
    [{ pubsub: { subscribe () {}, unsubscribe () {}, publish () {}, close () {}, start: 1 } }, /"pubsub": must be a pub\/sub adapter .* optionally start$/],
    [{ maxTopicsPerSocke: 5 }, /did you mean maxTopicsPerSocket\?/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    void app.register(fastifyUpgrade, options)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION', message }, JSON.stringify(options))
  }
})

t.test('from anywhere: an HTTP route, a timer, an encapsulated plugin', async (t) => {
  const { app, url } = await topicApp({}, {}, (app) => {
    app.post('/rooms/:id/messages', async (request) => {
      const { id } = request.params as { id: string }
      return await app.websocketPublish(`room:${id}`, request.body)
    })
    app.register(async (child) => {
      child.get('/poke', async (request) => await request.server.websocketPublish('room:7', 'poked'))
    })
  })
  t.teardown(() => app.close())
  const room = await subscriber(`${url}/topic/room%3A7`)
  const response = await app.inject({ method: 'POST', url: '/rooms/7/messages', payload: { text: 'over HTTP' } })
  t.same(response.json(), { delivered: 1 })
  t.same(await room.next(), { text: '{"text":"over HTTP"}', isBinary: false })
  t.same((await app.inject('/poke')).json(), { delivered: 1 })
  t.same(await room.next(), { text: 'poked', isBinary: false })
  const timer = setTimeout(() => { void app.websocketPublish('room:7', 'from a timer') }, 1)
  t.teardown(() => clearTimeout(timer))
  t.same(await room.next(), { text: 'from a timer', isBinary: false })
  room.client.close()
})

t.test('a burst of publishes in one tick leaves each socket in one write', async (t) => {
  const { app, url, sockets } = await topicApp({ heartbeat: false })
  t.teardown(() => app.close())
  const clients = await Promise.all([subscriber(`${url}/topic/burst`), subscriber(`${url}/topic/burst`)])
  // The server side's TCP sockets, which ws writes through: count their writes.
  const counts = sockets.map((socket) => {
    const tcp = (socket as unknown as { _socket: { _writev: (...args: unknown[]) => void, _write: (...args: unknown[]) => void } })._socket
    const count = { writev: 0, write: 0 }
    const writev = tcp._writev.bind(tcp)
    const write = tcp._write.bind(tcp)
    tcp._writev = (...args) => { count.writev++; writev(...args) }
    tcp._write = (...args) => { count.write++; write(...args) }
    return count
  })
  for (let i = 0; i < 10; i++) void app.websocketPublish('burst', `message ${i}`)
  await until(() => clients.every(({ frames }) => frames.length === 10), 'the burst')
  t.same(clients[0]?.frames.map((frame) => frame.text), Array.from({ length: 10 }, (_, i) => `message ${i}`), 'in order')
  t.same(counts, [{ writev: 1, write: 0 }, { writev: 1, write: 0 }], 'one writev per socket for ten frames')
  // And the next tick's publish is written on its own.
  await app.websocketPublish('burst', 'later')
  await until(() => clients.every(({ frames }) => frames.length === 11), 'the next frame')
  t.same(counts, [{ writev: 1, write: 1 }, { writev: 1, write: 1 }], 'one frame, built once: one write')
  for (const { client } of clients) client.close()
})

// ---------------------------------------------------------------------------------------
// A fake adapter: an in-memory broker shared by two apps of this process.
// ---------------------------------------------------------------------------------------

class Broker {
  readonly channels = new Map<string, Set<(message: Buffer) => void>>()
  deliver (topic: string, message: Buffer): void {
    for (const handler of this.channels.get(topic) ?? []) setImmediate(handler, message)
  }
}

interface FakeAdapter extends PubSubAdapter {
  calls: string[]
  handlers: Map<string, (message: Buffer) => void>
  failPublish: boolean
  confirm: () => void
  holdSubscribes: boolean
}

function fakeAdapter (broker: Broker): FakeAdapter {
  const handlers = new Map<string, (message: Buffer) => void>()
  let held: Array<() => void> = []
  const adapter: FakeAdapter = {
    calls: [],
    handlers,
    failPublish: false,
    holdSubscribes: false,
    confirm: () => { const confirm = held; held = []; for (const resolve of confirm) resolve() },
    start (log) { adapter.calls.push(`start ${typeof log.info}`) },
    async subscribe (topic, onMessage) {
      adapter.calls.push(`subscribe ${topic}`)
      handlers.set(topic, onMessage)
      let set = broker.channels.get(topic)
      if (set === undefined) broker.channels.set(topic, set = new Set())
      set.add(onMessage)
      if (adapter.holdSubscribes) await new Promise<void>((resolve) => { held.push(resolve) })
    },
    async unsubscribe (topic) {
      adapter.calls.push(`unsubscribe ${topic}`)
      const handler = handlers.get(topic)
      if (handler !== undefined) broker.channels.get(topic)?.delete(handler)
      handlers.delete(topic)
      if (topic === 'fails-to-leave') throw new Error('broker gone')
    },
    async publish (topic, message) {
      if (adapter.failPublish) throw new Error('broker unreachable')
      broker.deliver(topic, message)
    },
    async close () { adapter.calls.push('close') }
  }
  return adapter
}

t.test('through an adapter: other servers get each publish once, the publisher not twice, the excepted socket never', async (t) => {
  const broker = new Broker()
  const adapterA = fakeAdapter(broker)
  const adapterB = fakeAdapter(broker)
  const logs = captureLogs('debug')
  const a = await topicApp({ pubsub: adapterA }, { logger: logs.logger })
  const b = await topicApp({ pubsub: adapterB })
  t.teardown(async () => { await a.app.close(); await b.app.close() })
  t.same(adapterA.calls, ['start function'], 'started with the logger at registration')

  const onA = await subscriber(`${a.url}/topic/chat`)
  const onA2 = await subscriber(`${a.url}/topic/chat`)
  const onB = await subscriber(`${b.url}/topic/chat`)
  t.same(adapterA.calls, ['start function', 'subscribe chat'], 'one broker subscription for two local subscribers')

  t.same(await a.app.websocketPublish('chat', { n: 1 }, { except: a.sockets[0] }), { delivered: 1 }, 'delivered counts this server only')
  t.same(await onB.next(), { text: '{"n":1}', isBinary: false })
  t.same(await onA2.next(), { text: '{"n":1}', isBinary: false })
  await b.app.websocketPublish('chat', Buffer.from('bytes'))
  t.same(await onA.next(), { text: 'bytes', isBinary: true }, 'binary stays binary across servers')
  t.same(await onA2.next(), { text: 'bytes', isBinary: true })
  t.same(await onB.next(), { text: 'bytes', isBinary: true })
  // The broker echoed A's own publish back to A: dropped there (delivered at publish time).
  await until(() => a.app.websocketStats().topics.chat?.received === 1, "A's count of messages from B")
  t.equal(onA.frames.length, 1, 'the excepted socket got only B\'s message')
  t.equal(onA2.frames.length, 2, 'no duplicate on the publishing server')
  t.same(a.app.websocketStats().topics.chat, { subscribers: 2, publishes: 1, received: 1, deliveries: 3, drops: 0, publishFailures: 0 })

  // Something else on the channel: not an envelope, counted and dropped.
  for (const handler of broker.channels.get('chat') ?? []) handler(Buffer.from('garbage from elsewhere'))
  for (const handler of broker.channels.get('chat') ?? []) handler(Buffer.from([9, 0, ...new Array(20).fill(1)]))
  t.equal(a.app.websocketStats().topicTotals.invalidRemoteMessages, 2)
  t.ok(logs.lines.some((line: LogLine) => line.msg.includes('not a fastify-upgrade envelope') && line.topic === 'chat'), 'logged at debug')

  // The last local subscriber leaves: the broker subscription ends; a message still in
  // flight for it is dropped quietly.
  const handlerOfA = adapterA.handlers.get('chat') as (message: Buffer) => void
  onA.client.close()
  onA2.client.close()
  await until(() => adapterA.calls.includes('unsubscribe chat'), 'unsubscribe')
  const receivedBefore = a.app.websocketStats().topicTotals.received
  handlerOfA(encodeEnvelope(randomBytes(16), Buffer.from('late'), false))
  t.equal(a.app.websocketStats().topicTotals.received, receivedBefore, 'a message an adapter delivers after the unsubscribe is dropped')
  await b.app.websocketPublish('chat', 'after A left')
  t.same(await onB.next(), { text: 'after A left', isBinary: false })
  onB.client.close()
})

t.test('through an adapter: a refused publish is delivered locally, counted and logged once per outage', async (t) => {
  const broker = new Broker()
  const adapter = fakeAdapter(broker)
  const logs = captureLogs('debug')
  const { app, url } = await topicApp({ pubsub: adapter }, { logger: logs.logger })
  const local = await subscriber(`${url}/topic/t`)
  adapter.failPublish = true
  t.same(await app.websocketPublish('t', 'one'), { delivered: 1 }, 'resolves: delivered here')
  t.same(await app.websocketPublish('t', 'two'), { delivered: 1 })
  t.same(await app.websocketPublish('elsewhere', 'three'), { delivered: 0 })
  t.same(await local.next(), { text: 'one', isBinary: false })
  t.same(await local.next(), { text: 'two', isBinary: false })
  const stats = app.websocketStats()
  t.equal(stats.topics.t?.publishFailures, 2)
  t.equal(stats.topicTotals.publishFailures, 3)
  const failures = logs.lines.filter((line) => line.msg.startsWith('websocket pub/sub: publish did not reach the broker'))
  t.same(failures.map((line) => line.level), [40, 20, 20], 'one warning, then debug lines')
  t.equal(failures[0]?.err?.message, 'broker unreachable')
  adapter.failPublish = false
  await app.websocketPublish('t', 'back')
  await app.websocketPublish('t', 'again')
  const recovered = logs.lines.filter((line) => line.msg === 'websocket pub/sub: publishing to the broker works again')
  t.equal(recovered.length, 1, 'the recovery is logged once')
  t.equal(recovered[0]?.failed, 3)
  local.client.close()
  await app.close()
  t.same(adapter.calls.slice(-2), ['unsubscribe t', 'close'], 'app.close(): the sockets leave, then the adapter closes')
  t.same(await app.websocketPublish('t', 'after close'), { delivered: 0 }, 'a publish after close (a late timer) resolves quietly')
  t.same(adapter.calls.slice(-1), ['close'], 'and does not reach the adapter')
})

t.test('through an adapter: subscribe resolves when the broker confirms; subscribe, unsubscribe, subscribe keep their order', async (t) => {
  const broker = new Broker()
  const adapter = fakeAdapter(broker)
  let server: WebSocketConnection | undefined
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => { server = socket; socket.on('message', () => {}) })
  }, { pubsub: adapter })
  t.teardown(() => app.close())
  const client = await connect(`${url}/ws`)
  const socket = server as WebSocketConnection
  adapter.holdSubscribes = true
  let confirmed = false
  const subscribing = socket.subscribe('slow').then(() => { confirmed = true })
  t.same([...socket.topics], ['slow'], 'subscribed here at once')
  t.same(await app.websocketPublish('slow', 'local'), { delivered: 1 }, 'local publishes reach it before the broker confirms')
  const again = socket.subscribe('slow')
  await delay(20)
  t.notOk(confirmed, 'still waiting for the broker')
  adapter.confirm()
  await within(Promise.all([subscribing, again]), 1000, 'the confirmation')
  t.ok(confirmed)
  adapter.holdSubscribes = false
  await socket.unsubscribe('slow')
  await socket.subscribe('slow')
  t.same(adapter.calls.filter((call) => call.endsWith('slow')), ['subscribe slow', 'unsubscribe slow', 'subscribe slow'])
  // A broker that fails an unsubscribe: logged, never thrown.
  await socket.subscribe('fails-to-leave')
  await socket.unsubscribe('fails-to-leave')
  t.same([...socket.topics], ['slow'])
  client.close()
})

t.test('in-process by default: no adapter, subscribe resolves at once', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  await app.ready()
  const client = await app.injectWS('/missing').catch((error: { statusCode: number }) => error)
  t.equal((client as { statusCode: number }).statusCode, 404)
  t.same(app.websocketStats().topicTotals, { topics: 0, subscriptions: 0, publishes: 0, received: 0, deliveries: 0, drops: 0, publishFailures: 0, invalidRemoteMessages: 0 })
  await app.close()
  t.same(await app.websocketPublish('x', 'after close'), { delivered: 0 })
})
