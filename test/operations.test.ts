// Operations: heartbeat, idle timeout, backpressure, limits, rate limiting, stats and
// their logs, each observed over real sockets.
import t from 'tap'
import net from 'node:net'
import { WebSocket, type ClientOptions } from 'ws'
import { CloseCode, type FastifyUpgradeOptions, type WebSocketConnection, type WebSocketRouteOptions } from '../lib/index.js'
import { captureLogs, closeEvent, connect, handshake, listen, ManualClock, messages, nextMessage, rawExchange, waitFor, withClock, within } from './helpers.js'

// Heartbeat and idle timeouts run on the plugin's timer. Two tests below run it on the real
// clock, end to end; the others drive it with a ManualClock, which moves only when the test
// says, so that every deadline is checked at its exact edge without waiting for it.

t.test('heartbeat, real clock: a peer that never answers pings is terminated, and that is logged and counted', async (t) => {
  const logs = captureLogs()
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { heartbeat: { interval: 50, timeout: 50 } }, { logger: logs.logger })
  t.teardown(() => app.close())
  const deaf = new WebSocket(`${url}/ws`, { autoPong: false })
  let pings = 0
  deaf.on('ping', () => { pings++ })
  await within(new Promise((resolve) => deaf.once('open', resolve)), 2000, 'open')
  const { code } = await closeEvent(deaf)
  t.equal(code, 1006, 'terminated: no closing handshake')
  t.equal(pings, 1, 'after one unanswered ping')
  t.ok(logs.lines.some((line) => line.msg === 'websocket peer missed its pong, terminated' && line.route === '/ws'), 'the termination is logged')
  await waitFor(() => app.websocketStats().open === 0, 1000, 'the server side to close')
  t.same(app.websocketStats().closes, { 1006: 1 }, 'counted as closed without a close frame')
})

t.test('heartbeat, real clock: a peer that answers is pinged again and again, and kept', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { heartbeat: { interval: 20, timeout: 20 } })
  t.teardown(() => app.close())
  const live = await connect(`${url}/ws`)
  let pings = 0
  await within(new Promise<void>((resolve) => { live.on('ping', () => { if (++pings === 5) resolve() }) }), 3000, 'five pings')
  t.equal(live.readyState, WebSocket.OPEN, 'answering pongs keeps the connection')
  live.close()
})

/** An app on a ManualClock whose routes hand the test their server-side sockets. */
async function clockedApp (clock: ManualClock, options: FastifyUpgradeOptions, routes: Record<string, WebSocketRouteOptions | true>) {
  const sockets: WebSocketConnection[] = []
  const server = await listen((app) => {
    for (const [path, websocket] of Object.entries(routes)) {
      app.get(path, { websocket }, (socket) => {
        sockets.push(socket)
        socket.on('message', (data) => { socket.send(`echo ${data.toString()}`) })
      })
    }
  }, withClock(clock, options))
  /** The next connection's client and server sides. */
  const open = async (path: string, clientOptions: ClientOptions = {}): Promise<{ client: WebSocket, server: WebSocketConnection }> => {
    const before = sockets.length
    const client = await connect(`${server.url}${path}`, [], clientOptions)
    await waitFor(() => sockets.length > before, 2000, 'the handler')
    return { client, server: sockets[before] as WebSocketConnection }
  }
  return { ...server, open }
}

/**
 * Everything the server wrote to `client` so far has arrived: a message sent now comes after
 * it (one TCP stream, in order). For checking that something was not sent.
 */
async function barrier (client: WebSocket, server: WebSocketConnection): Promise<void> {
  server.send('barrier')
  const message = await nextMessage(client)
  if (message !== 'barrier') throw new Error(`expected the barrier, got ${message}`)
}

t.test('heartbeat, driven clock: the first ping at `interval`, termination exactly `timeout` after an unanswered one', async (t) => {
  const clock = new ManualClock()
  const { app, open } = await clockedApp(clock, { heartbeat: { interval: 1000, timeout: 400 } }, { '/ws': true })
  t.teardown(() => app.close())
  const { client, server } = await open('/ws', { autoPong: false })
  t.same(clock.intervals, [100], 'the timer ticks at a quarter of the shortest deadline')
  let pings = 0
  client.on('ping', () => { pings++ })
  clock.advance(999)
  await barrier(client, server)
  t.equal(pings, 0, 'no ping before the interval')
  const pinged = new Promise((resolve) => client.once('ping', resolve))
  clock.advance(1)
  await within(pinged, 2000, 'the ping')
  clock.advance(399)
  t.equal(server.readyState, WebSocket.OPEN, 'kept while its pong may still come')
  clock.advance(1)
  t.equal(server.readyState, WebSocket.CLOSING, 'terminated when the timeout is reached')
  t.equal((await closeEvent(client)).code, 1006)
  t.equal(pings, 1)
})

t.test('heartbeat, driven clock: each pong re-arms the next ping; heartbeat: false sends none', async (t) => {
  const clock = new ManualClock()
  const { app, open } = await clockedApp(clock, { heartbeat: { interval: 1000, timeout: 400 } }, { '/ws': true, '/quiet': { heartbeat: false } })
  t.teardown(() => app.close())
  const live = await open('/ws')
  const quiet = await open('/quiet')
  let quietPings = 0
  quiet.client.on('ping', () => { quietPings++ })
  for (let round = 1; round <= 5; round++) {
    const ponged = new Promise((resolve) => live.server.once('pong', resolve))
    // Had the last pong not counted, the timer would terminate the peer 400 ms into this.
    clock.advance(1000)
    t.equal(live.server.readyState, WebSocket.OPEN, `round ${round}: kept`)
    await within(ponged, 2000, `pong ${round}`)
  }
  await barrier(quiet.client, quiet.server)
  t.equal(quietPings, 0, 'five intervals, no ping on the route without heartbeat')
  t.equal(quiet.server.readyState, WebSocket.OPEN)
  live.client.close()
  quiet.client.close()
})

t.test('idleTimeout, driven clock: a silent peer is closed with 1000 when it is reached; each message moves it', async (t) => {
  const clock = new ManualClock()
  const { app, open } = await clockedApp(clock, {}, { '/ws': { idleTimeout: 400, heartbeat: false } })
  t.teardown(() => app.close())
  const silent = await open('/ws')
  const talking = await open('/ws')
  t.same(clock.intervals, [100])
  clock.advance(300)
  talking.client.send('still here')
  t.equal(await nextMessage(talking.client), 'echo still here', 'seen by the server at 300 ms')
  clock.advance(99)
  t.equal(silent.server.readyState, WebSocket.OPEN, 'silent for 399 ms: kept')
  clock.advance(1)
  t.equal(silent.server.readyState, WebSocket.CLOSING, 'silent for 400 ms: closed')
  t.same(await closeEvent(silent.client), { code: 1000, reason: 'idle timeout' })
  clock.advance(299)
  t.equal(talking.server.readyState, WebSocket.OPEN, '399 ms after its message: kept')
  clock.advance(1)
  t.same(await closeEvent(talking.client), { code: 1000, reason: 'idle timeout' }, '400 ms after its message: closed')
})

t.test('driven clock: a connection that opens after a quiet spell gets its whole idleTimeout and interval', async (t) => {
  const clock = new ManualClock()
  const { app, open } = await clockedApp(clock, {}, {
    '/idle': { idleTimeout: 400, heartbeat: false },
    '/ping': { heartbeat: { interval: 1000, timeout: 400 } }
  })
  t.teardown(() => app.close())
  // With no connection open the timer is stopped: before the first one, and after the last one closed.
  const idleAfterQuiet = async (spell: string): Promise<void> => {
    clock.advance(60_000)
    t.same(clock.intervals, [], `${spell}: the timer is stopped`)
    const idle = await open('/idle')
    const closed = closeEvent(idle.client)
    clock.advance(399)
    t.equal(idle.server.readyState, WebSocket.OPEN, `${spell}: kept for 399 ms`)
    clock.advance(1)
    t.same(await closed, { code: 1000, reason: 'idle timeout' }, `${spell}: closed at 400 ms`)
    await waitFor(() => app.websocketStats().open === 0, 2000, 'the server side to close')
  }
  await idleAfterQuiet('before the first connection')
  await idleAfterQuiet('after the last one closed')
  clock.advance(60_000)
  const pinged = await open('/ping', { autoPong: false })
  let pings = 0
  pinged.client.on('ping', () => { pings++ })
  clock.advance(999)
  await barrier(pinged.client, pinged.server)
  t.equal(pings, 0, 'after the last one closed: no ping before the interval')
  const ping = new Promise((resolve) => pinged.client.once('ping', resolve))
  clock.advance(1)
  await within(ping, 2000, 'the ping at the interval')
  pinged.client.close()
})

/** Completes a handshake on a raw socket and then never reads: a slow consumer. */
async function stalledClient (port: number, path: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  socket.write(handshake(path))
  await within(new Promise<void>((resolve) => socket.once('data', () => { resolve() })), 2000, '101')
  socket.pause()
  return socket
}

for (const policy of ['close', 'drop'] as const) {
  t.test(`backpressure '${policy}': memory for a slow consumer stays bounded by maxBackpressure`, async (t) => {
    const limit = 256 * 1024
    const chunk = Buffer.alloc(64 * 1024, 1)
    let report: (value: { maxBuffered: number, refusals: number, sent: number, state: number }) => void = () => {}
    const done = new Promise<{ maxBuffered: number, refusals: number, sent: number, state: number }>((resolve) => { report = resolve })
    const { app, port } = await listen((app) => {
      app.get('/firehose', { websocket: { maxBackpressure: limit, backpressurePolicy: policy, heartbeat: false } }, (socket: WebSocketConnection) => {
        let maxBuffered = 0
        let refusals = 0
        let sent = 0
        const pump = (): void => {
          // At most 64 MiB offered: far beyond what loopback buffers can hold.
          for (let i = 0; i < 16 && sent + refusals < 1024; i++) {
            if (socket.send(chunk)) sent++
            else refusals++
            maxBuffered = Math.max(maxBuffered, socket.bufferedAmount)
          }
          if (refusals >= 20 || sent + refusals >= 1024) report({ maxBuffered, refusals, sent, state: socket.readyState })
          else setImmediate(pump)
        }
        pump()
      })
    }, { closeTimeout: 200 })
    const client = await stalledClient(port, '/firehose')
    t.teardown(() => client.destroy())
    const result = await within(done, 10000, 'the pump to stop')
    t.ok(result.refusals > 0, `send() refused ${result.refusals} messages once ${limit} bytes were waiting`)
    t.ok(result.maxBuffered <= limit + chunk.length, `bufferedAmount peaked at ${result.maxBuffered} bytes (limit ${limit} + one ${chunk.length}-byte message)`)
    const stats = app.websocketStats()
    t.equal(stats.droppedMessages, result.refusals, 'refusals are counted')
    if (policy === 'close') t.equal(result.state, WebSocket.CLOSING, "'close' starts the closing handshake (1008)")
    else t.equal(result.state, WebSocket.OPEN, "'drop' keeps the connection")
    t.comment(`${policy}: sent ${result.sent} x 64 KiB before the limit, peak buffered ${result.maxBuffered} bytes`)
    await app.close()
  })
}

t.test("backpressure 'drop': 'drain' tells when sending can resume", async (t) => {
  let drained: () => void = () => {}
  const sawDrain = new Promise<void>((resolve) => { drained = resolve })
  let filled: () => void = () => {}
  const full = new Promise<void>((resolve) => { filled = resolve })
  const { app, port } = await listen((app) => {
    app.get('/drain', { websocket: { maxBackpressure: 64 * 1024, backpressurePolicy: 'drop', heartbeat: false } }, (socket) => {
      socket.on('drain', () => { drained() })
      const chunk = Buffer.alloc(64 * 1024)
      const fill = (): void => { if (socket.send(chunk)) setImmediate(fill); else filled() }
      fill()
    })
  })
  t.teardown(() => app.close())
  const client = await stalledClient(port, '/drain')
  await within(full, 3000, 'send() to refuse a message')
  client.resume() // start reading: the server's buffer empties
  await within(sawDrain, 3000, 'drain')
  t.pass('drain emitted')
  client.destroy()
})

t.test('maxPayload: per route and plugin-wide (default 1 MiB), oversized messages close with 1009', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/small', { websocket: { maxPayload: 100 } }, (socket) => { socket.on('message', (data) => { socket.send(`got ${data.length}`) }) })
    app.get('/default', { websocket: true }, (socket) => { socket.on('message', (data) => { socket.send(`got ${data.length}`) }) })
  })
  t.teardown(() => app.close())
  const small = await connect(`${url}/small`)
  small.send(Buffer.alloc(100))
  t.equal(await nextMessage(small), 'got 100')
  small.send(Buffer.alloc(101))
  t.equal((await closeEvent(small)).code, 1009)
  const big = await connect(`${url}/default`)
  big.send(Buffer.alloc(1024 * 1024))
  t.equal(await nextMessage(big), `got ${1024 * 1024}`)
  big.send(Buffer.alloc(1024 * 1024 + 1))
  t.equal((await closeEvent(big)).code, 1009)
})

t.test('maxConnections: global and per route; over the limit is 503 with Retry-After', async (t) => {
  const { app, url, port } = await listen((app) => {
    app.get('/one', { websocket: { maxConnections: 1 } }, () => {})
    app.get('/any', { websocket: true }, () => {})
  }, { maxConnections: 3 })
  t.teardown(() => app.close())
  const first = await connect(`${url}/one`)
  const refused = await rawExchange(port, handshake('/one'))
  t.equal(refused.status, 503)
  t.equal(refused.headers['retry-after'], '5')
  t.same(JSON.parse(refused.body), { statusCode: 503, code: 'FST_UPGRADE_UNAVAILABLE', error: 'Service Unavailable', message: 'Cannot accept the upgrade now: too many connections' })
  const others = [await connect(`${url}/any`), await connect(`${url}/any`)]
  t.equal((await rawExchange(port, handshake('/any'))).status, 503, 'the global limit of 3')
  first.close()
  await closeEvent(first)
  const again = await connect(`${url}/one`)
  t.equal(again.readyState, WebSocket.OPEN, 'a freed slot is usable again')
  again.close()
  for (const client of others) client.close()
})

t.test('handshakeTimeout: hooks that do not finish in time get 503 and the socket is freed', async (t) => {
  const logs = captureLogs()
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let hookFinished = false
  let routeReached = false
  const { app, port } = await listen((app) => {
    app.get('/slow', { websocket: true, preHandler: async () => { await held; hookFinished = true } }, () => { routeReached = true })
    app.get('/plain', async () => 'plain')
  }, { handshakeTimeout: 200 }, { logger: logs.logger })
  t.teardown(() => app.close())
  t.teardown(release)
  const response = await rawExchange(port, handshake('/slow'))
  t.equal(response.status, 503)
  t.equal(response.headers['retry-after'], '5')
  t.equal(JSON.parse(response.body).message, 'Cannot accept the upgrade now: handshake timeout')
  t.ok(response.closedByServer)
  t.notOk(hookFinished, 'answered at the timeout, while the hook was still running')
  // The hook finishes; the route must leave the socket alone.
  release()
  await held
  // A request served after that one resumed: its continuation has run by then.
  t.equal((await rawExchange(port, 'GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).body, 'plain')
  t.ok(hookFinished, 'the hook finished')
  t.notOk(routeReached, 'the handler never ran')
  t.same(app.websocketStats().rejectedHandshakes, { FST_UPGRADE_UNAVAILABLE: 1 }, 'counted once')
  // Fastify logs its 5xx answers at error level: the 503 itself; nothing else may be.
  t.same(logs.lines.filter((line) => line.level >= 50 && line.err?.message !== 'Cannot accept the upgrade now: handshake timeout'), [], 'no other error logged')
})

for (const policy of ['close', 'drop'] as const) {
  t.test(`rate limit '${policy}', driven clock: a flood over the limit`, async (t) => {
    const clock = new ManualClock()
    let handled = 0
    const { app, url } = await listen((app) => {
      app.get('/chatty', { websocket: { rateLimit: { rate: 250, burst: 5, policy } } }, (socket) => {
        socket.on('message', (data) => { handled++; socket.send(`got ${data.toString()}`) })
      })
    }, withClock(clock))
    t.teardown(() => app.close())
    const client = await connect(`${url}/chatty`)
    // The clock stands still: the bucket's 5 tokens, and no refill.
    for (let i = 0; i < 50; i++) client.send(`flood ${i}`)
    if (policy === 'close') {
      t.same(await closeEvent(client), { code: CloseCode.PolicyViolation, reason: 'rate limit exceeded' })
    }
    await waitFor(() => app.websocketStats().messagesIn === 50, 2000, 'all 50 messages to reach the server')
    t.equal(handled, 5, 'the burst of 5 handled')
    t.equal(app.websocketStats().droppedMessages, 45, 'the other 45 dropped and counted')
    if (policy === 'drop') {
      t.equal(client.readyState, WebSocket.OPEN, 'the connection stays open')
      // 250 per second: one token every 4 ms (binary fractions: no rounding on the way).
      clock.advance(3)
      client.send('early')
      await waitFor(() => app.websocketStats().messagesIn === 51, 2000, 'the early message to reach the server')
      clock.advance(1)
      client.send('refilled')
      t.same(await messages(client, 6), ['got flood 0', 'got flood 1', 'got flood 2', 'got flood 3', 'got flood 4', 'got refilled'], 'a token 4 ms after the flood, not 3')
      t.equal(app.websocketStats().droppedMessages, 46)
      client.close()
    }
  })
}

t.test('app.websocketStats(): connections, messages, bytes, closes and refusals', async (t) => {
  const logs = captureLogs('debug')
  const { app, url, port } = await listen((app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization === 'no') await reply.code(401).send()
    })
    app.get('/echo', { websocket: { allowedOrigins: ['https://ok.example'] } }, (socket) => {
      socket.on('message', (data) => { socket.send(data.toString()) })
    })
    app.get('/other', { websocket: true }, () => {})
  }, {}, { logger: logs.logger })
  t.teardown(() => app.close())
  const a = await connect(`${url}/echo`)
  const b = await connect(`${url}/other`)
  a.send('hello')
  t.equal(await nextMessage(a), 'hello')
  await rawExchange(port, handshake('/echo', { Origin: 'https://evil.example' }))
  await rawExchange(port, handshake('/echo', { Authorization: 'no' }))
  await rawExchange(port, handshake('/nowhere'))
  let stats = app.websocketStats()
  t.equal(stats.open, 2)
  t.match(stats.routes, { '/echo': { open: 1, messagesIn: 1, messagesOut: 1 }, '/other': { open: 1 } })
  t.ok(stats.bytesIn > 5 && stats.bytesOut > 5, `bytes in ${stats.bytesIn}, out ${stats.bytesOut}`)
  t.same(stats.rejectedHandshakes, { FST_UPGRADE_ORIGIN_REFUSED: 1, 'status 401': 1, 'status 404': 1 })
  a.close(4001)
  await closeEvent(a)
  await waitFor(() => app.websocketStats().open === 1, 2000, 'the server side to count the close')
  stats = app.websocketStats()
  t.equal(stats.open, 1)
  t.same(stats.closes, { 4001: 1 })
  const opened = logs.lines.find((line) => line.msg === 'websocket open')
  const closed = logs.lines.find((line) => line.msg === 'websocket closed')
  t.match(opened, { level: 20, route: '/echo' })
  t.match(closed, { level: 20, route: '/echo', code: 4001 })
  t.type(closed?.durationMs, 'number')
  t.equal(opened?.reqId, closed?.reqId, 'both carry the request id')
  b.close()
})

t.test('operational options are checked', async (t) => {
  const Fastify = (await import('fastify')).default
  const fastifyUpgrade = (await import('../lib/index.js')).default
  const bad: Array<[object, RegExp]> = [
    [{ heartbeat: { interval: 0 } }, /heartbeat\.interval/],
    [{ idleTimeout: -1 }, /idleTimeout/],
    [{ maxPayload: 0 }, /maxPayload/],
    [{ backpressurePolicy: 'panic' }, /backpressurePolicy/],
    [{ rateLimit: { rate: 0 } }, /rateLimit\.rate/],
    [{ rateLimit: { rate: 1, policy: 'panic' } }, /rateLimit\.policy/],
    [{ handshakeTimeout: 0 }, /handshakeTimeout/]
  ]
  for (const [options, message] of bad) {
    const app = Fastify()
    app.register(fastifyUpgrade, options)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION', message }, JSON.stringify(options))
  }
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.throws(() => app.get('/x', { websocket: { maxConnections: -1 } }, () => {}), { message: /websocket \(route \/x\)\.maxConnections/ })
  // burst defaults to rate, policy to 'close'; a route heartbeat fills in from the defaults
  app.get('/y', { websocket: { rateLimit: { rate: 5 }, heartbeat: { timeout: 500 } } }, () => {})
  app.get('/z', { websocket: { rateLimit: false } }, () => {})
  await app.close()
})
