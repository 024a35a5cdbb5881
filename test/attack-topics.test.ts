// Hostile clients against topics, on a real listening server: a client that names the
// topics it joins (the common "subscribe to what the client asks" route) and asks for
// thousands, or for names of a megabyte; subscribe/unsubscribe churn; a flood of
// messages each of which the route publishes to every other subscriber.
import t from 'tap'
import { WebSocket, type RawData } from 'ws'
import type { FastifyInstance } from 'fastify'
import { listen, until, within } from './helpers.js'

/** A route that does what the client asks: `sub <topic>`, `unsub <topic>`, `say <text>` (published to its topics, except itself). */
async function obligingApp (options: Parameters<typeof listen>[1] = {}): Promise<{ app: FastifyInstance, url: string }> {
  return await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => {
      socket.on('message', (data) => {
        const text = data.toString()
        const space = text.indexOf(' ')
        const [command, argument] = [text.slice(0, space), text.slice(space + 1)]
        if (command === 'say') {
          for (const topic of socket.topics) void app.websocketPublish(topic, argument, { except: socket })
          return
        }
        const done = command === 'sub' ? socket.subscribe(argument) : socket.unsubscribe(argument)
        done.then(() => socket.sendRaw(`ok ${command}`), (error: { code: string }) => socket.sendRaw(`refused ${error.code}`))
      })
    })
  }, options)
}

async function open (url: string): Promise<{ client: WebSocket, frames: string[] }> {
  const client = new WebSocket(`${url}/ws`)
  const frames: string[] = []
  client.on('message', (data: RawData) => { frames.push((data as Buffer).toString()) })
  await within(new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject) }), 3000, 'open')
  return { client, frames }
}

t.test('20 clients asking for 500 topics each get 100 (maxTopicsPerSocket), then FST_UPGRADE_TOO_MANY_TOPICS; all are left when they go', async (t) => {
  const { app, url } = await obligingApp()
  t.teardown(() => app.close())
  const clients = await Promise.all(Array.from({ length: 20 }, async () => await open(url)))
  for (const [index, { client }] of clients.entries()) {
    for (let i = 0; i < 500; i++) client.send(`sub c${index}-t${i}`)
  }
  await until(() => clients.every(({ frames }) => frames.length === 500), 'every answer', 15_000)
  for (const { frames } of clients) {
    t.equal(frames.filter((frame) => frame === 'ok sub').length, 100)
    t.equal(frames.filter((frame) => frame === 'refused FST_UPGRADE_TOO_MANY_TOPICS').length, 400)
  }
  const totals = app.websocketStats().topicTotals
  t.equal(totals.topics, 2000, '20 clients × 100 topics: what the server holds is bounded by the limit')
  t.equal(totals.subscriptions, 2000)
  for (const { client } of clients) client.close()
  await until(() => app.websocketStats().topicTotals.topics === 0, 'every topic to be left')
  t.pass('no topic left behind')
})

t.test('topic names of a megabyte are refused (FST_UPGRADE_INVALID_TOPIC) before anything is stored', async (t) => {
  const { app, url } = await obligingApp({ maxPayload: 2 * 1024 * 1024 })
  t.teardown(() => app.close())
  const { client, frames } = await open(url)
  client.send(`sub ${'x'.repeat(1024 * 1024)}`)
  client.send(`sub ${'y'.repeat(257)}`)
  client.send(`sub ${'z'.repeat(256)}`)
  await until(() => frames.length === 3, 'the answers')
  t.same(frames, ['refused FST_UPGRADE_INVALID_TOPIC', 'refused FST_UPGRADE_INVALID_TOPIC', 'ok sub'])
  t.same(Object.keys(app.websocketStats().topics).map((name) => name.length), [256])
  client.close()
})

t.test('subscribe/unsubscribe churn: 20,000 alternating requests leave the registry exact', async (t) => {
  const { app, url } = await obligingApp()
  t.teardown(() => app.close())
  const { client, frames } = await open(url)
  for (let i = 0; i < 10_000; i++) {
    client.send('sub churn')
    client.send('unsub churn')
  }
  client.send('sub churn')
  await until(() => frames.length === 20_001, 'every answer', 20_000)
  t.same(app.websocketStats().topicTotals, { topics: 1, subscriptions: 1, publishes: 0, received: 0, deliveries: 0, drops: 0, publishFailures: 0, invalidRemoteMessages: 0 })
  client.close()
})

t.test('a publish flood through a route: every other subscriber gets every message, a stalled one is cut off at its limit', async (t) => {
  const { app, url } = await obligingApp({ maxBackpressure: 64 * 1024 })
  t.teardown(() => app.close())
  const listeners = await Promise.all(Array.from({ length: 10 }, async () => await open(url)))
  const flooder = await open(url)
  const stalled = await open(url)
  for (const { client } of [...listeners, flooder, stalled]) client.send('sub room')
  await until(() => [...listeners, flooder, stalled].every(({ frames }) => frames.includes('ok sub')), 'the subscriptions')
  ;(stalled.client as unknown as { _socket: { pause: () => void } })._socket.pause()
  // Listened to now (its close cannot be missed), awaited with a deadline once it reads again:
  // the flood below may take longer than closeEvent's own deadline on a loaded machine.
  const stalledClosed = new Promise<number>((resolve) => { stalled.client.once('close', resolve) })
  const message = 'm'.repeat(1000)
  for (let i = 0; i < 5000; i++) flooder.client.send(`say ${message}`)
  await until(() => listeners.every(({ frames }) => frames.length === 5001), 'every listener to get the 5,000 messages', 30_000)
  const stats = app.websocketStats()
  t.equal(stats.topics.room?.publishes, 5000)
  t.ok((stats.topics.room?.drops ?? 0) >= 1, `the stalled subscriber was refused ${stats.topics.room?.drops ?? 0} frames`)
  t.equal(flooder.frames.length, 1, 'the flooder got none of its own messages (except)')
  ;(stalled.client as unknown as { _socket: { resume: () => void } })._socket.resume()
  t.equal(await within(stalledClosed, 5000, 'the stalled subscriber\'s close'), 1008, 'the stalled subscriber: 1008 backpressure limit exceeded')
  for (const { client } of [...listeners, flooder]) client.close()
})
