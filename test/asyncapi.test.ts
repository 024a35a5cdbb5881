// app.asyncapi(): the documents of the chat demo and of an app with every route form and
// schema kind (test/fixtures/asyncapi-kitchen-sink.ts), each validated by @asyncapi/parser
// and checked route by route; the option, its errors, and GET <path>.json.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import { Parser } from '@asyncapi/parser'
import fastifyUpgrade, { type AsyncApiDocument, type FastifyUpgradeOptions } from '../lib/index.js'
import { AsyncApiCatalog } from '../lib/asyncapi.js'
import { resolvePluginOptions } from '../lib/options.js'
import { buildChatApp } from '../examples/chat/app.js'
import { buildKitchenSink } from './fixtures/asyncapi-kitchen-sink.js'

const parser = new Parser()

/** Parses the document as AsyncAPI tools do; fails the test on any error diagnostic. */
async function validate (t: Test, document: AsyncApiDocument): Promise<void> {
  const { document: parsed, diagnostics } = await parser.parse(JSON.stringify(document))
  const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0).map((diagnostic) => `${diagnostic.code}: ${diagnostic.message} at /${diagnostic.path.join('/')}`)
  t.same(errors, [], '@asyncapi/parser reports no error')
  t.same(diagnostics.map((diagnostic) => diagnostic.code), [], 'nor any warning or hint')
  t.ok(parsed !== undefined, 'and returns the parsed document')
}

const ref = (pointer: string): { $ref: string } => ({ $ref: pointer })

t.test('the chat demo documents itself: its room channel, messages and operations', async (t) => {
  const app = await buildChatApp()
  t.teardown(() => app.close())
  await app.ready()
  const document = app.asyncapi()
  await validate(t, document)
  t.equal(document.asyncapi, '3.1.0')
  t.same(document.info, { title: 'fastify-upgrade chat', version: '1.0.0', description: 'The chat demo: rooms by URL, typed messages, presence.' })
  t.same(Object.keys(document.channels), ['chat_room', 'echo', 'chat_part'], 'one channel per WebSocket route (none for the HTTP routes or the document\'s own), then one per typed topic')
  const topic = document.channels.chat_part
  t.equal(topic?.address, 'chat:{part}', 'the topic pattern chat:*, its wildcard a parameter')
  t.match(topic?.description, /^Topic pattern `chat:\*`/)
  t.same(Object.keys(topic?.messages ?? {}), ['message'])
  t.same((topic?.messages.message?.payload as { anyOf: unknown[] }).anyOf.length, 2, 'the topic\'s schema: presence or said')
  const chat = document.channels.chat_room
  t.equal(chat?.address, '/chat/{room}')
  t.equal(chat?.summary, 'A chat room')
  t.match(chat?.description, /^Join with a name/)
  t.same(chat?.tags, [{ name: 'chat' }])
  t.same(chat?.parameters, { room: { description: 'The room: lower-case letters, digits and dashes (string, pattern `^[a-z0-9-]{1,32}$`)' } })
  t.same(Object.keys(chat?.messages ?? {}), ['join', 'say', 'here', 'send'], 'each schema.messages member by its tag, then schema.send')
  t.same(chat?.messages.join, {
    name: 'join',
    contentType: 'application/json',
    payload: {
      type: 'object',
      required: ['name', 'type'],
      properties: { name: { minLength: 1, maxLength: 24, type: 'string' }, type: { const: 'join', type: 'string' } }
    }
  }, 'a member carries its tag, as the route checks it')
  t.same((chat?.messages.send?.payload as { anyOf: unknown[] }).anyOf.length, 2, 'schema.send: the union of what the server sends')
  t.same(chat?.bindings, { ws: { method: 'GET', bindingVersion: '0.1.0' } })
  t.same(document.operations, {
    chat_room_receive: { action: 'receive', channel: ref('#/channels/chat_room'), messages: [ref('#/channels/chat_room/messages/join'), ref('#/channels/chat_room/messages/say'), ref('#/channels/chat_room/messages/here')], tags: [{ name: 'chat' }] },
    chat_room_send: { action: 'send', channel: ref('#/channels/chat_room'), messages: [ref('#/channels/chat_room/messages/send')], tags: [{ name: 'chat' }] },
    echo_receive: { action: 'receive', channel: ref('#/channels/echo'), messages: [ref('#/channels/echo/messages/message')], tags: [{ name: 'tools' }] },
    echo_send: { action: 'send', channel: ref('#/channels/echo'), messages: [ref('#/channels/echo/messages/send')], tags: [{ name: 'tools' }] },
    chat_part_send: { action: 'send', channel: ref('#/channels/chat_part'), messages: [ref('#/channels/chat_part/messages/message')] }
  }, 'from the server\'s side: it receives what clients send and sends schema.send')
  t.same(document.channels.echo?.messages, {
    message: { name: 'message', summary: 'Any text or binary message (no schema.message)' },
    send: { name: 'send', summary: 'Any text or binary message (no schema.send)' }
  }, 'a route without schemas: messages of any content')
})

t.test('every route form and schema kind', async (t) => {
  const app = await buildKitchenSink()
  t.teardown(() => app.close())
  await app.ready()
  const document = app.asyncapi()
  await validate(t, document)
  t.same(Object.keys(document.channels), ['raw', 'rooms_room_mode', 'v1_tree', 'files', 'upload_name.ext', 'line', 'both_colon', 'api_echo'],
    'shorthand, options-with-handler, route(), wsHandler, upgrade-only, both, prefixed; hidden and plain HTTP routes left out')
  t.same(Object.keys(document.operations), Object.keys(document.channels).flatMap((id) => [`${id}_receive`, `${id}_send`]), 'a receive and a send operation per route')

  t.test('TypeBox 0.34: tagged union with its discriminator, params, shared querystring, headers, subprotocols, summary/description/tags', async (t) => {
    t.same(document.channels.rooms_room_mode, {
      address: '/rooms/{room}/{mode}',
      summary: 'A room',
      description: 'Talk in a room.',
      tags: [{ name: 'rooms' }, { name: 'chat' }],
      parameters: {
        room: { description: 'The room (string, pattern `^[a-z]+$`)' },
        mode: { enum: ['read', 'write'], default: 'read' }
      },
      messages: {
        say: {
          name: 'say',
          description: 'Says something',
          contentType: 'application/json',
          payload: { description: 'Says something', type: 'object', required: ['text', 'kind'], properties: { text: { maxLength: 280, type: 'string' }, kind: { const: 'say', type: 'string' } } }
        },
        leave: { name: 'leave', contentType: 'application/json', payload: { type: 'object', required: ['kind'], properties: { kind: { const: 'leave', type: 'string' } } } },
        send: { name: 'send', contentType: 'application/json', payload: { type: 'object', required: ['from', 'text'], properties: { from: { type: 'string' }, text: { type: 'string' } } } }
      },
      bindings: {
        ws: {
          method: 'GET',
          query: ref('#/components/schemas/paging'),
          headers: {
            required: ['x-client', 'sec-websocket-protocol'],
            type: 'object',
            properties: {
              'sec-websocket-protocol': { type: 'string', description: 'The subprotocols the client offers; the route speaks chat.v2, chat.v1 (most preferred first)' },
              'x-client': { examples: ['cli/1'], type: 'string' }
            }
          },
          bindingVersion: '0.1.0'
        }
      },
      'x-websocket-subprotocols': ['chat.v2', 'chat.v1']
    })
    t.same(document.components, {
      schemas: { paging: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 100 }, cursor: { type: 'string' } } } }
    }, 'the shared schema (app.addSchema) the querystring refers to, once, under its $id')
    t.same(document.operations.rooms_room_mode_receive, {
      action: 'receive',
      channel: ref('#/channels/rooms_room_mode'),
      messages: [ref('#/channels/rooms_room_mode/messages/say'), ref('#/channels/rooms_room_mode/messages/leave')],
      tags: [{ name: 'rooms' }, { name: 'chat' }]
    })
  })

  t.test('TypeBox 1.x: no ~kind or other markers; Type.Cyclic\'s $id reference becomes a pointer into the document', async (t) => {
    t.same(document.channels.v1_tree?.messages, {
      message: { name: 'message', contentType: 'application/json', payload: { type: 'object', required: ['depth'], properties: { depth: { type: 'integer', minimum: 0 }, big: { type: 'string' } } } },
      send: {
        name: 'send',
        contentType: 'application/json',
        payload: {
          $defs: {
            Node: {
              type: 'object',
              required: ['id', 'nodes'],
              properties: { id: { type: 'string' }, nodes: { type: 'array', items: ref('#/channels/v1_tree/messages/send/payload/$defs/Node') } }
            }
          },
          $ref: '#/channels/v1_tree/messages/send/payload/$defs/Node'
        }
      }
    })
    t.notMatch(JSON.stringify(document), /~kind|~optional|"\$id"/, 'nowhere in the document')
  })

  t.test('JSON Schema with $id and $ref (wsHandler route); binary sends as application/octet-stream', async (t) => {
    const files = document.channels.files
    t.equal(files?.address, '/files/{*}', 'the wildcard is Fastify\'s params[\'*\']')
    t.same(files?.parameters, { '*': {} })
    const payload = '#/channels/files/messages/message/payload'
    t.same(files?.messages.message?.payload, {
      type: 'object',
      definitions: {
        label: { type: 'string', maxLength: 40 },
        node: {
          type: 'object',
          properties: { label: ref(`${payload}/definitions/label`), children: { type: 'array', items: ref(`${payload}/definitions/node`) } },
          required: ['label']
        }
      },
      properties: { root: ref(`${payload}/definitions/node`), title: ref(`${payload}/definitions/label`) },
      required: ['root']
    }, 'references by $id (node.json), by another resource\'s pointer (tree.json#/...) and to a resource\'s own root (#) all resolved')
    t.same(files?.messages['send.binary'], {
      name: 'send.binary',
      description: 'The file, in chunks',
      contentType: 'application/octet-stream',
      payload: { type: 'string', format: 'binary' }
    }, 'the Type.Uint8Array() member of the union: binary frames')
    t.same(files?.messages.send?.payload, { type: 'object', required: ['done'], properties: { done: { type: 'boolean' } } }, 'the rest of the union: JSON')
    t.same(document.operations.files_send?.messages, [ref('#/channels/files/messages/send'), ref('#/channels/files/messages/send.binary')])
  })

  t.test('binary in; a subprotocol chosen by selectProtocol; multi-parameter segments', async (t) => {
    t.same(document.channels['upload_name.ext'], {
      address: '/upload/{name}.{ext}',
      parameters: { name: {}, ext: {} },
      messages: {
        'message.binary': { name: 'message.binary', contentType: 'application/octet-stream', payload: { type: 'string', format: 'binary' } },
        send: { name: 'send', summary: 'Any text or binary message (no schema.send)' }
      },
      bindings: {
        ws: {
          method: 'GET',
          headers: { type: 'object', properties: { 'sec-websocket-protocol': { type: 'string', description: 'The subprotocols the client offers; the route\'s selectProtocol chooses one' } } },
          bindingVersion: '0.1.0'
        }
      }
    }, 'not required: requireProtocol is false')
  })

  t.test('other protocols: the raw stream, and the protocols by name', async (t) => {
    t.same(document.channels.line, {
      address: '/line',
      messages: { stream: { name: 'stream', summary: 'The raw line/1 stream after 101 Switching Protocols', contentType: 'application/octet-stream', payload: { type: 'string', format: 'binary' } } },
      'x-upgrade-protocols': ['line/1']
    }, 'no ws binding: the route does not speak WebSocket')
    t.same(document.operations.line_receive, { action: 'receive', channel: ref('#/channels/line'), messages: [ref('#/channels/line/messages/stream')] })
    t.equal(document.channels.both_colon?.address, '/both:colon', 'Fastify\'s :: is a colon')
    t.same(document.channels.both_colon?.['x-upgrade-protocols'], ['raw/2'])
    t.ok(document.channels.both_colon?.bindings?.ws, 'a route that speaks WebSocket and another protocol has both')
  })
})

t.test('the option: info, servers and extra fields', async (t) => {
  const app = await buildKitchenSink({
    asyncapi: {
      info: { title: 'Kitchen sink', description: 'Everything', 'x-logo': 'https://example.com/logo.png' },
      servers: { local: { host: '127.0.0.1:3000', protocol: 'ws', description: 'Development' } },
      extra: {
        id: 'urn:example:kitchen-sink',
        defaultContentType: 'application/json',
        'x-generator': 'fastify-upgrade',
        components: { schemas: { paging: { type: 'string' } }, messages: { ping: { payload: { type: 'null' } } } }
      }
    }
  })
  t.teardown(() => app.close())
  await app.ready()
  const document = app.asyncapi()
  await validate(t, document)
  t.same(Object.keys(document), ['asyncapi', 'info', 'servers', 'id', 'defaultContentType', 'x-generator', 'channels', 'operations', 'components'])
  t.same(document.info, { title: 'Kitchen sink', version: '1.0.0', description: 'Everything', 'x-logo': 'https://example.com/logo.png' }, 'over the default info')
  t.same(document.servers, { local: { host: '127.0.0.1:3000', protocol: 'ws', description: 'Development' } })
  t.same(document.components, {
    schemas: { paging: { type: 'string' }, paging_2: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 100 }, cursor: { type: 'string' } } } },
    messages: { ping: { payload: { type: 'null' } } }
  }, 'the given components kept; a shared schema placed beside them under a free name')
  t.same(document.channels.rooms_room_mode?.bindings?.ws.query, ref('#/components/schemas/paging_2'))

  document.info.title = 'changed'
  t.equal(app.asyncapi().info.title, 'Kitchen sink', 'each call returns a copy')
})

t.test('app.asyncapi() before ready() is refused: routes of plugins not loaded yet would be missing', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.get('/ws', { websocket: true }, (socket) => { socket.close() })
  t.throws(() => app.asyncapi(), { code: 'FST_UPGRADE_ASYNCAPI_NOT_READY' })
  await app.ready()
  t.same(Object.keys(app.asyncapi().channels), ['ws'])
  t.same(app.asyncapi().info, { title: 'WebSocket API', version: '1.0.0' }, 'the default info')
  await app.close()
})

t.test('GET <path>.json serves the document; without the viewer, nothing at <path>', async (t) => {
  const app = await buildKitchenSink({ asyncapi: { path: '/docs/asyncapi', viewer: false } })
  t.teardown(() => app.close())
  const response = await app.inject('/docs/asyncapi.json')
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'application/json; charset=utf-8')
  t.same(response.json(), app.asyncapi())
  t.equal((await app.inject('/docs/asyncapi')).statusCode, 404)
  t.notOk(Object.keys(app.asyncapi().channels).some((id) => id.startsWith('docs')), 'the document\'s routes are not channels')
})

t.test('declared channels (the hook for topics): what the server publishes on them', async (t) => {
  const catalog = new AsyncApiCatalog(resolvePluginOptions({}).asyncapi)
  catalog.declare([
    { name: 'rooms.{room}', schema: Type.Object({ text: Type.String() }), description: 'What is said in a room' },
    { name: 'news' }
  ])
  catalog.ready()
  const document = catalog.document()
  await validate(t, document)
  t.same(document.channels, {
    'rooms.room': {
      address: 'rooms.{room}',
      description: 'What is said in a room',
      parameters: { room: {} },
      messages: { message: { name: 'message', contentType: 'application/json', payload: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } } } }
    },
    news: { address: 'news', messages: { message: { name: 'message', summary: 'Any text or binary message (no schema)' } } }
  })
  t.same(document.operations, {
    'rooms.room_send': { action: 'send', channel: ref('#/channels/rooms.room'), messages: [ref('#/channels/rooms.room/messages/message')] },
    news_send: { action: 'send', channel: ref('#/channels/news'), messages: [ref('#/channels/news/messages/message')] }
  })
  catalog.declare([{ name: 'news' }])
  t.same(Object.keys(catalog.document().channels), ['rooms.room', 'news', 'news_2'], 'declaring more rebuilds the document; ids stay unique')
})

t.test('channel and message ids stay unique', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.get('/a/:b', { websocket: true }, (socket) => { socket.close() })
  app.get('/a/b', { websocket: true, schema: { messages: { send: Type.Object({}) }, send: Type.Object({}) } }, (socket) => { socket.close() })
  app.get('/', { websocket: true }, (socket) => { socket.close() })
  await app.ready()
  const document = app.asyncapi()
  await validate(t, document)
  t.same(Object.keys(document.channels), ['a_b', 'a_b_2', 'root'])
  t.same(Object.keys(document.channels.a_b_2?.messages ?? {}), ['send', 'send_2'], 'a member named send keeps its tag; schema.send takes the next id')
  await app.close()
})

t.test('corners: parameters, headers, shared schemas, ids', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.addSchema({ $id: 'headers', type: 'object', properties: { 'x-token': { type: 'string' } } })
  app.addSchema({ $id: '__', type: 'object', properties: { page: { type: 'integer' } } })
  app.get('/p/:plain/:described/:words/:listed/:constant/:id(^\\d+$)', {
    websocket: { protocols: ['v1'], requireProtocol: false },
    schema: {
      params: {
        type: 'object',
        properties: {
          described: { type: 'string', description: 'Only a description', examples: ['one', 2] },
          words: { description: 'Just words' },
          listed: { enum: ['a', 'b'] },
          constant: { const: 'c' },
          id: { type: 'string', description: 'Digits', pattern: '^\\d+$' }
        }
      },
      querystring: { $ref: '__#' },
      headers: { type: 'object', properties: { 'X-Token': { type: 'string' } } }
    }
  }, (socket) => { socket.close() })
  app.get('/h/shared', { websocket: { protocols: ['v1'] }, schema: { headers: { $ref: 'headers#' }, querystring: { $ref: '__#' } } }, (socket) => { socket.close() })
  app.get('/h/optional', { websocket: { protocols: ['v1'], requireProtocol: false }, schema: { headers: { $ref: 'headers#' } } }, (socket) => { socket.close() })
  app.get('/h/required', { websocket: { protocols: ['v1'] }, schema: { headers: { type: 'object', properties: { 'X-Token': { type: 'string' } }, required: ['X-Token'] } } }, (socket) => { socket.close() })
  app.get('/h/plain', { websocket: { protocols: ['v1'] }, schema: { headers: { type: 'object', properties: {} } } }, (socket) => { socket.close() })
  app.get('/h-shared', { websocket: true }, (socket) => { socket.close() })
  app.get('/h_shared', { websocket: true }, (socket) => { socket.close() })
  app.get('/h/shared/', { websocket: true }, (socket) => { socket.close() })
  app.get('/bytes', {
    websocket: true,
    schema: {
      message: Type.Union([Type.Uint8Array(), Type.Object({ a: Type.String() }), Type.Object({ b: Type.String() })], { description: 'Bytes or JSON' }),
      send: Type.Union([Type.Uint8Array({ description: 'Chunks' }), Type.Union([Type.Uint8Array()])])
    }
  }, (socket) => { socket.close() })
  await app.ready()
  const document = app.asyncapi()
  await validate(t, document)
  t.same(Object.keys(document.channels), ['p_plain_described_words_listed_constant_id', 'h_shared', 'h_optional', 'h_required', 'h_plain', 'h-shared', 'h_shared_2', 'h_shared_3', 'bytes'])
  const params = document.channels.p_plain_described_words_listed_constant_id
  t.equal(params?.address, '/p/{plain}/{described}/{words}/{listed}/{constant}/{id}', 'a parameter\'s regular expression (escapes included) is not part of the address')
  t.same(params?.parameters, {
    plain: {},
    described: { description: 'Only a description (string)', examples: ['one', '2'] },
    words: { description: 'Just words' },
    listed: { enum: ['a', 'b'] },
    constant: { enum: ['c'] },
    id: { description: 'Digits (string, pattern `^\\d+$`)' }
  })
  t.same(params?.bindings?.ws.headers, {
    type: 'object',
    properties: { 'sec-websocket-protocol': { type: 'string', description: 'The subprotocols the client offers; the route speaks v1 (most preferred first)' }, 'x-token': { type: 'string' } }
  }, 'no required list where nothing is required')
  t.same(document.channels.h_shared?.bindings?.ws, {
    method: 'GET',
    query: ref('#/components/schemas/schema'),
    headers: {
      type: 'object',
      properties: { 'sec-websocket-protocol': { type: 'string', description: 'The subprotocols the client offers; the route speaks v1 (most preferred first)' } },
      required: ['sec-websocket-protocol'],
      allOf: [ref('#/components/schemas/headers')]
    },
    bindingVersion: '0.1.0'
  }, 'a headers schema that is a reference: the subprotocol header beside it')
  t.same(document.channels.h_optional?.bindings?.ws.headers, {
    type: 'object',
    properties: { 'sec-websocket-protocol': { type: 'string', description: 'The subprotocols the client offers; the route speaks v1 (most preferred first)' } },
    allOf: [ref('#/components/schemas/headers')]
  })
  t.same((document.channels.h_required?.bindings?.ws.headers as { required: string[] }).required, ['x-token', 'sec-websocket-protocol'])
  t.same((document.channels.h_plain?.bindings?.ws.headers as { required: string[] }).required, ['sec-websocket-protocol'])
  t.same(document.channels.bytes?.messages, {
    message: {
      name: 'message',
      description: 'Bytes or JSON',
      contentType: 'application/json',
      payload: { description: 'Bytes or JSON', anyOf: [{ type: 'object', required: ['a'], properties: { a: { type: 'string' } } }, { type: 'object', required: ['b'], properties: { b: { type: 'string' } } }] }
    },
    'message.binary': { name: 'message.binary', contentType: 'application/octet-stream', payload: { type: 'string', format: 'binary' } },
    'send.binary': { name: 'send.binary', description: 'Chunks', contentType: 'application/octet-stream', payload: { type: 'string', format: 'binary' } }
  }, 'a union split by frame: its JSON members (as a union) and its bytes; a union of bytes only has no JSON message')
  t.same(document.components, {
    schemas: {
      schema: { type: 'object', properties: { page: { type: 'integer' } } },
      headers: { type: 'object', properties: { 'x-token': { type: 'string' } } }
    }
  }, 'each shared schema once, however many routes refer to it; an $id without a usable character gets a name')
  await app.close()
})

t.test('registration errors: the option, and the documentation keys of a route', async (t) => {
  const cases: Array<[string, FastifyUpgradeOptions['asyncapi'] | string, RegExp]> = [
    ['not an object', 'docs', /"asyncapi": must be an object/],
    ['a misspelt name', { pth: '/docs' } as never, /"asyncapi\.pth": unknown option; did you mean path\?/],
    ['info not an object', { info: [] as never }, /"asyncapi\.info": must be an object/],
    ['info.title not a string', { info: { title: 1 as never } }, /"asyncapi\.info\.title": must be a string/],
    ['a server without protocol', { servers: { local: { host: 'localhost' } as never } }, /"asyncapi\.servers\.local\.protocol": must be a string/],
    ['a server not an object', { servers: { local: null as never } }, /"asyncapi\.servers\.local": must be an object/],
    ['extra.channels', { extra: { channels: {} } as never }, /"asyncapi\.extra\.channels": channels come from the routes/],
    ['extra.info', { extra: { info: {} } as never }, /is the asyncapi\.info option/],
    ['a misspelt extra field', { extra: { defaultContentTyp: 'x' } as never }, /did you mean defaultContentType\?/],
    ['a path with a parameter', { path: '/docs/:id' }, /"asyncapi\.path": must be a URL path of plain segments/],
    ['a path ending with /', { path: '/docs/' }, /"asyncapi\.path"/],
    ['a viewer without path', { viewer: true }, /"asyncapi\.viewer": the viewer page is served at asyncapi\.path/],
    ['viewer not a boolean', { path: '/docs', viewer: 'yes' as never }, /"asyncapi\.viewer": must be a boolean/]
  ]
  for (const [name, asyncapi, message] of cases) {
    const app = Fastify()
    app.register(fastifyUpgrade, { asyncapi: asyncapi as never })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION', message }, name)
  }
  const routeCases: Array<[string, object, RegExp]> = [
    ['summary', { summary: 1 }, /"schema\.summary \(route \/ws\)": must be a string/],
    ['description', { description: ['x'] }, /"schema\.description \(route \/ws\)": must be a string/],
    ['tags', { tags: 'chat' }, /"schema\.tags \(route \/ws\)": must be a list of strings/],
    ['tags of non-strings', { tags: [1] }, /"schema\.tags \(route \/ws\)": must be a list of strings/]
  ]
  for (const [name, schema, message] of routeCases) {
    const app = Fastify()
    await app.register(fastifyUpgrade)
    t.throws(() => app.get('/ws', { websocket: true, schema: schema as never }, (socket) => { socket.close() }), { code: 'FST_UPGRADE_INVALID_OPTION', message }, name)
    await app.close()
  }
  const app = Fastify()
  await app.register(fastifyUpgrade)
  t.throws(() => app.get('/ws', { websocket: { asyncapi: {} } as never }, (socket) => { socket.close() }), { message: /asyncapi is a plugin-wide option/ }, 'a route cannot set it')
  await app.close()
})

t.test('typed topics: a channel per websocketTopic() pattern, each * a parameter of its own', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.websocketTopic('game:*:move:*', Type.Object({ x: Type.Integer(), y: Type.Integer() }))
  app.websocketTopic('news', { type: 'string' })
  await app.ready()
  t.teardown(() => app.close())
  const document = app.asyncapi()
  await validate(t, document)
  t.same(Object.fromEntries(Object.entries(document.channels).map(([id, channel]) => [id, [channel.address, Object.keys(channel.parameters ?? {})]])), {
    game_part_move_part2: ['game:{part}:move:{part2}', ['part', 'part2']],
    news: ['news', []]
  })
  t.same(document.channels.news?.messages.message?.payload, { type: 'string' }, 'the topic\'s schema is the message\'s payload')
  t.same(Object.keys(document.operations), ['game_part_move_part2_send', 'news_send'], 'what the server sends on each')
})
