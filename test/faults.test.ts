// Fault tests: churn, failing listeners under load, clients that vanish at awkward
// moments, and shutdown with many connections. Loopback only, bounded in count and time.
import t from 'tap'
import net from 'node:net'
import { WebSocket } from 'ws'
import { closeEvent, connect, handshake, listen, nextMessage, openConnections, runFixture, waitFor, within } from './helpers.js'

// A close timeout no test outlives (setTimeout's longest): an app.close() that resolves did
// so because every connection closed, never because the timeout passed.
const unreachable = 2 ** 31 - 1

t.test('up to 20,000 connect/disconnect cycles (at least 5,000) leave the heap within 5 % of its baseline and no socket open', async (t) => {
  // --expose-gc for the heap measurement. The child stops churning 20 s after it started and
  // is killed at 40 s, well within tap's 60 s per-file timeout: a hang fails here, with the
  // child's output, and the rest of this file takes a few seconds.
  const { code, output } = await runFixture('churn.ts', ['20000', '20'], ['--expose-gc'], 40_000)
  t.equal(code, 0, output)
  const result = JSON.parse(output.trim().split('\n').at(-1) as string) as { cycles: number, seconds: number, baseline: number, after: number, openSockets: number, open: number, closes: Record<string, number> }
  t.ok(result.cycles >= 5000, `${result.cycles} cycles in ${result.seconds} s`)
  t.equal(result.openSockets, 0, 'no TCP socket left on the server')
  t.equal(result.open, 0, 'no WebSocket connection left')
  t.equal(result.closes['1005'], 2000 + result.cycles, 'every connection closed (2,000 warm-up and the cycles)')
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
    const readBefore = app.websocketStats().bytesIn
    // A masked text frame announcing 100 bytes, of which only 10 are sent.
    const header = Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4])
    socket.write(Buffer.concat([header, Buffer.alloc(10)]))
    // Disconnect once the server has read the partial frame.
    await waitFor(() => app.websocketStats().bytesIn >= readBefore + 16, 2000, 'the server to read the partial frame')
    if (i % 2 === 0) socket.destroy()
    else socket.resetAndDestroy()
  }
  await waitFor(async () => await openConnections(app) === 0, 3000, 'every socket to close')
  t.equal(messages, 0, 'no partial message was delivered')
  t.equal(app.websocketStats().open, 0)
  const client = await connect(`${url}/ws`)
  client.close()
})

t.test('clients that disconnect during server close do not stall it: they count as closed', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { closeTimeout: unreachable })
  const clients = await Promise.all(Array.from({ length: 50 }, async () => await connect(`${url}/ws`)))
  t.teardown(() => { for (const client of clients) client.terminate() })
  const closes = clients.map(async (client) => await closeEvent(client))
  // Half of them vanish without a closing handshake while the server is closing.
  const closing = app.close()
  for (const [i, client] of clients.entries()) if (i % 2 === 0) client.terminate()
  await within(closing, 5000, 'app.close(), which only the connections\' ends can resolve')
  const codes = await Promise.all(closes.map(async (close) => (await close).code))
  t.same(codes.filter((_code, i) => i % 2 === 1), Array(25).fill(1001), 'the others completed the closing handshake')
})

t.test('1,000 open connections at app.close(): all get 1001, and close() resolves as their closing handshakes complete', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => { socket.on('message', () => {}) })
  }, { closeTimeout: unreachable })
  const clients: WebSocket[] = []
  for (let i = 0; i < 1000; i += 100) {
    clients.push(...await Promise.all(Array.from({ length: 100 }, async () => await connect(`${url}/ws`))))
  }
  t.equal(app.websocketStats().open, 1000)
  t.teardown(() => { for (const client of clients) client.terminate() })
  const closes = clients.map(async (client) => await closeEvent(client))
  await within(app.close(), 10_000, 'app.close(), which only the connections\' ends can resolve')
  const results = await Promise.all(closes)
  t.equal(results.filter((result) => result.code === 1001).length, 1000, 'all 1,000 saw 1001')
})
