// The ws internals lib/ws-internals.ts relies on, checked against the installed ws: if
// ws changes one of them (its server's `options`, PerMessageDeflate's constructor and
// negotiation, the socket's `_protocol`/`_extensions`, `setSocket` and its guarded calls
// to socket methods a bare Duplex lacks), this file fails and names it.
import type { IncomingMessage } from 'node:http'
import { Duplex } from 'node:stream'
import t from 'tap'
import { WebSocket, WebSocketServer, type ServerOptions } from 'ws'
import { chooseProtocol, negotiateExtensions, openSocket } from '../lib/ws-internals.js'
import { closeEvent, nextMessage, track, validKey, within } from './helpers.js'

/** One end of an in-memory connection: a Duplex without setNoDelay or setTimeout, as an HTTP/2 stream lacks the first. */
class End extends Duplex {
  peer: End | undefined
  override _read (): void {}
  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const peer = this.peer as End
    process.nextTick(() => { peer.push(chunk) })
    callback()
  }

  override _final (callback: () => void): void {
    const peer = this.peer as End
    process.nextTick(() => { peer.push(null) })
    callback()
  }
}

function pair (): [End, End] {
  const a = new End()
  const b = new End()
  a.peer = b
  b.peer = a
  return [a, b]
}

/** A ws client over `end`: a WebSocket made without an address (server mode), switched to client mode. */
function clientOver (end: Duplex, protocol = ''): WebSocket {
  const client = track(new WebSocket(null as unknown as string, undefined, { autoPong: true, closeTimeout: 1000 } as object))
  const internals = client as unknown as { _isServer: boolean, _protocol: string, setSocket: (socket: Duplex, head: Buffer, options: object) => void }
  internals._isServer = false
  internals._protocol = protocol
  internals.setSocket(end, Buffer.alloc(0), { maxPayload: 0 })
  return client
}

t.test('openSocket: the server\'s WebSocket class and options over a bare Duplex, tracked among its clients', async (t) => {
  class Tagged extends WebSocket {}
  // closeTimeout: a ws option @types/ws does not declare yet.
  const server = new WebSocketServer({ noServer: true, WebSocket: Tagged, maxPayload: 10, closeTimeout: 1234 } as ServerOptions)
  t.teardown(() => { server.close() })
  const [serverEnd, clientEnd] = pair()
  const socket = openSocket(server, serverEnd, 'chat', { extensions: {}, header: undefined })
  t.ok(socket instanceof Tagged, 'built with the server\'s WebSocket option')
  t.equal(socket.protocol, 'chat', 'the chosen subprotocol')
  t.equal(socket.readyState, WebSocket.OPEN, 'open over a Duplex without setNoDelay or setTimeout')
  t.equal((socket as unknown as { _closeTimeout: number })._closeTimeout, 1234, 'the closing handshake\'s timeout comes from the server options')
  t.ok(server.clients.has(socket), 'tracked among the server\'s clients')

  const client = clientOver(clientEnd)
  socket.on('error', () => {}) // ws reports the oversized message there too
  socket.on('message', (data) => { socket.send(`echo ${data.toString()}`) })
  client.send('hi')
  t.equal(await nextMessage(client), 'echo hi')

  const tooBig = closeEvent(client)
  const serverClosed = within(new Promise((resolve) => { socket.once('close', resolve) }))
  client.send('more than ten bytes')
  t.match(await tooBig, { code: 1009 }, 'maxPayload comes from the server options')
  await serverClosed
  t.notOk(server.clients.has(socket), 'and forgotten when it closes')
})

t.test('openSocket: a server that does not track clients', async (t) => {
  const server = new WebSocketServer({ noServer: true, clientTracking: false })
  const [serverEnd, clientEnd] = pair()
  const socket = openSocket(server, serverEnd, '', { extensions: {}, header: undefined })
  t.equal(server.clients, undefined)
  const client = clientOver(clientEnd)
  const closed = closeEvent(client)
  socket.close(1000, 'done')
  t.same(await closed, { code: 1000, reason: 'done' }, 'a full closing handshake')
})

t.test('negotiateExtensions: ws\' permessage-deflate negotiation with the server\'s options', async (t) => {
  const deflating = new WebSocketServer({ noServer: true, perMessageDeflate: { serverNoContextTakeover: true }, maxPayload: 100 })
  const plain = new WebSocketServer({ noServer: true })
  t.teardown(() => { deflating.close(); plain.close() })

  const accepted = negotiateExtensions(deflating, 'permessage-deflate; client_max_window_bits')
  t.equal(accepted.header, 'permessage-deflate; server_no_context_takeover', 'the response header, with the server\'s options')
  const extension = accepted.extensions['permessage-deflate'] as { params: object, _maxPayload: number, _isServer: boolean }
  t.ok(extension, 'the extension for the socket')
  t.equal(extension._isServer, true, 'server side')
  t.equal(extension._maxPayload, 100, 'bounded by the server\'s maxPayload')
  t.same(negotiateExtensions(deflating, 'x-other'), { extensions: {}, header: undefined }, 'no permessage-deflate offered')
  t.same(negotiateExtensions(deflating, undefined), { extensions: {}, header: undefined }, 'nothing offered')
  t.same(negotiateExtensions(plain, 'permessage-deflate'), { extensions: {}, header: undefined }, 'not enabled on the server')
  t.throws(() => negotiateExtensions(deflating, 'permessage-deflate; server_max_window_bits=99'), 'parameters ws refuses throw')

  // The negotiated extension compresses over openSocket.
  const [serverEnd] = pair()
  const socket = openSocket(deflating, serverEnd, '', accepted)
  t.equal(socket.extensions, 'permessage-deflate', 'the socket names its extension')
})

t.test('chooseProtocol: the server\'s handleProtocols, given the offers as a Set', async (t) => {
  const seen: unknown[] = []
  const server = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered, request) => {
      seen.push(offered, request)
      return offered.has('none') ? false : [...offered].reverse()[0] as string
    }
  })
  t.teardown(() => { server.close() })
  const request = {} as never
  t.equal(chooseProtocol(server, ['a', 'b'], request), 'b')
  t.same(seen, [new Set(['a', 'b']), request], 'a Set of the offers, and the request')
  t.equal(chooseProtocol(server, ['none'], request), '', 'false: no subprotocol')
  t.equal(chooseProtocol(server, [], request), '', 'nothing offered: not asked')
  t.equal(seen.length, 4)
})

t.test('handleUpgrade reads of the request only what handshake.ts\' view of it holds', async (t) => {
  // handshake.ts gives ws a plain object with these fields and, of the headers, only the
  // five below: if ws starts reading another one, the view must carry it too.
  const viewFields = ['method', 'url', 'headers', 'socket', 'request']
  const viewHeaders = ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']
  const server = new WebSocketServer({ noServer: true, perMessageDeflate: true })
  t.teardown(() => { server.close() })
  const [serverEnd, clientEnd] = pair()
  const read = { fields: new Set<string>(), headers: new Set<string>() }
  const recording = <T extends object>(target: T, into: Set<string>): T => new Proxy(target, {
    get (object, key, receiver) {
      if (typeof key === 'string') into.add(key)
      return Reflect.get(object, key, receiver) as unknown
    }
  })
  const headers = recording({ upgrade: 'websocket', 'sec-websocket-key': validKey, 'sec-websocket-version': '13', 'sec-websocket-extensions': 'permessage-deflate', 'sec-websocket-protocol': 'chat, json' }, read.headers)
  const request = recording({ method: 'GET', url: '/', headers, socket: serverEnd, request: undefined }, read.fields)
  const socket = await within(new Promise<WebSocket>((resolve) => { server.handleUpgrade(request as unknown as IncomingMessage, serverEnd, Buffer.alloc(0), resolve) }), 2000, 'the handshake')
  t.equal(socket.protocol, 'chat', 'the handshake completed, with a subprotocol')
  t.equal(socket.extensions, 'permessage-deflate', 'and an extension')
  t.same([...read.fields].filter((field) => !viewFields.includes(field)), [], `ws read only fields the view holds (${[...read.fields].join(', ')})`)
  t.same([...read.headers].filter((header) => !viewHeaders.includes(header)), [], `ws read only headers the view holds (${[...read.headers].join(', ')})`)
  t.ok(read.headers.has('sec-websocket-key') && read.headers.has('sec-websocket-protocol') && read.headers.has('sec-websocket-extensions'), 'it read the negotiated headers from the view')
  clientEnd.destroy()
  socket.terminate()
})
