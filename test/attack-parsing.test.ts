// Parsing a hostile client's input: handshake header lists with too many elements, and
// typed messages that carry prototype keys or nest deeper than any schema should walk.
import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { WebSocket } from 'ws'
import { captureLogs, connect, handshake, listen, nextMessage, rawExchange, within } from './helpers.js'

/** A response body as JSON, or as text when it is not JSON (e.g. empty after a 101). */
function json (body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return body
  }
}

/** What the server does first after a message: closes (with its code) or answers. */
async function outcome (client: WebSocket): Promise<string> {
  return await within(new Promise<string>((resolve) => {
    client.once('close', (code: number) => { resolve(`close ${code}`) })
    client.once('message', (data: Buffer) => { resolve(`message ${data.toString()}`) })
  }), 5000, 'a close or a message')
}

async function handshakeServer () {
  return await listen((app) => {
    // Speaks only 'p64', so an offer p1..pN upgrades only if the server reads the whole list.
    app.get('/p64', { websocket: { protocols: ['p64'] } }, () => {})
    // No protocols: ws answers with the client's first offer.
    app.get('/open', { websocket: true }, () => {})
  }, { closeTimeout: 200 })
}

function names (prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_value, i) => `${prefix}${i + 1}`)
}

t.test('5: more than 64 offered subprotocols is a bad handshake; 64 are still accepted', async (t) => {
  const { app, port } = await handshakeServer()
  t.teardown(() => app.close())
  const accepted = await rawExchange(port, handshake('/p64', { 'Sec-WebSocket-Protocol': names('p', 64).join(', ') }), 2000, 'head')
  t.equal(accepted.status, 101, '64 distinct subprotocols')
  t.equal(accepted.headers['sec-websocket-protocol'], 'p64', 'the route picked the last one')
  const refused = await rawExchange(port, handshake('/p64', { 'Sec-WebSocket-Protocol': names('p', 65).join(', ') }))
  t.equal(refused.status, 400, '65 distinct subprotocols')
  t.match(json(refused.body), { code: 'FST_UPGRADE_BAD_HANDSHAKE' })
  t.ok(refused.closedByServer, 'and the socket is closed')
})

t.test('5: 5,000 distinct subprotocol tokens in one header (about 15 KB) are a bad handshake', async (t) => {
  const { app, port } = await handshakeServer()
  t.teardown(() => app.close())
  // Two-character tokens from the 77 token characters: 5,000 distinct names, 14,999 bytes
  // with commas, under Node's default 16 KB limit for the request head.
  const alphabet = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
  const tokens = Array.from({ length: 5000 }, (_value, i) => `${alphabet[Math.floor(i / alphabet.length)] as string}${alphabet[i % alphabet.length] as string}`)
  t.equal(new Set(tokens).size, 5000, 'the tokens are distinct')
  const header = tokens.join(',')
  const request = handshake('/open', { 'Sec-WebSocket-Protocol': header })
  t.ok(Buffer.byteLength(request) < 16 * 1024, `request head of ${Buffer.byteLength(request)} bytes`)
  const refused = await rawExchange(port, request)
  t.equal(refused.status, 400)
  t.match(json(refused.body), { code: 'FST_UPGRADE_BAD_HANDSHAKE' })
})

t.test('5: more than 64 offered extensions is a bad handshake', async (t) => {
  const { app, port } = await handshakeServer()
  t.teardown(() => app.close())
  const accepted = await rawExchange(port, handshake('/open', { 'Sec-WebSocket-Extensions': names('x-ext', 64).join(', ') }), 2000, 'head')
  t.equal(accepted.status, 101, '64 extension offers')
  const refused = await rawExchange(port, handshake('/open', { 'Sec-WebSocket-Extensions': names('x-ext', 65).join(', ') }))
  t.equal(refused.status, 400, '65 extension offers')
  t.match(json(refused.body), { code: 'FST_UPGRADE_BAD_HANDSHAKE' })
})

t.test('5: a subprotocol offered twice is still a bad handshake', async (t) => {
  const { app, port } = await handshakeServer()
  t.teardown(() => app.close())
  for (const path of ['/open', '/p64']) {
    const refused = await rawExchange(port, handshake(path, { 'Sec-WebSocket-Protocol': 'a, p64, a' }))
    t.equal(refused.status, 400, path)
    t.match(json(refused.body), { code: 'FST_UPGRADE_BAD_HANDSHAKE' }, path)
  }
})

t.test('7: a typed message with an own __proto__ or constructor.prototype key never reaches the handler', async (t) => {
  const logs = captureLogs()
  const seen: unknown[] = []
  const { app, url } = await listen((app) => {
    app.get('/typed', { websocket: true, schema: { message: Type.Object({ text: Type.String() }) } }, (socket) => {
      socket.on('message', (message) => {
        seen.push(message)
        socket.send(`got ${message.text}`)
      })
    })
  }, { closeTimeout: 200 }, { logger: logs.logger })
  t.teardown(() => app.close())
  const attacks = [
    '{"text":"hi","__proto__":{"polluted":true}}',
    '{"__proto__":{"x":1},"text":"hi"}',
    '{"text":"hi","constructor":{"prototype":{"polluted":true}}}'
  ]
  for (const attack of attacks) {
    const client = await connect(`${url}/typed`)
    client.send(attack)
    t.equal(await outcome(client), 'close 1008', `${attack}: closed as an invalid message`)
    client.terminate()
  }
  t.same(seen, [], 'the handler saw none of them')
  const refusals = logs.lines.filter((line) => line.msg === 'invalid websocket message')
  t.equal(refusals.length, attacks.length, 'each is logged as an invalid message')
  t.ok(refusals.every((line) => line.code === 'FST_UPGRADE_INVALID_MESSAGE'), 'with code FST_UPGRADE_INVALID_MESSAGE')
  const normal = await connect(`${url}/typed`)
  normal.send('{"text":"hi"}')
  t.equal(await nextMessage(normal), 'got hi', 'a normal message on another connection is delivered')
  t.same(seen, [{ text: 'hi' }])
  normal.close()
})

/** `depth` objects, each the `child` of the one before: JSON nested `depth` levels deep. */
function nested (depth: number): string {
  return `${'{"child":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`
}

t.test('7: a message nested deeper than 64 levels under a recursive schema is invalid (1008), never 1011', async (t) => {
  const logs = captureLogs()
  let delivered = 0
  const { app, url } = await listen((app) => {
    app.get('/tree', {
      // Room for the 100,000-level message (about 1.1 MB): maxPayload is not what is tested.
      websocket: { maxPayload: 4 * 1024 * 1024 },
      schema: { message: Type.Recursive((This) => Type.Object({ child: Type.Optional(This) })) }
    }, (socket) => {
      socket.on('message', () => {
        delivered++
        socket.send('delivered')
      })
    })
  }, { closeTimeout: 200 }, { logger: logs.logger })
  t.teardown(() => app.close())

  const shallow = await connect(`${url}/tree`)
  for (const levels of [10, 64]) {
    shallow.send(nested(levels))
    t.equal(await nextMessage(shallow), 'delivered', `${levels} levels: delivered`)
  }
  // Brackets and escaped quotes inside strings are text, not nesting.
  shallow.send(`{"note":"\\"${'[{'.repeat(100)}\\\\","child":${nested(60)}}`)
  t.equal(await nextMessage(shallow), 'delivered', '61 levels with 200 brackets inside a string: delivered')
  shallow.close()

  for (const levels of [65, 100_000]) {
    const client = await connect(`${url}/tree`)
    client.send(nested(levels))
    t.equal(await outcome(client), 'close 1008', `${levels} levels: closed 1008 (invalid message), not 1011`)
    client.terminate()
  }
  t.equal(delivered, 3, 'only the messages within 64 levels reached the handler')
  const errors = logs.lines.filter((line) => line.level >= 50)
  t.same(errors.map((line) => line.msg), [], 'no log line at error level or above')
})
