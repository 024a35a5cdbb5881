// A slow subscriber among fast ones: each subscriber's own backpressure policy applies to
// topic frames (its route's maxBackpressure and backpressurePolicy), the server's memory
// for it stays bounded by that limit, refusals are counted per topic, and the other
// subscribers get everything.
import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { WebSocket, type RawData } from 'ws'
import type { AnyWebSocketConnection } from '../lib/index.js'
import { closeEvent, listen, until, within } from './helpers.js'

const limit = 256 * 1024
const chunk = Buffer.alloc(64 * 1024, 7)

/** A ws client that stops reading once subscribed: its TCP socket is paused. */
async function stalled (url: string): Promise<{ client: WebSocket, resume: () => void }> {
  const client = new WebSocket(url)
  await within(new Promise((resolve, reject) => { client.once('message', resolve); client.once('error', reject) }), 3000, 'ready')
  const tcp = (client as unknown as { _socket: { pause: () => void, resume: () => void } })._socket
  tcp.pause()
  return { client, resume: () => { tcp.resume() } }
}

for (const policy of ['close', 'drop'] as const) {
  t.test(`a subscriber that stops reading, backpressurePolicy '${policy}': bounded, counted per topic, the others get everything`, async (t) => {
    const slowSockets: AnyWebSocketConnection[] = []
    const { app, url } = await listen((app) => {
      app.get('/slow', { websocket: { maxBackpressure: limit, backpressurePolicy: policy } }, async (socket) => {
        slowSockets.push(socket)
        await socket.subscribe('firehose')
        socket.sendRaw('ready')
      })
      // Another route, another policy: room for everything this test publishes.
      app.get('/fast', { websocket: { maxBackpressure: 128 * 1024 * 1024 } }, async (socket) => {
        await socket.subscribe('firehose')
        socket.sendRaw('ready')
      })
    }, { heartbeat: false, closeTimeout: 500 })
    t.teardown(() => app.close())
    const slow = await stalled(`${url}/slow`)
    const fast = new WebSocket(`${url}/fast`)
    let fastFrames = 0
    fast.on('message', (_data: RawData, isBinary: boolean) => { if (isBinary) fastFrames++ })
    await within(new Promise((resolve) => fast.once('message', resolve)), 3000, 'the fast subscriber')

    const slowSocket = slowSockets[0] as AnyWebSocketConnection
    let published = 0
    let deliveredToAll = 0
    let maxBuffered = 0
    // At most 1,024 × 64 KiB (64 MiB) offered, far beyond what loopback buffers hold; the
    // loop ends once the slow subscriber has been refused 20 frames ('drop') or is closing.
    while (published < 1024) {
      const { delivered } = await app.websocketPublish('firehose', chunk)
      published++
      if (delivered === 2) deliveredToAll++
      maxBuffered = Math.max(maxBuffered, slowSocket.bufferedAmount)
      const drops = app.websocketStats().topics.firehose?.drops ?? 0
      if (policy === 'drop' ? drops >= 20 : slowSocket.readyState !== WebSocket.OPEN) break
      await nextTurn()
    }
    const closing = policy === 'close' ? closeEvent(slow.client) : undefined
    if (policy === 'close') slow.resume() // it reads its backlog, then the close frame
    const stats = app.websocketStats()
    const topic = stats.topics.firehose
    t.ok(maxBuffered <= limit + chunk.length, `the slow socket's bufferedAmount peaked at ${maxBuffered} bytes (limit ${limit} + one ${chunk.length}-byte frame)`)
    t.ok((topic?.drops ?? 0) > 0, `${topic?.drops ?? 0} frames refused, counted for the topic`)
    t.equal(topic?.drops, stats.routes['/slow']?.droppedMessages, "the same refusals in the slow route's droppedMessages")
    t.equal(stats.routes['/fast']?.droppedMessages, 0, 'none refused to the fast route')
    t.equal(topic?.publishes, published)
    t.equal(topic?.deliveries, deliveredToAll + published, 'deliveries: every publish to the fast one, those before the limit to the slow one')
    await until(() => fastFrames === published, 'the fast subscriber to get every frame')
    if (policy === 'close') {
      t.equal((await closing)?.code, 1008, "'close': the slow subscriber gets 1008 once it reads again")
      await until(() => app.websocketStats().topics.firehose?.subscribers === 1, 'the closed subscriber to leave the topic')
    } else {
      t.equal(slowSocket.readyState, WebSocket.OPEN, "'drop': the slow subscriber stays, subscribed")
      t.equal(topic?.subscribers, 2)
      slow.client.terminate()
    }
    t.comment(`${policy}: ${published} publishes of 64 KiB, ${deliveredToAll} reached both before the limit`)
    fast.close()
  })
}
