// request.ws: true on a request that is being upgraded to a WebSocket, in every hook and
// in the handler, false otherwise, so that hooks on a dual route can tell its two sides
// apart. It must agree with the route's own dispatch: a request that the HTTP handler
// serves is never `ws`, whatever Upgrade header it carries.
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import { connect, handshake, listen, nextMessage, rawExchange, within } from './helpers.js'

type Seen = Array<[where: string, ws: boolean]>

function record (seen: Seen, where: string) {
  return (request: FastifyRequest, _reply: FastifyReply, done: () => void): void => {
    seen.push([where, request.ws])
    done()
  }
}

/** A dual route, with hooks of every kind recording request.ws, one added before the plugin. */
async function dualApp (): Promise<{ app: FastifyInstance, port: number, url: string, seen: Seen }> {
  const seen: Seen = []
  const app = Fastify()
  app.addHook('onRequest', record(seen, 'onRequest (before the plugin)'))
  await app.register(fastifyUpgrade)
  app.addHook('onRequest', record(seen, 'onRequest (after the plugin)'))
  app.addHook('preParsing', (request, _reply, payload, done) => {
    seen.push(['preParsing', request.ws])
    done(null, payload)
  })
  app.addHook('preValidation', record(seen, 'preValidation'))
  app.addHook('preHandler', record(seen, 'preHandler'))
  app.get('/dual', {
    onRequest: record(seen, 'route onRequest'),
    wsHandler: (socket, request) => {
      seen.push(['wsHandler', request.ws])
      socket.send('websocket side')
    }
  }, async (request) => {
    seen.push(['handler', request.ws])
    return 'http side'
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  return { app, port, url: `ws://127.0.0.1:${port}`, seen }
}

const hooks = ['onRequest (before the plugin)', 'onRequest (after the plugin)', 'route onRequest', 'preParsing', 'preValidation', 'preHandler']

t.test('a dual route: every hook and the handler see true on the upgrade, false on a plain GET', async (t) => {
  const { app, port, url, seen } = await dualApp()
  t.teardown(() => app.close())

  const client = await connect(`${url}/dual`)
  t.equal(await nextMessage(client), 'websocket side')
  client.close()
  t.same(seen, [...hooks.map((hook) => [hook, true]), ['wsHandler', true]], 'the upgrade: true everywhere')

  seen.length = 0
  const plain = await rawExchange(port, 'GET /dual HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(plain.status, 200)
  t.equal(plain.body, 'http side')
  t.same(seen, [...hooks.map((hook) => [hook, false]), ['handler', false]], 'a plain GET: false everywhere')
})

t.test('an upgrade to another protocol than WebSocket is not ws: the HTTP side serves it', async (t) => {
  const { app, port, seen } = await dualApp()
  t.teardown(() => app.close())
  // What `curl --http2 http://...` sends: an h2c upgrade, which this route does not speak.
  const h2c = await rawExchange(port, handshake('/dual', {
    Connection: 'Upgrade, HTTP2-Settings',
    Upgrade: 'h2c',
    'HTTP2-Settings': 'AAMAAABkAARAAAAAAAIAAAAA',
    'Sec-WebSocket-Key': null,
    'Sec-WebSocket-Version': null
  }))
  t.equal(h2c.status, 200)
  t.equal(h2c.body, 'http side')
  t.same(seen, [...hooks.map((hook) => [hook, false]), ['handler', false]], 'false in every hook and in the HTTP handler')
})

t.test('a hook refuses plain requests on a dual route by request.ws', async (t) => {
  const { app, port, url } = await listen((app) => {
    app.get('/sockets-only-here', {
      onRequest: async (request, reply) => {
        if (!request.ws) await reply.code(403).send({ error: 'connect with a WebSocket' })
      },
      wsHandler: (socket) => { socket.send('welcome') }
    }, async () => 'never served')
  })
  t.teardown(() => app.close())
  const plain = await rawExchange(port, 'GET /sockets-only-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(plain.status, 403)
  t.same(JSON.parse(plain.body), { error: 'connect with a WebSocket' })
  const client = await connect(`${url}/sockets-only-here`)
  t.equal(await nextMessage(client), 'welcome')
  client.close()
})

t.test('false where no WebSocket will be accepted: plain routes, 404s and other protocols', async (t) => {
  const seen: Seen = []
  const { app, port } = await listen((app) => {
    app.get('/plain', async (request) => ({ ws: request.ws }))
    app.setNotFoundHandler(async (request, reply) => await reply.code(404).send({ ws: request.ws }))
    app.get('/both', {
      websocket: true,
      upgrade: {
        'line/1': (stream, request) => { stream.end(`ws=${String(request.ws)}\n`) }
      },
      preHandler: record(seen, 'preHandler')
    }, () => {})
  })
  t.teardown(() => app.close())

  const plainRoute = await rawExchange(port, handshake('/plain'))
  t.equal(plainRoute.status, 200, 'a handshake to a route without websocket is served as plain HTTP')
  t.same(JSON.parse(plainRoute.body), { ws: false })
  const notFound = await rawExchange(port, handshake('/nowhere'))
  t.equal(notFound.status, 404)
  t.same(JSON.parse(notFound.body), { ws: false })

  const line = await rawExchange(port, handshake('/both', { Upgrade: 'line/1', 'Sec-WebSocket-Key': null, 'Sec-WebSocket-Version': null }))
  t.equal(line.status, 101)
  t.equal(line.body, 'ws=false\n', 'the line/1 handler sees false')
  t.same(seen, [['preHandler', false]], 'and so did its hooks')
})

t.test('false on HTTP/2 requests', async (t) => {
  const seen: Seen = []
  const app = Fastify({ http2: true }) as unknown as FastifyInstance
  app.addHook('onRequest', record(seen, 'onRequest (before the plugin)'))
  await app.register(fastifyUpgrade)
  app.get('/dual', { wsHandler: () => {} }, async (request) => ({ ws: request.ws }))
  app.get('/ws', { websocket: true }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())

  const session = http2.connect(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`)
  t.teardown(() => { session.destroy() })
  const get = async (path: string): Promise<string> => await within(new Promise<string>((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': path })
    let text = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => { text += chunk })
    stream.on('end', () => { resolve(text) })
    stream.on('error', reject)
    stream.end()
  }), 3000, `the HTTP/2 response to ${path}`)
  t.same(JSON.parse(await get('/dual')), { ws: false })
  t.match(JSON.parse(await get('/ws')), { statusCode: 505, code: 'FST_UPGRADE_HTTP2_UNSUPPORTED' }, 'a WebSocket-only route cannot be reached over HTTP/2')
  t.same(seen, [['onRequest (before the plugin)', false], ['onRequest (before the plugin)', false]])
})

t.test('false on an HTTP/1.0 request with Upgrade (RFC 9110 section 7.8: ignored)', async (t) => {
  const { app, port, seen } = await dualApp()
  t.teardown(() => app.close())
  const response = await rawExchange(port, handshake('/dual', {}, 'GET /dual HTTP/1.0'))
  t.equal(response.status, 200)
  t.equal(response.body, 'http side')
  t.same(seen, [...hooks.map((hook) => [hook, false]), ['handler', false]])
})
