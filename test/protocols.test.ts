// Protocol negotiation over real sockets: subprotocols, permessage-deflate, origin
// checks, and upgrades to protocols other than WebSocket.
import t from 'tap'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import Fastify from 'fastify'
import fastifyUpgrade, { upgradeRequired } from '../lib/index.js'
import { lineProtocol } from '../examples/line/protocol.js'
import { captureLogs, connect, handshake, listen, nextMessage, parseResponse, rawExchange, within } from './helpers.js'

async function protocolServer () {
  return await listen((app) => {
    app.get('/chat', { websocket: { protocols: ['chat.v2', 'chat.v1'] } }, (socket) => { socket.send(`speaking ${socket.protocol}`) })
    app.get('/optional', { websocket: { protocols: ['chat.v1'], requireProtocol: false } }, (socket) => { socket.send(`speaking '${socket.protocol}'`) })
    app.get('/versioned', {
      websocket: {
        selectProtocol: (offered, request) => {
          const wanted = (request.query as { v?: string }).v
          return wanted === 'bogus' ? 'never.offered' : offered.find((protocol) => protocol.endsWith(`.v${wanted ?? '1'}`))
        }
      }
    }, (socket) => { socket.send(`speaking ${socket.protocol}`) })
    app.get('/any', { websocket: true }, (socket) => { socket.send(`speaking '${socket.protocol}'`) })
  })
}

t.test('subprotocols: the route preference wins among what the client offers', async (t) => {
  const { app, url } = await protocolServer()
  t.teardown(() => app.close())
  const both = await connect(`${url}/chat`, ['chat.v1', 'chat.v2'])
  t.equal(both.protocol, 'chat.v2', 'the 101 names chat.v2')
  t.equal(await nextMessage(both), 'speaking chat.v2', 'socket.protocol on the server')
  both.close()
  const old = await connect(`${url}/chat`, ['chat.v0', 'chat.v1'])
  t.equal(old.protocol, 'chat.v1')
  old.close()
})

t.test('subprotocols: an unacceptable offer, or none where one is required, is refused with 400', async (t) => {
  const { app, port } = await protocolServer()
  t.teardown(() => app.close())
  const unknown = await rawExchange(port, handshake('/chat', { 'Sec-WebSocket-Protocol': 'chat.v9, other' }))
  t.equal(unknown.status, 400)
  t.same(JSON.parse(unknown.body), {
    statusCode: 400,
    code: 'FST_UPGRADE_UNSUPPORTED_PROTOCOL',
    error: 'Bad Request',
    message: 'None of the offered subprotocols is supported; this route speaks: chat.v2, chat.v1'
  })
  const none = await rawExchange(port, handshake('/chat'))
  t.equal(none.status, 400)
  t.equal(JSON.parse(none.body).code, 'FST_UPGRADE_PROTOCOL_REQUIRED')
  const malformed = await rawExchange(port, handshake('/chat', { 'Sec-WebSocket-Protocol': 'chat.v1, chat.v1' }))
  t.equal(malformed.status, 400)
  t.match(JSON.parse(malformed.body).message, /malformed Sec-WebSocket-Protocol/)
})

t.test('subprotocols: requireProtocol false accepts clients without a usable offer', async (t) => {
  const { app, url, port } = await protocolServer()
  t.teardown(() => app.close())
  const none = await connect(`${url}/optional`)
  t.equal(await nextMessage(none), "speaking ''")
  none.close()
  const other = await rawExchange(port, handshake('/optional', { 'Sec-WebSocket-Protocol': 'other' }), 2000, 'head')
  t.equal(other.status, 101)
  t.equal(other.headers['sec-websocket-protocol'], undefined, 'no protocol is named')
})

t.test('subprotocols: selectProtocol overrides the choice, and may only pick what was offered', async (t) => {
  const { app, url, port } = await protocolServer()
  t.teardown(() => app.close())
  const two = await connect(`${url}/versioned?v=2`, ['app.v1', 'app.v2'])
  t.equal(two.protocol, 'app.v2')
  two.close()
  const bogus = await rawExchange(port, handshake('/versioned?v=bogus', { 'Sec-WebSocket-Protocol': 'app.v1' }))
  t.equal(bogus.status, 400, 'a choice outside the offer is refused')
})

t.test("subprotocols: a route without protocols keeps ws' rule (first offered) or the plugin's handleProtocols", async (t) => {
  const { app, url } = await protocolServer()
  t.teardown(() => app.close())
  const client = await connect(`${url}/any`, ['first', 'second'])
  t.equal(client.protocol, 'first')
  client.close()
  const seen: unknown[] = []
  const custom = await listen((app) => {
    app.get('/any', { websocket: true }, (_socket, request) => { seen.push(request.raw) })
  }, {
    options: {
      handleProtocols: (offered, request) => {
        seen.push(request)
        return [...offered].at(-1) ?? false
      }
    }
  })
  t.teardown(() => custom.app.close())
  const last = await connect(`${custom.url}/any`, ['first', 'second'])
  t.equal(last.protocol, 'second')
  t.equal(seen.length, 2)
  t.equal(seen[0], seen[1], 'handleProtocols gets the upgraded request itself (the one the handler sees as request.raw)')
  t.equal((seen[0] as IncomingMessage).headers['sec-websocket-protocol'], 'first,second', 'with the headers the client sent')
  last.close()
})

t.test('permessage-deflate per route, negotiated with a real client; off by default', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/deflate', { websocket: { perMessageDeflate: { threshold: 0 } } }, (socket) => {
      socket.on('message', (data) => { socket.send(data.toString().toUpperCase()) })
    })
    app.get('/deflate-too', { websocket: { perMessageDeflate: { threshold: 0 } } }, () => {})
    app.get('/plain', { websocket: true }, () => {})
  })
  t.teardown(() => app.close())
  const compressed = await connect(`${url}/deflate`)
  t.match(compressed.extensions, /^permessage-deflate/)
  compressed.send('a'.repeat(1000))
  t.equal(await nextMessage(compressed), 'A'.repeat(1000))
  compressed.close()
  const plain = await connect(`${url}/plain`)
  t.equal(plain.extensions, '', 'no extension without the option')
  plain.close()
})

t.test('origins: a refused origin gets 403 before the handshake, and a log line', async (t) => {
  const logs = captureLogs()
  const { app, port, url } = await listen((app) => {
    app.get('/strict', { websocket: { allowedOrigins: ['https://app.example'] } }, (socket) => { socket.send('hi') })
    app.get('/pattern', { websocket: true }, (socket) => { socket.send('hi') })
    app.get('/custom', { websocket: { allowedOrigins: (origin, request) => origin.endsWith((request.query as { site: string }).site) } }, (socket) => { socket.send('hi') })
  }, { allowedOrigins: /^https:\/\/([a-z]+\.)?trusted\.example$/ }, { logger: logs.logger })
  t.teardown(() => app.close())

  const refused = await rawExchange(port, handshake('/strict', { Origin: 'https://evil.example' }))
  t.equal(refused.status, 403)
  t.same(JSON.parse(refused.body), { statusCode: 403, code: 'FST_UPGRADE_ORIGIN_REFUSED', error: 'Forbidden', message: 'Origin not allowed' })
  t.ok(refused.closedByServer)
  t.ok(logs.lines.some((line) => line.msg === 'websocket origin refused' && line.origin === 'https://evil.example'))

  const allowed = await connect(`${url}/strict`, [], { origin: 'https://APP.example' })
  t.equal(await nextMessage(allowed), 'hi', 'origins compare case-insensitively')
  allowed.close()
  const noOrigin = await connect(`${url}/strict`)
  t.equal(await nextMessage(noOrigin), 'hi', 'a client without Origin (not a browser) passes')
  noOrigin.close()

  t.equal((await rawExchange(port, handshake('/pattern', { Origin: 'https://a.trusted.example' }), 2000, 'head')).status, 101, 'plugin-wide RegExp')
  t.equal((await rawExchange(port, handshake('/pattern', { Origin: 'https://trusted.example.evil' }))).status, 403)
  t.equal((await rawExchange(port, handshake('/custom?site=.org', { Origin: 'https://x.org' }), 2000, 'head')).status, 101, 'a function gets origin and request')
  t.equal((await rawExchange(port, handshake('/custom?site=.org', { Origin: 'https://trusted.example' }))).status, 403, 'the route setting replaces the plugin-wide one')
})

/** Opens a raw TCP connection, sends `request`, and reads what comes back line by line. */
async function rawClient (port: number, request: string) {
  const socket = net.connect(port, '127.0.0.1', () => { socket.write(request) })
  let buffer = ''
  const waiting: Array<() => void> = []
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => { buffer += chunk; for (const wake of waiting.splice(0)) wake() })
  const ended = new Promise<void>((resolve) => socket.once('end', () => { resolve() }))
  return {
    socket,
    ended,
    /** Resolves once the received text contains `text`; returns everything up to and including it. */
    async until (text: string): Promise<string> {
      return await within((async () => {
        while (!buffer.includes(text)) await new Promise<void>((resolve) => waiting.push(resolve))
        const end = buffer.indexOf(text) + text.length
        const taken = buffer.slice(0, end)
        buffer = buffer.slice(end)
        return taken
      })(), 3000, JSON.stringify(text))
    }
  }
}

const lineUpgrade = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: line/1\r\n\r\n${extra}`

t.test('other protocols: 101 with the chosen protocol, then the raw stream (early bytes included)', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/line', { upgrade: { 'line/1': lineProtocol } }, upgradeRequired)
  })
  t.teardown(() => app.close())
  // PING travels in the same write as the request: it is in Node's `head` buffer.
  const client = await rawClient(port, lineUpgrade('/line?user=ada', 'PING\r\n'))
  const head = parseResponse(await client.until('\r\n\r\n'))
  t.equal(head.statusLine, 'HTTP/1.1 101 Switching Protocols')
  t.equal(head.headers.upgrade, 'line/1')
  t.equal(head.headers.connection, 'Upgrade')
  t.equal(await client.until('\n'), 'HELLO ada\n')
  t.equal(await client.until('\n'), 'PONG\n', 'the early PING was not lost')
  client.socket.write('ECHO hello there\r\nWHAT\r\n')
  t.equal(await client.until('\n'), 'hello there\n')
  t.equal(await client.until('\n'), 'ERR unknown command\n')
  client.socket.write('QUIT\r\n')
  t.equal(await client.until('\n'), 'BYE\n')
  await within(client.ended, 2000, 'the server to end the stream')
  client.socket.end()
})

t.test('other protocols: a plain request to an upgrade-only route gets 426 listing every protocol', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/line', { upgrade: { 'line/1': lineProtocol, 'Echo/2': (stream) => { stream.pipe(stream) } } }, upgradeRequired)
    app.get('/both', { websocket: true, upgrade: { 'line/1': lineProtocol } }, (socket) => { socket.send('ws') })
    app.get('/dual', { upgrade: { 'line/1': lineProtocol } }, async () => 'plain http')
  })
  t.teardown(() => app.close())
  const only = await rawExchange(port, 'GET /line HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(only.status, 426)
  t.equal(only.headers.upgrade, 'line/1, Echo/2')
  t.equal(JSON.parse(only.body).message, 'This route requires a protocol upgrade to line/1, Echo/2')
  const both = await rawExchange(port, 'GET /both HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(both.headers.upgrade, 'websocket, line/1')
  const dual = await rawExchange(port, 'GET /dual HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(dual.status, 200)
  t.equal(dual.body, 'plain http', 'a route with an HTTP handler serves it')
  const unknownProtocol = await rawExchange(port, 'GET /line HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: line/2\r\n\r\n')
  t.equal(unknownProtocol.status, 426, 'an unsupported version is no match')
  t.ok(unknownProtocol.closedByServer)
})

t.test("other protocols: the client's Upgrade order picks between WebSocket and the rest", async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/both', { websocket: true, upgrade: { 'line/1': lineProtocol } }, (socket) => { socket.send('ws') })
  })
  t.teardown(() => app.close())
  const line = await rawExchange(port, handshake('/both', { Upgrade: 'line/1, websocket' }), 2000, 'head')
  t.equal(line.headers.upgrade, 'line/1')
  const ws = await rawExchange(port, handshake('/both', { Upgrade: 'websocket, line/1' }), 2000, 'head')
  t.equal(ws.headers.upgrade, 'websocket')
  t.ok(ws.headers['sec-websocket-accept'])
})

t.test('other protocols: hooks apply, and a failing handler loses only its stream', async (t) => {
  const logs = captureLogs()
  const { app, port } = await listen((app) => {
    app.addHook('onRequest', async (request, reply) => {
      if ((request.query as { token?: string }).token !== 'ok') await reply.code(401).send({ error: 'no' })
    })
    app.get('/fragile', {
      upgrade: {
        'sync/1': () => { throw new Error('sync failure') },
        'async/1': async () => { await new Promise((resolve) => setImmediate(resolve)); throw new Error('async failure') }
      }
    }, upgradeRequired)
  }, {}, { logger: logs.logger })
  t.teardown(() => app.close())
  const refused = await rawExchange(port, 'GET /fragile HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: sync/1\r\n\r\n')
  t.equal(refused.status, 401)
  for (const protocol of ['sync/1', 'async/1']) {
    const response = await rawExchange(port, `GET /fragile?token=ok HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`)
    t.equal(response.status, 101, protocol)
    t.ok(response.closedByServer, `${protocol}: the stream is destroyed`)
  }
  const failures = logs.lines.filter((line) => line.msg === 'upgrade handler failed')
  t.same(failures.map((line) => [line.protocol, line.err?.message, line.level]), [['sync/1', 'sync failure', 50], ['async/1', 'async failure', 50]])
})

t.test('other protocols: app.close() half-closes open streams, then destroys stragglers', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/line', { upgrade: { 'line/1': lineProtocol } }, upgradeRequired)
  }, { closeTimeout: 300 })
  const polite = await rawClient(port, lineUpgrade('/line'))
  await polite.until('HELLO stranger\n')
  polite.ended.then(() => polite.socket.end(), () => {})
  // This client never ends its side: the server must destroy it after closeTimeout.
  const stubborn = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => { stubborn.write(lineUpgrade('/line')) })
  t.teardown(() => stubborn.destroy())
  const stubbornEnded = new Promise<void>((resolve) => stubborn.once('end', () => { resolve() }))
  const stubbornUpgraded = new Promise<void>((resolve) => stubborn.once('data', () => { resolve() }))
  stubborn.on('data', () => {})
  await within(stubbornUpgraded, 2000, 'the stubborn client\'s 101')
  // app.close() resolves only once the HTTP server has no socket left, stubborn included.
  await within(app.close(), 3000, 'app.close()')
  await within(polite.ended, 1000, 'the polite client to see the end')
  await within(stubbornEnded, 1000, 'the stubborn client to see the end')
  t.notOk(app.server.listening)
})

t.test('upgrade routes are checked at registration', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  const noop = (): void => {}
  t.throws(() => app.get('/a', { upgrade: { 'not a token': noop } }, upgradeRequired), { code: 'FST_UPGRADE_INVALID_OPTION', message: /"not a token" is not a protocol token/ })
  t.throws(() => app.get('/b', { upgrade: { 'WebSocket/13': noop } }, upgradeRequired), { code: 'FST_UPGRADE_INVALID_OPTION', message: /use the websocket option/ })
  t.throws(() => app.get('/c', { upgrade: { 'x/1': 'nope' as unknown as typeof noop } }, upgradeRequired), { code: 'FST_UPGRADE_INVALID_OPTION', message: /upgrade\['x\/1'\]/ })
  t.throws(() => app.get('/d', { upgrade: 'x/1' as unknown as Record<string, typeof noop> }, upgradeRequired), { code: 'FST_UPGRADE_INVALID_OPTION' })
  t.throws(() => app.post('/e', { upgrade: { 'x/1': noop } }, upgradeRequired), { code: 'FST_UPGRADE_INVALID_METHOD' })
  t.throws(() => app.get('/f', { websocket: { protocols: ['a b'] } }, noop), { code: 'FST_UPGRADE_INVALID_OPTION', message: /"a b" is not a valid subprotocol name/ })
  t.throws(() => app.get('/g', { websocket: { protocols: [] } }, noop), { code: 'FST_UPGRADE_INVALID_OPTION', message: /non-empty list/ })
  t.throws(() => app.get('/h', { websocket: { allowedOrigins: 42 as unknown as string } }, noop), { code: 'FST_UPGRADE_INVALID_OPTION', message: /allowedOrigins/ })
  await app.close()
})

t.test('upgradeRequired on a route without the plugin still answers 426', async (t) => {
  const app = Fastify()
  app.get('/x', upgradeRequired)
  const response = await app.inject('/x')
  t.equal(response.statusCode, 426)
  await app.close()
})
