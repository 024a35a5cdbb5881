// Typed, validated messages over real sockets: decoding, the invalid-message policies
// and their close codes, per-type routing, and outgoing validation.
import t from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifyUpgrade, { InvalidMessage } from '../lib/index.js'
import { closeReason } from '../lib/messages.js'
import { captureLogs, closeEvent, connect, listen, messagesArrived, nextMessage } from './helpers.js'

const Chat = Type.Object({ text: Type.String({ maxLength: 20 }), to: Type.Optional(Type.Array(Type.String())) }, { additionalProperties: false })
const Reply = Type.Object({ echo: Type.String() })

async function chatServer (policy?: 'close' | 'reply' | 'ignore', logLevel = 'info') {
  const logs = captureLogs(logLevel)
  const server = await listen((app) => {
    app.get('/chat', {
      websocket: policy === undefined ? true : { onInvalidMessage: policy },
      schema: { message: Chat, send: Reply }
    }, (socket) => {
      socket.on('message', (message) => { socket.send({ echo: message.text }) })
    })
  }, {}, { logger: logs.logger })
  return { ...server, logs }
}

t.test('a valid message arrives decoded and typed; send JSON-encodes', async (t) => {
  const { app, url } = await chatServer()
  t.teardown(() => app.close())
  const client = await connect(`${url}/chat`)
  client.send(JSON.stringify({ text: 'hello', to: ['bob'] }))
  t.same(JSON.parse(await nextMessage(client)), { echo: 'hello' })
  client.close()
})

t.test("'close' (default): malformed JSON closes with 1007", async (t) => {
  const { app, url } = await chatServer()
  t.teardown(() => app.close())
  const client = await connect(`${url}/chat`)
  client.send('{"text": ')
  t.same(await closeEvent(client), { code: 1007, reason: 'message is not valid JSON' })
})

t.test("'close': a binary message on a JSON route closes with 1007", async (t) => {
  const { app, url } = await chatServer()
  t.teardown(() => app.close())
  const client = await connect(`${url}/chat`)
  client.send(Buffer.from(JSON.stringify({ text: 'hi' })))
  t.same(await closeEvent(client), { code: 1007, reason: 'binary messages are not accepted' })
})

t.test("'close': a schema violation closes with 1008 naming the first failing path", async (t) => {
  const { app, url } = await chatServer()
  t.teardown(() => app.close())
  const client = await connect(`${url}/chat`)
  client.send(JSON.stringify({ text: 'ok', to: ['a', 42] }))
  t.same(await closeEvent(client), { code: 1008, reason: 'Expected string at /to/1' })
})

t.test('the close reason never echoes what the peer sent, and fits in 123 bytes', async (t) => {
  const { app, url } = await chatServer()
  t.teardown(() => app.close())
  const secret = 'SECRET-<script>alert(1)</script>'
  const tooLong = await connect(`${url}/chat`)
  tooLong.send(JSON.stringify({ text: `${secret}${'x'.repeat(500)}` }))
  const first = await closeEvent(tooLong)
  t.equal(first.code, 1008)
  t.notMatch(first.reason, /SECRET/)
  t.equal(first.reason, 'Expected string length less or equal to 20 at /text')
  const extraKey = await connect(`${url}/chat`)
  extraKey.send(JSON.stringify({ text: 'hi', [secret]: 1 }))
  const second = await closeEvent(extraKey)
  t.same(second, { code: 1008, reason: 'unexpected property' }, 'the unexpected key itself is not named')
  // A deep path is cut to 123 bytes (RFC 6455 section 5.5).
  const long = closeReason(new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', `/${'é'.repeat(100)}`, 'Expected string', 1008))
  t.ok(Buffer.byteLength(long) <= 123, `${Buffer.byteLength(long)} bytes`)
  t.match(long, /^Expected string at \/é+\.\.\.$/)
})

t.test("'reply': the connection stays open and the client gets a typed error message", async (t) => {
  const { app, url } = await chatServer('reply')
  t.teardown(() => app.close())
  const client = await connect(`${url}/chat`)
  client.send(JSON.stringify({ text: 7 }))
  t.same(JSON.parse(await nextMessage(client)), { error: { code: 'FST_UPGRADE_INVALID_MESSAGE', path: '/text', message: 'Expected string' } })
  client.send('not json')
  t.same(JSON.parse(await nextMessage(client)), { error: { code: 'FST_UPGRADE_INVALID_JSON', path: '', message: 'message is not valid JSON' } })
  client.send(Buffer.from([1, 2, 3]))
  t.same(JSON.parse(await nextMessage(client)), { error: { code: 'FST_UPGRADE_BINARY_NOT_ACCEPTED', path: '', message: 'binary messages are not accepted' } })
  client.send(JSON.stringify({ text: 'still open' }))
  t.same(JSON.parse(await nextMessage(client)), { echo: 'still open' })
  client.close()
})

t.test("'ignore': invalid messages are dropped and logged at debug", async (t) => {
  const { app, url, logs } = await chatServer('ignore', 'debug')
  t.teardown(() => app.close())
  const client = await connect(`${url}/chat`)
  client.send(JSON.stringify({ text: false }))
  client.send(JSON.stringify({ text: false }))
  client.send(JSON.stringify({ text: 'after' }))
  t.same(JSON.parse(await nextMessage(client)), { echo: 'after' }, 'only the valid message is answered')
  const lines = logs.lines.filter((line) => line.msg === 'invalid websocket message')
  t.equal(lines.length, 2)
  t.match(lines[0], { level: 30, route: '/chat', path: '/text', code: 'FST_UPGRADE_INVALID_MESSAGE' }, 'the first is logged at info, with route and path')
  t.match(lines[1], { level: 20 }, 'repeats only at debug, so a flood does not flood the logs')
  t.type(lines[0]?.reqId, 'string', 'through the request logger')
  t.equal(app.websocketStats().invalidMessages, 2, 'counted in the stats')
  client.close()
})

t.test('a policy function receives the InvalidMessage, the socket and the request', async (t) => {
  const seen: unknown[] = []
  const { app, url } = await listen((app) => {
    app.get('/custom', {
      websocket: {
        onInvalidMessage: (error, socket, request) => {
          seen.push([error instanceof InvalidMessage, error.code, error.path, error.closeCode, request.url])
          socket.close(4008, 'custom')
        }
      },
      schema: { message: Chat }
    }, () => {})
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/custom`)
  client.send(JSON.stringify({}))
  t.same(await closeEvent(client), { code: 4008, reason: 'custom' })
  t.same(seen, [[true, 'FST_UPGRADE_INVALID_MESSAGE', '/text', 1008, '/custom']])
})

t.test('the plugin-wide onInvalidMessage is the default; a route overrides it', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/default', { websocket: true, schema: { message: Chat } }, (socket) => { socket.on('message', () => {}) })
    app.get('/strict', { websocket: { onInvalidMessage: 'close' }, schema: { message: Chat } }, (socket) => { socket.on('message', () => {}) })
  }, { onInvalidMessage: 'reply' })
  t.teardown(() => app.close())
  const lenient = await connect(`${url}/default`)
  lenient.send('x')
  t.match(JSON.parse(await nextMessage(lenient)), { error: { code: 'FST_UPGRADE_INVALID_JSON' } })
  lenient.close()
  const strict = await connect(`${url}/strict`)
  strict.send('x')
  t.equal((await closeEvent(strict)).code, 1007)
})

t.test('binary is accepted where the schema allows Type.Uint8Array()', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/blobs', {
      websocket: true,
      schema: { message: Type.Union([Type.Uint8Array({ maxByteLength: 4 }), Type.Object({ n: Type.Number() })]) }
    }, (socket) => {
      socket.on('message', (message) => {
        socket.send(message instanceof Uint8Array ? `bytes:${message.length}` : `n:${message.n}`)
      })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/blobs`)
  client.send(Buffer.from([1, 2, 3]))
  t.equal(await nextMessage(client), 'bytes:3')
  client.send(JSON.stringify({ n: 5 }))
  t.equal(await nextMessage(client), 'n:5')
  client.send(Buffer.from([1, 2, 3, 4, 5]))
  t.equal((await closeEvent(client)).code, 1008, 'binary is checked too')
})

t.test('schema.messages routes by type: per-type listeners, the union on message, unknown tags refused', async (t) => {
  const events: string[] = []
  const { app, url } = await listen((app) => {
    app.get('/room', {
      websocket: true,
      schema: {
        messages: {
          join: Type.Object({ room: Type.String() }),
          say: Type.Object({ text: Type.String() }, { additionalProperties: false })
        },
        send: Type.Object({ event: Type.String(), detail: Type.String() })
      }
    }, (socket) => {
      socket.on('join', (message) => { socket.send({ event: 'joined', detail: message.room }) })
      socket.on('say', (message) => { socket.send({ event: 'said', detail: message.text }) })
      socket.on('message', (message) => { events.push(message.type) })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/room`)
  client.send(JSON.stringify({ type: 'join', room: 'lobby' }))
  t.same(JSON.parse(await nextMessage(client)), { event: 'joined', detail: 'lobby' })
  client.send(JSON.stringify({ type: 'say', text: 'hi' }))
  t.same(JSON.parse(await nextMessage(client)), { event: 'said', detail: 'hi' })
  t.same(events, ['join', 'say'], "'message' sees every valid message")
  client.send(JSON.stringify({ type: 'say', room: 'lobby' }))
  t.same(await closeEvent(client), { code: 1008, reason: 'Expected required property at /text' }, 'the member the tag selects is checked, not the union')
  const unknown = await connect(`${url}/room`)
  unknown.send(JSON.stringify({ type: 'leave' }))
  t.same(await closeEvent(unknown), { code: 1008, reason: 'unknown message type at /type' })
  for (const notAnObject of ['null', '[1,2]', '"say"']) {
    const untagged = await connect(`${url}/room`)
    untagged.send(notAnObject)
    t.same(await closeEvent(untagged), { code: 1008, reason: 'unknown message type at /type' }, notAnObject)
  }
})

t.test('schema.discriminator renames the tag field', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/kind', {
      websocket: true,
      schema: { discriminator: 'kind', messages: { poke: Type.Object({ n: Type.Integer() }) } }
    }, (socket) => {
      socket.on('poke', (message) => { socket.send(`${message.kind}:${message.n}`) })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/kind`)
  client.send(JSON.stringify({ kind: 'poke', n: 3 }))
  t.equal(await nextMessage(client), 'poke:3')
  client.send(JSON.stringify({ type: 'poke', n: 3 }))
  t.same(await closeEvent(client), { code: 1008, reason: 'unknown message type at /kind' })
})

t.test('a per-type listener added after an await still gets messages sent at once', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/late-typed', { websocket: true, schema: { messages: { n: Type.Object({ v: Type.Number() }) } } }, async (socket) => {
      await messagesArrived(app, '/late-typed')
      socket.on('n', (message) => { socket.sendRaw(String(message.v)) })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/late-typed`)
  client.send(JSON.stringify({ type: 'n', v: 1 }))
  client.send(JSON.stringify({ type: 'n', v: 2 }))
  t.equal(await nextMessage(client), '1')
  t.equal(await nextMessage(client), '2')
  client.close()
})

t.test('outgoing validation: an invalid send throws and sends nothing', async (t) => {
  const errors: string[] = []
  const { app, url } = await listen((app) => {
    app.get('/out', { websocket: { validateSend: true }, schema: { send: Reply } }, (socket) => {
      socket.on('message', (data) => {
        try {
          // @ts-expect-error -- deliberately wrong: echo must be a string
          socket.send({ echo: 42 })
        } catch (error) {
          errors.push((error as { code: string, message: string }).code, (error as Error).message)
        }
        socket.send({ echo: data.toString() })
      })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/out`)
  client.send('x')
  t.same(JSON.parse(await nextMessage(client)), { echo: 'x' }, 'the first thing the client receives is the valid message')
  t.same(errors, ['FST_UPGRADE_INVALID_SEND', 'Refused to send a message that does not match schema.send: Expected string at "/echo"'])
  client.close()
})

t.test('an invalid send from a listener closes with 1011 and is logged, never shown to the client', async (t) => {
  const logs = captureLogs()
  const { app, url } = await listen((app) => {
    app.get('/out', { websocket: true, schema: { send: Reply } }, (socket) => {
      // @ts-expect-error -- deliberately wrong
      socket.on('message', () => { socket.send({ nope: true }) })
    })
  }, { validateSend: true }, { logger: logs.logger })
  t.teardown(() => app.close())
  const client = await connect(`${url}/out`)
  client.send('x')
  t.same(await closeEvent(client), { code: 1011, reason: 'internal error' })
  t.ok(logs.lines.some((line) => line.level === 50 && /schema\.send/.test(line.err?.message ?? '')))
})

t.test('validateSend off: data is sent unchecked; default follows NODE_ENV', async (t) => {
  const { app, url } = await listen((app) => {
    // @ts-expect-error -- deliberately wrong, and not checked
    app.get('/unchecked', { websocket: { validateSend: false }, schema: { send: Reply } }, (socket) => { socket.send({ echo: 1 }) })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/unchecked`)
  t.same(JSON.parse(await nextMessage(client)), { echo: 1 })
  client.close()

  const previous = process.env.NODE_ENV
  for (const [env, sent] of [['production', true], ['development', false]] as const) {
    process.env.NODE_ENV = env
    const { app: envApp, url: envUrl } = await listen((app) => {
      // @ts-expect-error -- deliberately wrong
      app.get('/env', { websocket: true, schema: { send: Reply } }, (socket) => { try { socket.send({ echo: 1 }) } catch { socket.sendRaw('refused') } })
    })
    const envClient = await connect(`${envUrl}/env`)
    t.equal(await nextMessage(envClient), sent ? '{"echo":1}' : 'refused', `NODE_ENV=${env}`)
    envClient.close()
    await envApp.close()
  }
  process.env.NODE_ENV = previous
})

t.test('schema.send allows binary when it says Type.Uint8Array(); sendRaw bypasses the schema', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/bin', { websocket: true, schema: { send: Type.Union([Type.Uint8Array(), Reply]) } }, (socket) => {
      socket.send(Buffer.from('bytes'))
      socket.sendRaw('raw text')
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/bin`)
  t.equal(await nextMessage(client), 'bytes')
  t.equal(await nextMessage(client), 'raw text')
  client.close()
})

t.test('a route without message schemas behaves exactly as before: raw Buffer and isBinary', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/raw', { websocket: true, schema: { querystring: { type: 'object' } } }, (socket) => {
      socket.on('message', (data, isBinary) => {
        socket.send(`${Buffer.isBuffer(data) ? 'buffer' : typeof data}:${String(isBinary)}:${data.toString()}`)
      })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/raw`)
  client.send('not json at all')
  t.equal(await nextMessage(client), 'buffer:false:not json at all')
  client.send(Buffer.from('bin'))
  t.equal(await nextMessage(client), 'buffer:true:bin')
  client.close()
})

t.test('message schemas are checked at registration', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  const noop = (): void => {}
  t.throws(() => app.get('/both', { websocket: true, schema: { message: Chat, messages: { a: Chat } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /either schema\.message or schema\.messages/ })
  t.throws(() => app.get('/reserved', { websocket: true, schema: { messages: { close: Chat } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /schema\.messages\.close .*socket event/ })
  t.throws(() => app.get('/not-object', { websocket: true, schema: { messages: { a: Type.String() as never } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /must be a Type\.Object/ })
  t.throws(() => app.get('/policy', { websocket: { onInvalidMessage: 'explode' as 'close' } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /onInvalidMessage/ })
  t.throws(() => app.get('/validate', { websocket: { validateSend: 'yes' as unknown as boolean } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /validateSend/ })
  await app.close()
  const bad = Fastify()
  bad.register(fastifyUpgrade, { onInvalidMessage: 'explode' as 'close' })
  await t.rejects(async () => { await bad.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION' })
})
