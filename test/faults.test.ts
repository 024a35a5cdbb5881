// Fault tests: churn, failing listeners under load, clients that vanish at awkward
// moments, and shutdown with many connections. Loopback only, bounded in count and time.
import t from 'tap'
import net from 'node:net'
import { WebSocket } from 'ws'
import { closeEvent, connect, delay, handshake, listen, nextMessage, openConnections, runFixture, within } from './helpers.js'

async function noSocketsLeft (app: import('fastify').FastifyInstance): Promise<void> {
  await within((async () => { while (await openConnections(app) > 0) await delay(20) })(), 3000, 'every socket to close')
}

t.test('20,000 connect/disconnect cycles leave the heap within 5 % of its baseline and no socket open', async (t) => {
  // --expose-gc for the heap measurement.
  // Within tap's 60 s per-file timeout, so a hang fails here with the child's output, not as a file timeout.
  const { code, output } = await runFixture('churn.ts', ['20000'], ['--expose-gc'], 50_000)
  t.equal(code, 0, output)
  const result = JSON.parse(output.trim().split('\n').at(-1) as string) as { cycles: number, seconds: number, baseline: number, after: number, openSockets: number, open: number, closes: Record<string, number> }
  t.equal(result.openSockets, 0, 'no TCP socket left on the server')
  t.equal(result.open, 0, 'no WebSocket connection left')
  t.equal(result.closes['1005'], 22000, 'every connection closed (2,000 warm-up + 20,000)')
  const ratio = result.after / result.baseline
  t.ok(ratio <= 1.05, `heap after GC: ${result.after} bytes vs baseline ${result.baseline} (x${ratio.toFixed(3)})`)
  t.comment(`churn: ${result.cycles} cycles in ${result.seconds} s; heap baseline ${result.baseline} B, after ${result.after} B (x${ratio.toFixed(3)})`)
})

t.test('a listener that throws on every message closes only its connection (1011); 100 others keep echoing', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/bad', { websocket: true }, (socket) => { socket.on('message', () => { throw new Error('always') }) })
    app.get('/echo', { websocket: true }, (socket) => { socket.on('message', (data) => { socket.send(data.toString()) }) })
  }, {}, { logger: false })
  t.teardown(() => app.close())
  const echoes = await Promise.all(Array.from({ length: 100 }, async () => await connect(`${url}/echo`)))
  const bad = await Promise.all(Array.from({ length: 10 }, async () => await connect(`${url}/bad`)))
  for (const client of bad) client.send('boom')
  const codes = await Promise.all(bad.map(async (client) => (await closeEvent(client)).code))
  t.same(codes, Array(10).fill(1011))
  for (let round = 0; round < 3; round++) {
    const replies = await Promise.all(echoes.map(async (client, i) => {
      client.send(`${round}:${i}`)
      return await nextMessage(client)
    }))
    t.same(replies, echoes.map((_client, i) => `${round}:${i}`), `round ${round}: all 100 echo`)
  }
  for (const client of echoes) client.close()
})

t.test('a client that disconnects in the middle of a message leaves nothing behind', async (t) => {
  let messages = 0
  const { app, port, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => { socket.on('message', () => { messages++ }) })
  })
  t.teardown(() => app.close())
  for (let i = 0; i < 20; i++) {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(handshake('/ws')) })
    await within(new Promise<void>((resolve) => socket.once('data', () => { resolve() })), 2000, '101')
    // A masked text frame announcing 100 bytes, of which only 10 are sent.
    const header = Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4])
    socket.write(Buffer.concat([header, Buffer.alloc(10)]))
    await delay(5)
    if (i % 2 === 0) socket.destroy()
    else socket.resetAndDestroy()
  }
  await noSocketsLeft(app)
  t.equal(messages, 0, 'no partial message was delivered')
  t.equal(app.websocketStats().open, 0)
  const client = await connect(`${url}/ws`)
  client.close()
})

t.test('clients that disconnect during server close do not stall it', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { closeTimeout: 2000 })
  const clients = await Promise.all(Array.from({ length: 50 }, async () => await connect(`${url}/ws`)))
  // Half of them vanish without a closing handshake while the server is closing.
  const closing = app.close()
  for (const [i, client] of clients.entries()) if (i % 2 === 0) client.terminate()
  const started = Date.now()
  await within(closing, 3000, 'app.close()')
  t.ok(Date.now() - started < 1500, 'close() did not wait for the timeout: vanished clients count as closed')
})

t.test('1,000 open connections at app.close(): all get 1001 and close() resolves within the drain timeout', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => { socket.on('message', () => {}) })
  }, { closeTimeout: 3000 })
  const clients: WebSocket[] = []
  for (let i = 0; i < 1000; i += 100) {
    clients.push(...await Promise.all(Array.from({ length: 100 }, async () => await connect(`${url}/ws`))))
  }
  t.equal(app.websocketStats().open, 1000)
  const closes = clients.map(async (client) => await closeEvent(client))
  const started = Date.now()
  await within(app.close(), 5000, 'app.close()')
  const elapsed = Date.now() - started
  const results = await Promise.all(closes)
  t.equal(results.filter((result) => result.code === 1001).length, 1000, 'all 1,000 saw 1001')
  t.ok(elapsed < 3000, `close() resolved in ${elapsed} ms (drain timeout 3000 ms)`)
})
