// The three kinds of message schema, over real sockets: TypeBox 0.34 (@sinclair/typebox,
// compiled with its TypeCompiler), TypeBox 1.x (typebox) and plain JSON Schema (both
// compiled with ajv). Each kind gets the same routes and the same messages: valid ones
// delivered, invalid ones closed with the same codes and the same paths, hostile ones
// refused, and schemas that do not compile refused at registration, naming route and key.
import t from 'tap'
import Fastify from 'fastify'
import { Type, type TString } from '@sinclair/typebox'
import { Type as T1 } from 'typebox'
import fastifyUpgrade, { type ObjectMessageSchema } from '../lib/index.js'
import { maxNesting } from '../lib/messages.js'
import { closeEvent, connect, listen, nextMessage } from './helpers.js'

interface SchemaKind {
  name: string
  /** { text: string (at most 20 characters), to?: string[] }, nothing else. */
  chat: object
  /** { echo: string } */
  reply: object
  /** Members of schema.messages: join { room: string }, say { text: string } and nothing else. */
  join: ObjectMessageSchema
  say: ObjectMessageSchema
  /** A recursive schema: { c: Node[] }. */
  tree: object
  /** A schema that does not compile. */
  broken: object
  /** What the schema checker calls a number where a string belongs, a too-long string, and a missing property. */
  says: { notString: string, tooLong: string, missing: string }
}

// Members declared apart from their route `as const`, so that `type` keeps its literal 'object'.
const plainJoin = { type: 'object', properties: { room: { type: 'string' } }, required: ['room'] } as const
const plainSay = { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false } as const
const plainBrokenMember = { type: 'object', properties: { n: { type: 'nonsense' } } } as const

const ajvSays = { notString: 'must be string', tooLong: 'must NOT have more than 20 characters', missing: 'must have required property' }

const kinds: SchemaKind[] = [
  {
    name: 'TypeBox 0.34',
    chat: Type.Object({ text: Type.String({ maxLength: 20 }), to: Type.Optional(Type.Array(Type.String())) }, { additionalProperties: false }),
    reply: Type.Object({ echo: Type.String() }),
    join: Type.Object({ room: Type.String() }),
    say: Type.Object({ text: Type.String() }, { additionalProperties: false }),
    tree: Type.Recursive((Node) => Type.Object({ c: Type.Array(Node) })),
    broken: Type.Ref('Missing'),
    says: { notString: 'Expected string', tooLong: 'Expected string length less or equal to 20', missing: 'Expected required property' }
  },
  {
    name: 'TypeBox 1.x',
    chat: T1.Object({ text: T1.String({ maxLength: 20 }), to: T1.Optional(T1.Array(T1.String())) }, { additionalProperties: false }),
    reply: T1.Object({ echo: T1.String() }),
    join: T1.Object({ room: T1.String() }),
    say: T1.Object({ text: T1.String() }, { additionalProperties: false }),
    tree: T1.Cyclic({ Node: T1.Object({ c: T1.Array(T1.Ref('Node')) }) }, 'Node'),
    broken: T1.Ref('Missing'),
    says: ajvSays
  },
  {
    name: 'plain JSON Schema',
    chat: {
      type: 'object',
      properties: { text: { type: 'string', maxLength: 20 }, to: { type: 'array', items: { type: 'string' } } },
      required: ['text'],
      additionalProperties: false
    },
    reply: { type: 'object', properties: { echo: { type: 'string' } }, required: ['echo'] },
    join: plainJoin,
    say: plainSay,
    tree: { type: 'object', properties: { c: { type: 'array', items: { $ref: '#' } } }, required: ['c'] },
    broken: { type: 'nonsense' },
    says: ajvSays
  }
]

/** A listening app with the kind's schemas on /chat (message + send) and /room (messages + send). */
async function kindServer (kind: SchemaKind) {
  return await listen((app) => {
    app.get('/chat', { websocket: { validateSend: true }, schema: { message: kind.chat, send: kind.reply } }, (socket) => {
      socket.on('message', (message) => { socket.send({ echo: (message as { text: string }).text }) })
    })
    app.get('/room', { websocket: true, schema: { messages: { join: kind.join, say: kind.say }, send: kind.reply } }, (socket) => {
      socket.on('join', (message) => { socket.send({ echo: `joined ${String(message.room)}` }) })
      socket.on('say', (message) => { socket.send({ echo: `said ${String(message.text)}` }) })
      socket.on('message', (message) => { socket.sendRaw(`tag ${message.type}`) })
    })
  })
}

for (const kind of kinds) {
  t.test(`${kind.name}: schema.message and schema.send`, async (t) => {
    const { app, url } = await kindServer(kind)
    t.teardown(() => app.close())

    const client = await connect(`${url}/chat`)
    client.send(JSON.stringify({ text: 'hello', to: ['bob'] }))
    t.same(JSON.parse(await nextMessage(client)), { echo: 'hello' }, 'a valid message arrives decoded; send JSON-encodes')
    client.close()

    const refusals: Array<[string, string | Buffer, { code: number, reason: string }]> = [
      ['a number where a string belongs', JSON.stringify({ text: 'ok', to: ['a', 42] }), { code: 1008, reason: `${kind.says.notString} at /to/1` }],
      ['a string too long', JSON.stringify({ text: 'x'.repeat(21) }), { code: 1008, reason: `${kind.says.tooLong} at /text` }],
      ['a missing property, at its own path', JSON.stringify({ to: [] }), { code: 1008, reason: `${kind.says.missing} at /text` }],
      ['an unexpected property, at its parent and unnamed', JSON.stringify({ text: 'hi', 'SECRET/~key': 1 }), { code: 1008, reason: 'unexpected property' }],
      ['a message of the wrong type altogether', '[1,2]', { code: 1008, reason: kind.name === 'TypeBox 0.34' ? 'Expected object' : 'must be object' }],
      ['malformed JSON', '{"text": ', { code: 1007, reason: 'message is not valid JSON' }],
      ['a binary frame', Buffer.from(JSON.stringify({ text: 'hi' })), { code: 1007, reason: 'binary messages are not accepted' }],
      ['a __proto__ key', '{"text":"hi","__proto__":{"admin":true}}', { code: 1008, reason: 'forbidden __proto__ or constructor.prototype key' }]
    ]
    for (const [what, data, expected] of refusals) {
      const refused = await connect(`${url}/chat`)
      refused.send(data)
      const event = await closeEvent(refused)
      t.same(event, expected, what)
      t.notMatch(event.reason, /SECRET|admin/, `${what}: nothing the peer sent is echoed`)
    }
  })

  t.test(`${kind.name}: schema.messages routes by tag; the member's own schema is checked`, async (t) => {
    const join = JSON.stringify(kind.join)
    const say = JSON.stringify(kind.say)
    const { app, url } = await kindServer(kind)
    t.teardown(() => app.close())
    t.equal(JSON.stringify(kind.join), join, 'the route left its members as they were')
    t.equal(JSON.stringify(kind.say), say)

    const client = await connect(`${url}/room`)
    client.send(JSON.stringify({ type: 'join', room: 'lobby' }))
    t.same(JSON.parse(await nextMessage(client)), { echo: 'joined lobby' }, "the 'join' event")
    t.equal(await nextMessage(client), 'tag join', "and the 'message' event")
    client.send(JSON.stringify({ type: 'say', text: 'hi' }))
    t.same(JSON.parse(await nextMessage(client)), { echo: 'said hi' }, "the 'say' event")
    t.equal(await nextMessage(client), 'tag say')
    client.close()

    const refusals: Array<[string, string, { code: number, reason: string }]> = [
      ['an unknown tag', JSON.stringify({ type: 'leave' }), { code: 1008, reason: 'unknown message type at /type' }],
      ['no tag', JSON.stringify({ room: 'lobby' }), { code: 1008, reason: 'unknown message type at /type' }],
      ['a member field missing', JSON.stringify({ type: 'say', room: 'lobby' }), { code: 1008, reason: `${kind.says.missing} at /text` }],
      ['a member field of the wrong type', JSON.stringify({ type: 'join', room: 7 }), { code: 1008, reason: `${kind.says.notString} at /room` }],
      ['a property the member does not allow (the tag is allowed)', JSON.stringify({ type: 'say', text: 'hi', extra: 1 }), { code: 1008, reason: 'unexpected property' }],
      ['malformed JSON', '{', { code: 1007, reason: 'message is not valid JSON' }],
      ['a __proto__ key', '{"type":"join","room":"x","__proto__":{"admin":true}}', { code: 1008, reason: 'forbidden __proto__ or constructor.prototype key' }]
    ]
    for (const [what, data, expected] of refusals) {
      const refused = await connect(`${url}/room`)
      refused.send(data)
      t.same(await closeEvent(refused), expected, what)
    }
  })

  t.test(`${kind.name}: an invalid send throws FST_UPGRADE_INVALID_SEND and sends nothing`, async (t) => {
    const errors: string[] = []
    const { app, url } = await listen((app) => {
      app.get('/out', { websocket: { validateSend: true }, schema: { send: kind.reply } }, (socket) => {
        for (const wrong of [{ echo: 42 }, {}]) {
          try {
            socket.send(wrong)
          } catch (error) {
            errors.push(`${(error as { code: string }).code}: ${(error as Error).message}`)
          }
        }
        socket.send({ echo: 'valid' })
      })
    })
    t.teardown(() => app.close())
    const client = await connect(`${url}/out`)
    t.same(JSON.parse(await nextMessage(client)), { echo: 'valid' }, 'the first thing the client receives is the valid message')
    t.equal(errors.length, 2)
    t.match(errors[0], /^FST_UPGRADE_INVALID_SEND: .*schema\.send.*\/echo/)
    t.match(errors[1], /^FST_UPGRADE_INVALID_SEND: .*schema\.send.*\/echo/)
    client.close()
  })

  t.test(`${kind.name}: a schema that does not compile is a registration error naming route and key`, async (t) => {
    const app = Fastify()
    await app.register(fastifyUpgrade)
    t.teardown(() => app.close())
    const noop = (): void => {}
    t.throws(() => app.get('/broken-message', { websocket: true, schema: { message: kind.broken } }, noop),
      { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.message \(route \/broken-message\)": the schema does not compile: / })
    t.throws(() => app.get('/broken-send', { websocket: true, schema: { send: kind.broken } }, noop),
      { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.send \(route \/broken-send\)": the schema does not compile: / })
    const brokenMember: ObjectMessageSchema = kind.name === 'TypeBox 0.34'
      ? Type.Object({ n: Type.Ref('Missing') })
      : kind.name === 'TypeBox 1.x'
        ? T1.Object({ n: T1.Ref('Missing') })
        : plainBrokenMember
    t.throws(() => app.get('/broken-member', { websocket: true, schema: { messages: { join: kind.join, poke: brokenMember } } }, noop),
      { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.messages\.poke \(route \/broken-member\)": the schema does not compile: / })
    t.throws(() => app.get('/not-object-member', { websocket: true, schema: { messages: { poke: kind.join, tree: kind.broken as never } } }, noop),
      { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.messages\.tree \(route \/not-object-member\)": each message type must be a Type\.Object\(\)/ })
  })

  t.test(`${kind.name}: a recursive schema refuses deep nesting with 1008, never 1011`, async (t) => {
    const { app, url } = await listen((app) => {
      app.get('/tree', { websocket: true, schema: { message: kind.tree } }, (socket) => {
        socket.on('message', () => { socket.sendRaw('ok') })
      })
    })
    t.teardown(() => app.close())
    const nested = (levels: number): string => `${'{"c":['.repeat(levels)}${']}'.repeat(levels)}`
    const client = await connect(`${url}/tree`)
    client.send(nested(maxNesting / 2))
    t.equal(await nextMessage(client), 'ok', 'a tree as deep as the cap is checked and delivered')
    client.close()
    for (const levels of [maxNesting, 20_000]) {
      const deep = await connect(`${url}/tree`)
      deep.send(nested(levels))
      t.same(await closeEvent(deep), { code: 1008, reason: `nested deeper than ${maxNesting} levels` }, `${levels} levels`)
    }
  })
}

t.test('uniqueItems compares items to any depth: the nesting cap applies, for every kind', async (t) => {
  const schemas = {
    '/tb034': Type.Array(Type.Unknown(), { uniqueItems: true }),
    '/tb1': T1.Array(T1.Unknown(), { uniqueItems: true }),
    '/json': { type: 'array', uniqueItems: true }
  }
  const { app, url } = await listen((app) => {
    for (const [path, schema] of Object.entries(schemas)) {
      app.get(path, { websocket: true, schema: { message: schema } }, (socket) => {
        socket.on('message', () => { socket.sendRaw('ok') })
      })
    }
  })
  t.teardown(() => app.close())
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
  for (const path of Object.keys(schemas)) {
    const client = await connect(`${url}${path}`)
    client.send(JSON.stringify([[1], [2]]))
    t.equal(await nextMessage(client), 'ok', `${path}: a shallow message passes`)
    client.send(`[${deep},${deep}]`)
    t.same(await closeEvent(client), { code: 1008, reason: `nested deeper than ${maxNesting} levels` }, `${path}: a deep one is refused before it is parsed`)
  }
})

t.test('plain JSON Schema and TypeBox 1.x: the details ajv adds', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/email', { websocket: true, schema: { message: T1.Object({ to: T1.String({ format: 'email' }) }) } }, (socket) => {
      socket.on('message', () => { socket.sendRaw('ok') })
    })
    app.get('/escaped', { websocket: true, schema: { message: { type: 'object', required: ['a/b~c'] } } }, () => {})
    app.get('/any', { websocket: { validateSend: true }, schema: { message: {}, send: {} } }, (socket) => {
      socket.on('message', (message) => {
        try {
          socket.send(Buffer.from('bytes'))
        } catch (error) {
          socket.sendRaw(`${(error as Error).message} | ${JSON.stringify(message)}`)
        }
      })
    })
    app.get('/reply', { websocket: { onInvalidMessage: 'reply' }, schema: { message: T1.Object({ n: T1.Integer({ minimum: 1 }) }) } }, () => {})
  })
  t.teardown(() => app.close())

  const email = await connect(`${url}/email`)
  email.send(JSON.stringify({ to: 'ada@example.com' }))
  t.equal(await nextMessage(email), 'ok', 'formats are known (ajv-formats, as Fastify uses)')
  email.send(JSON.stringify({ to: 'not an address' }))
  t.same(await closeEvent(email), { code: 1008, reason: 'must match format "email" at /to' })

  const escaped = await connect(`${url}/escaped`)
  escaped.send('{}')
  t.same(await closeEvent(escaped), { code: 1008, reason: 'must have required property at /a~1b~0c' }, 'the missing property is a JSON pointer')

  const any = await connect(`${url}/any`)
  any.send('[1,"two",null]')
  t.equal(await nextMessage(any), 'Refused to send a message that does not match schema.send: binary data does not match a JSON schema at "" | [1,"two",null]',
    'an empty schema accepts any JSON, but JSON Schema never describes bytes: send() refuses them (sendRaw sends them)')
  any.send(Buffer.from([1]))
  t.same(await closeEvent(any), { code: 1007, reason: 'binary messages are not accepted' })

  const reply = await connect(`${url}/reply`)
  reply.send(JSON.stringify({ n: 0 }))
  t.same(JSON.parse(await nextMessage(reply)), { error: { code: 'FST_UPGRADE_INVALID_MESSAGE', path: '/n', message: 'must be >= 1' } })
  reply.send(JSON.stringify({ n: 1.5 }))
  t.same(JSON.parse(await nextMessage(reply)), { error: { code: 'FST_UPGRADE_INVALID_MESSAGE', path: '/n', message: 'must be integer' } })
  reply.close()
})

t.test('a TypeBox 1.x union reports the union, as TypeBox 0.34 does', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/union', { websocket: true, schema: { message: T1.Union([T1.Object({ n: T1.Number() }), T1.Object({ s: T1.String() })]) } }, () => {})
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/union`)
  client.send(JSON.stringify({ n: 'x' }))
  t.same(await closeEvent(client), { code: 1008, reason: 'must match a schema in anyOf' })
})

t.test('mixed schemas: TypeBox 1.x parts inside a TypeBox 0.34 Type.Object are checked with the rest', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/mixed', {
      websocket: true,
      schema: {
        // TypeBox 0.34's types refuse 1.x parts (hence the casts); at run time they are JSON Schema like the rest
        message: Type.Object({ text: T1.String({ maxLength: 5 }) as unknown as TString }),
        send: Type.Object({ echo: T1.String() as unknown as TString })
      }
    }, (socket) => {
      socket.on('message', (message) => { socket.send({ echo: (message as { text: string }).text }) })
    })
    app.get('/mixed-members', { websocket: true, schema: { messages: { say: Type.Object({ text: T1.String() as unknown as TString }) } } }, (socket) => {
      socket.on('say', (message) => { socket.sendRaw(String(message.text)) })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/mixed`)
  client.send(JSON.stringify({ text: 'hi' }))
  t.same(JSON.parse(await nextMessage(client)), { echo: 'hi' })
  client.send(JSON.stringify({ text: 'too long' }))
  t.same(await closeEvent(client), { code: 1008, reason: 'must NOT have more than 5 characters at /text' })
  const members = await connect(`${url}/mixed-members`)
  members.send(JSON.stringify({ type: 'say', text: 'hey' }))
  t.equal(await nextMessage(members), 'hey')
  members.send(JSON.stringify({ type: 'say', text: 1 }))
  t.same(await closeEvent(members), { code: 1008, reason: 'must be string at /text' })
})

t.test('schemas that reuse an $id compile side by side (each has its own ajv instance)', async (t) => {
  const Tree = T1.Cyclic({ Node: T1.Object({ c: T1.Array(T1.Ref('Node')) }) }, 'Node')
  const Other = T1.Cyclic({ Node: T1.Object({ n: T1.Number(), next: T1.Optional(T1.Ref('Node')) }) }, 'Node')
  const { app, url } = await listen((app) => {
    app.get('/a', { websocket: true, schema: { message: Tree, send: Other } }, (socket) => {
      socket.on('message', () => { socket.send({ n: 1, next: { n: 2 } }) })
    })
    app.get('/b', { websocket: true, schema: { messages: { tree: T1.Object({ root: Tree }), list: T1.Object({ head: Other }) } } }, (socket) => {
      socket.on('message', (message) => { socket.sendRaw((message as { type: string }).type) })
    })
  })
  t.teardown(() => app.close())
  const a = await connect(`${url}/a`)
  a.send(JSON.stringify({ c: [{ c: [] }] }))
  t.same(JSON.parse(await nextMessage(a)), { n: 1, next: { n: 2 } })
  a.close()
  const b = await connect(`${url}/b`)
  b.send(JSON.stringify({ type: 'list', head: { n: 1, next: { n: 2 } } }))
  t.equal(await nextMessage(b), 'list')
  b.send(JSON.stringify({ type: 'tree', root: { c: [{ c: [] }] } }))
  t.equal(await nextMessage(b), 'tree')
  b.send(JSON.stringify({ type: 'list', head: { n: 1, next: { n: 'two' } } }))
  t.same(await closeEvent(b), { code: 1008, reason: 'must be number at /head/next/n' })
})

t.test('registration refuses what is not a schema, and what ajv would not check as written', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.teardown(() => app.close())
  const noop = (): void => {}
  for (const notSchema of ['object', null, [], 42]) {
    t.throws(() => app.get('/not-schema', { websocket: true, schema: { message: notSchema as never } }, noop),
      { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.message \(route \/not-schema\)": must be a schema object/ }, JSON.stringify(notSchema))
  }
  for (const notObject of [T1.String(), { type: 'array' }, { properties: {} }, 'object', null]) {
    t.throws(() => app.get('/not-object', { websocket: true, schema: { messages: { poke: notObject as never } } }, noop),
      { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.messages\.poke \(route \/not-object\)": each message type must be a Type\.Object\(\)/ }, JSON.stringify(notObject))
  }
  t.throws(() => app.get('/typo', { websocket: true, schema: { message: { type: 'string', maxLenght: 3 } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.message \(route \/typo\)": the schema does not compile: strict mode: unknown keyword: "maxLenght"/ },
    'an unknown keyword (a typo would otherwise check nothing)')
  t.throws(() => app.get('/format', { websocket: true, schema: { send: T1.String({ format: 'postcode' }) } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.send \(route \/format\)": the schema does not compile: unknown format "postcode"/ })
  t.throws(() => app.get('/draft', { websocket: true, schema: { message: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'string' } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.message \(route \/draft\)": the schema does not compile: / },
    'a JSON Schema draft other than draft-07 (what Fastify validates with)')
  t.throws(() => app.get('/async', { websocket: true, schema: { message: { $async: true, type: 'string' } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.message \(route \/async\)": the schema does not compile: \$async schemas are not supported/ },
    'an $async schema (its check is a promise, which would pass every message)')
  t.throws(() => app.get('/async-member', { websocket: true, schema: { messages: { poke: { type: 'object', properties: { n: { $async: true, type: 'number' } } } } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.messages\.poke \(route \/async-member\)": the schema does not compile: async schema in sync schema/ })
  t.throws(() => app.get('/invalid', { websocket: true, schema: { message: { type: 'string', maxLength: -1 } } }, noop),
    { code: 'FST_UPGRADE_INVALID_OPTION', message: /"schema\.message \(route \/invalid\)": the schema does not compile: schema is invalid: schema\/maxLength must be >= 0/ })
})

t.test('a member declaring the tag field itself, or with no properties, gets the tag it is routed by', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/tags', {
      websocket: true,
      schema: {
        discriminator: 'kind',
        messages: {
          bare: { type: 'object' },
          named: { type: 'object', properties: { kind: { type: 'string' }, n: { type: 'integer' } }, required: ['kind', 'n'], additionalProperties: false },
          loose: T1.Object({ n: T1.Optional(T1.Integer()) })
        }
      }
    }, (socket) => {
      socket.on('message', (message) => { socket.sendRaw(JSON.stringify(message)) })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/tags`)
  for (const message of [{ kind: 'bare' }, { kind: 'bare', any: 'thing' }, { kind: 'named', n: 1 }, { kind: 'loose' }]) {
    client.send(JSON.stringify(message))
    t.same(JSON.parse(await nextMessage(client)), message)
  }
  client.send(JSON.stringify({ kind: 'named', n: 1, other: true }))
  t.same(await closeEvent(client), { code: 1008, reason: 'unexpected property' })
})
