// Operations: heartbeat, idle timeout, backpressure, limits, rate limiting, stats and
// their logs, each observed over real sockets.
import t from 'tap'
import net from 'node:net'
import { WebSocket } from 'ws'
import { CloseCode, type WebSocketConnection } from '../lib/index.js'
import { captureLogs, closeEvent, connect, delay, handshake, listen, nextMessage, rawExchange, track, within } from './helpers.js'

t.test('heartbeat: a peer that never answers pings is terminated within 2x the interval', async (t) => {
  const logs = captureLogs()
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  }, { heartbeat: { interval: 100, timeout: 100 } }, { logger: logs.logger })
  t.teardown(() => app.close())
  const deaf = new WebSocket(`${url}/ws`, { autoPong: false })
  const opened = Date.now()
  await within(new Promise((resolve) => deaf.once('open', resolve)), 2000, 'open')
  const { code } = await closeEvent(deaf)
  const elapsed = Date.now() - opened
  t.equal(code, 1006, 'terminated: no closing handshake')
  t.ok(elapsed < 2 * 100 + 150, `closed after ${elapsed} ms (interval 100 ms, timeout 100 ms, timer slack)`)
  t.ok(logs.lines.some((line) => line.msg === 'websocket peer missed its pong, terminated' && line.route === '/ws'), 'the termination is logged')
  await within((async () => { while (app.websocketStats().open > 0) await delay(10) })(), 1000, 'the server side to close')
  t.same(app.websocketStats().closes, { 1006: 1 }, 'counted as closed without a close frame')
})

t.test('heartbeat: a live peer is pinged and kept; heartbeat: false turns pings off', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
    app.get('/quiet', { websocket: { heartbeat: false } }, () => {})
  }, { heartbeat: { interval: 50, timeout: 50 } })
  t.teardown(() => app.close())
  const live = await connect(`${url}/ws`)
  const quiet = await connect(`${url}/quiet`)
  let pings = 0
  let quietPings = 0
  live.on('ping', () => { pings++ })
  quiet.on('ping', () => { quietPings++ })
  await delay(400)
  t.ok(pings >= 3, `${pings} pings in 400 ms`)
  t.equal(quietPings, 0)
  t.equal(live.readyState, WebSocket.OPEN, 'answering pongs keeps the connection')
  live.close()
  quiet.close()
})

t.test('idleTimeout: a silent peer is closed with 1000; a talking one is kept', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: { idleTimeout: 200, heartbeat: false } }, (socket) => { socket.on('message', () => {}) })
  })
  t.teardown(() => app.close())
  const silent = await connect(`${url}/ws`)
  const talking = await connect(`${url}/ws`)
  const timer = setInterval(() => { talking.send('still here') }, 50)
  t.same(await closeEvent(silent), { code: 1000, reason: 'idle timeout' })
  await delay(200)
  t.equal(talking.readyState, WebSocket.OPEN)
  clearInterval(timer)
  talking.close()
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
  const { app, port } = await listen((app) => {
    app.get('/drain', { websocket: { maxBackpressure: 64 * 1024, backpressurePolicy: 'drop', heartbeat: false } }, (socket) => {
      socket.on('drain', () => { drained() })
      const chunk = Buffer.alloc(64 * 1024)
      const fill = (): void => { if (socket.send(chunk)) setImmediate(fill) }
      fill()
    })
  })
  t.teardown(() => app.close())
  const client = await stalledClient(port, '/drain')
  await delay(100)
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
  const { app, port } = await listen((app) => {
    app.addHook('preHandler', async () => { await delay(1000) })
    app.get('/slow', { websocket: true }, () => {})
  }, { handshakeTimeout: 200 })
  t.teardown(() => app.close())
  const started = Date.now()
  const response = await rawExchange(port, handshake('/slow'))
  t.equal(response.status, 503)
  t.equal(response.headers['retry-after'], '5')
  t.equal(JSON.parse(response.body).message, 'Cannot accept the upgrade now: handshake timeout')
  t.ok(response.closedByServer)
  t.ok(Date.now() - started < 900, 'answered at the timeout, not when the hook finished')
  await delay(900) // the hook finishes; the route must leave the socket alone
  t.equal(app.websocketStats().rejectedHandshakes.FST_UPGRADE_UNAVAILABLE, 1)
})

for (const policy of ['close', 'drop'] as const) {
  t.test(`rate limit '${policy}': a flood over the limit`, async (t) => {
    let handled = 0
    const { app, url } = await listen((app) => {
      app.get('/chatty', { websocket: { rateLimit: { rate: 10, burst: 5, policy } } }, (socket) => {
        socket.on('message', () => { handled++ })
      })
    })
    t.teardown(() => app.close())
    const client = await connect(`${url}/chatty`)
    for (let i = 0; i < 50; i++) client.send(`flood ${i}`)
    if (policy === 'close') {
      t.same(await closeEvent(client), { code: CloseCode.PolicyViolation, reason: 'rate limit exceeded' })
    } else {
      await delay(200)
      t.equal(client.readyState, WebSocket.OPEN, 'the connection stays open')
    }
    t.ok(handled >= 5 && handled <= 7, `${handled} of 50 messages handled (burst 5, 10/s)`)
    if (policy === 'drop') {
      t.ok(app.websocketStats().droppedMessages >= 43, 'the rest are counted as dropped')
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
  await within((async () => { while (app.websocketStats().open > 1) await delay(5) })(), 2000, 'the server side to count the close')
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
  void track
})

t.test('idleTimeout after every connection had closed: a new connection gets its full idle time', async (t) => {
  // The shared timer stops when the last connection closes; a connection opened later must
  // not read the clock of the timer's last tick (which would make it idle at once).
  const idleTimeout = 300
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: { idleTimeout, heartbeat: false } }, () => {})
  })
  t.teardown(() => app.close())
  const first = await connect(`${url}/ws`)
  first.close()
  await closeEvent(first)
  await within((async () => { while (app.websocketStats().open > 0) await delay(10) })(), 2000, 'the server side to close')
  // Longer than idleTimeout with no connection: the timer's last reading is now stale.
  await delay(idleTimeout * 2)
  const second = await connect(`${url}/ws`)
  const opened = Date.now()
  const { code, reason } = await closeEvent(second)
  const lived = Date.now() - opened
  t.same({ code, reason }, { code: 1000, reason: 'idle timeout' })
  t.ok(lived >= idleTimeout - 20, `closed ${lived} ms after opening, not before its idle timeout (${idleTimeout} ms)`)
})
