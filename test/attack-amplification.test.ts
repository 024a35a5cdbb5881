// Contract point 3: messages that arrive before the handler listens are held, up to
// `maxHeldBytes` DECODED bytes (default: the route's maxPayload, 1 MiB). With
// permessage-deflate a ~1 KB frame inflates to 1 MB, so without that limit a few KB on
// the wire pin hundreds of MB in the server. Over the limit: 1008 'held messages limit
// exceeded', the rest dropped and counted. Within it: every message delivered, in order.
import t from 'tap'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import { WebSocket, type ClientOptions } from 'ws'
import { closeEvent, connect, listen, messages, runFixture, waitFor } from './helpers.js'

const MiB = 1024 * 1024

interface Memory { used: number, heapUsed: number, external: number, arrayBuffers: number, rss: number }
interface HeldDeflateResult {
  clients: number
  messages: number
  size: number
  frameBytes: number
  closes: Array<{ code: number, reason: string } | null>
  baseline: Memory
  after: Memory
  growth: number
  rssGrowth: number
  stats: { open: number, messagesIn: number, droppedMessages: number } | undefined
  echo: string | null
  problems: string[]
}

/** A ws client whose TCP socket the test holds, so it can send many frames in one write. */
async function corkableClient (url: string, port: number, options: ClientOptions = {}): Promise<{ client: WebSocket, tcp: net.Socket }> {
  let tcp: net.Socket | undefined
  const client = await connect(url, [], { ...options, createConnection: () => { tcp = net.connect(port, '127.0.0.1'); return tcp } })
  if (tcp === undefined) throw new Error('the client did not use createConnection')
  return { client, tcp }
}

/**
 * Sends the messages in one TCP write (the socket is corked until ws has framed, and
 * compressed, every one; `framed` tells when), then waits until the server has read every
 * byte the client wrote.
 */
async function sendInOneWrite (app: FastifyInstance, client: WebSocket, tcp: net.Socket, texts: string[], framed: () => boolean): Promise<void> {
  tcp.cork()
  for (const text of texts) client.send(text)
  await waitFor(framed, 3000, 'every message to be framed')
  tcp.uncork()
  await waitFor(() => tcp.writableLength === 0, 3000, 'the write')
  await waitFor(() => app.websocketStats().bytesIn >= tcp.bytesWritten, 3000, 'the server to read everything')
}

t.test('20 clients sending ~1 KB deflated frames that inflate to 1 MB each are closed with 1008; memory stays bounded', async (t) => {
  const clients = 20
  const perClient = 30
  // Server and clients run in a child with --expose-gc, so memory is measured after GC.
  const { code, output } = await runFixture('held-deflate.ts', [String(clients), String(perClient), '1000000'], ['--expose-gc'], 30_000)
  t.equal(code, 0, code === 0 ? 'the fixture exited normally' : `the fixture exited normally\n${output}`)
  let result: HeldDeflateResult
  try {
    result = JSON.parse(output.trim().split('\n').at(-1) as string) as HeldDeflateResult
  } catch {
    t.fail(`the fixture printed no result line:\n${output}`)
    return
  }
  const mb = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`
  t.comment(`each frame: ${result.frameBytes.toFixed(0)} bytes on the wire for ${result.size} bytes of text; ` +
    `memory growth after GC: ${mb(result.growth)} (heapUsed ${mb(result.after.heapUsed - result.baseline.heapUsed)}, ` +
    `external ${mb(result.after.external - result.baseline.external)}, arrayBuffers ${mb(result.after.arrayBuffers - result.baseline.arrayBuffers)}), ` +
    `RSS ${mb(result.rssGrowth)}; held route stats ${JSON.stringify(result.stats)}`)
  t.ok(result.frameBytes < 2048, `the attack's premise: a 1 MB message is a ~1 KB frame (${result.frameBytes.toFixed(0)} bytes)`)
  t.same(result.problems, [], 'every step happened in time')
  t.same(result.closes, Array(clients).fill({ code: 1008, reason: 'held messages limit exceeded' }),
    'every client is closed with 1008 \'held messages limit exceeded\'')
  const bound = clients * MiB + 32 * MiB
  t.ok(result.growth < bound,
    `heapUsed + external growth after GC ${mb(result.growth)} (${result.growth} bytes) must stay under ` +
    `N x maxHeldBytes + 32 MiB = ${clients} x 1 MiB + 32 MiB = ${mb(bound)} ` +
    `(${clients * perClient} messages of ${result.size} bytes were sent)`)
  t.equal(result.echo, 'still serving', 'the server still serves a new connection afterwards')
})

t.test('messages within maxHeldBytes are all delivered, in order, once the handler listens', async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app, port, url } = await listen((app) => {
    app.get('/held', { websocket: { perMessageDeflate: true, heartbeat: false } }, async (socket) => {
      await gate
      socket.on('message', (data) => { socket.send(data.toString()) })
    })
  })
  t.teardown(async () => { release(); await app.close() })
  const { client, tcp } = await corkableClient(`${url}/held`, port, { perMessageDeflate: true })
  // 50 distinct messages of 4 KiB (200 KiB, well within the default 1 MiB), all read by
  // the server before the handler listens. Compressed they are a few dozen bytes each:
  // while one waits to be compressed, at least 4 KiB are buffered.
  const sent = Array.from({ length: 50 }, (_unused, i) => `${i}:`.padEnd(4096, String.fromCharCode(97 + (i % 26))))
  await sendInOneWrite(app, client, tcp, sent, () => client.bufferedAmount < 4096)
  release()
  t.same(await messages(client, 50), sent, 'all 50 held messages echoed, in order')
  t.equal(client.readyState, WebSocket.OPEN, 'the connection stays open')
  t.equal(app.websocketStats().routes['/held']?.droppedMessages, 0, 'nothing dropped')
  client.close()
  await closeEvent(client)
})

t.test('maxHeldBytes per route: more than 4096 held bytes close with 1008, and the dropped messages are counted', async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app, port, url } = await listen((app) => {
    app.get('/small', { websocket: { maxHeldBytes: 4096, heartbeat: false } }, async (socket) => {
      await gate
      socket.on('message', () => {})
    })
  })
  t.teardown(async () => { release(); await app.close() })
  const { client, tcp } = await corkableClient(`${url}/small`, port)
  const closed = closeEvent(client)
  // 8 x 1 KiB in one write: the fifth takes the held bytes to 5120 > 4096.
  tcp.cork()
  for (let i = 0; i < 8; i++) client.send('x'.repeat(1024))
  tcp.uncork()
  t.same(await closed, { code: 1008, reason: 'held messages limit exceeded' }, 'closed with 1008 \'held messages limit exceeded\'')
  await waitFor(() => (app.websocketStats().routes['/small']?.droppedMessages ?? 0) >= 1, 3000, 'the dropped messages to be counted')
  const dropped = app.websocketStats().routes['/small']?.droppedMessages ?? 0
  t.ok(dropped >= 1, `droppedMessages counts the messages over the limit (${dropped})`)
})
