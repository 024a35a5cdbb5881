// The handler's socket is a ws WebSocket: ws' constants, methods, browser-style events,
// binaryType and createWebSocketStream all work on it, while the plugin's holding,
// decoding and limits stay in force. app.websocketServer.clients holds every connection.
import t from 'tap'
import net from 'node:net'
import { Type } from '@sinclair/typebox'
import { WebSocket, createWebSocketStream } from 'ws'
import { closeEvent, connect, handshake, listen, messages, messagesArrived, nextMessage, waitFor, within } from './helpers.js'

t.test('the socket is an instance of ws\' WebSocket, with its constants and readyState', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => {
      socket.send(JSON.stringify({
        instance: socket instanceof WebSocket,
        open: socket.readyState === socket.OPEN,
        constants: [socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED],
        paused: socket.isPaused,
        binaryType: socket.binaryType,
        raw: socket.raw === (socket as unknown)
      }))
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/ws`)
  t.same(JSON.parse(await nextMessage(client)), {
    instance: true,
    open: true,
    constants: [WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED],
    paused: false,
    binaryType: 'nodebuffer',
    raw: true
  })
  client.close()
})

t.test('createWebSocketStream works on the socket: a stream echo', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/stream', { websocket: true }, (socket) => {
      const duplex = createWebSocketStream(socket.raw)
      duplex.on('error', () => {})
      duplex.pipe(duplex)
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/stream`)
  client.send('through a stream')
  t.equal(await nextMessage(client), 'through a stream')
  client.send(Buffer.from('and bytes'))
  t.equal(await nextMessage(client), 'and bytes')
  client.close()
})

t.test('addEventListener and onmessage receive messages (held until then, like on())', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/dom', { websocket: true }, async (socket) => {
      await messagesArrived(app, '/dom') // the client's first message arrives meanwhile and is held
      socket.addEventListener('message', (event) => { socket.send(`listener:${String(event.data)}`) })
    })
    app.get('/onmessage', { websocket: true }, (socket) => {
      socket.onmessage = (event) => { socket.send(`onmessage:${String(event.data)}`) }
    })
  })
  t.teardown(() => app.close())
  const dom = await connect(`${url}/dom`)
  dom.send('early')
  t.equal(await nextMessage(dom), 'listener:early')
  const onmessage = await connect(`${url}/onmessage`)
  onmessage.send('hi')
  t.equal(await nextMessage(onmessage), 'onmessage:hi')
  dom.close()
  onmessage.close()
})

t.test('pause() stops delivery until resume(); pong() reaches the client', async (t) => {
  const received: string[] = []
  let resume: () => void = () => {}
  const { app, url } = await listen((app) => {
    app.get('/paused', { websocket: true }, (socket) => {
      socket.on('message', (data) => { received.push(data.toString()) })
      socket.pause()
      resume = () => { socket.resume() }
    })
    app.get('/pong', { websocket: true }, (socket) => {
      socket.on('message', (data) => { socket.pong(data as Buffer) })
    })
  })
  t.teardown(() => app.close())
  const ponged = await connect(`${url}/pong`)
  const pong = within(new Promise<string>((resolve) => ponged.once('pong', (data) => { resolve(data.toString()) })), 2000, 'the pong')
  ponged.send('unsolicited')
  t.equal(await pong, 'unsolicited')

  const client = await connect(`${url}/paused`)
  client.send('one')
  client.send('two')
  // Once written, loopback bytes wait in the server's receive buffer; a round trip on
  // another connection lets the server's event loop poll its sockets, this one included.
  await waitFor(() => client.bufferedAmount === 0, 2000, 'the client to write its messages')
  const again = within(new Promise<string>((resolve) => ponged.once('pong', (data) => { resolve(data.toString()) })), 2000, 'the second pong')
  ponged.send('again')
  t.equal(await again, 'again')
  t.same(received, [], 'nothing delivered while paused')
  resume()
  await waitFor(() => received.length >= 2, 2000, 'the messages')
  t.same(received, ['one', 'two'])
  client.close()
  ponged.close()
})

t.test("binaryType 'arraybuffer' and 'fragments' are honoured, and held bytes are still counted", async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ab', { websocket: { maxHeldBytes: 8 } }, async (socket) => {
      socket.binaryType = 'arraybuffer'
      await messagesArrived(app, '/ab')
      socket.on('message', (data: unknown) => { socket.send(data instanceof ArrayBuffer ? `ArrayBuffer:${data.byteLength}` : 'other') })
    })
    app.get('/fragments', { websocket: { maxHeldBytes: 8 } }, async (socket) => {
      socket.binaryType = 'fragments'
      await messagesArrived(app, '/fragments')
      socket.on('message', (data: unknown) => { socket.send(Array.isArray(data) ? `fragments:${Buffer.concat(data as Buffer[]).length}` : 'other') })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/ab`)
  client.send(Buffer.alloc(5))
  t.equal(await nextMessage(client), 'ArrayBuffer:5', 'a held message within maxHeldBytes')
  const fragments = await connect(`${url}/fragments`)
  fragments.send(Buffer.alloc(5))
  t.equal(await nextMessage(fragments), 'fragments:5', 'held as fragments, counted by their total size')
  fragments.close()
  const flood = await connect(`${url}/ab`)
  flood.send(Buffer.alloc(5))
  flood.send(Buffer.alloc(5))
  t.same(await closeEvent(flood), { code: 1008, reason: 'held messages limit exceeded' }, '10 held bytes > 8')
  client.close()
})

t.test('a typed route decodes binary messages whatever binaryType the handler chose', async (t) => {
  const { app, url } = await listen((app) => {
    for (const binaryType of ['arraybuffer', 'fragments'] as const) {
      app.get(`/${binaryType}`, { websocket: true, schema: { message: Type.Uint8Array() } }, (socket) => {
        socket.binaryType = binaryType
        socket.on('message', (message) => { socket.send(`${message.constructor.name}:${message.byteLength}`) })
      })
    }
  })
  t.teardown(() => app.close())
  for (const binaryType of ['arraybuffer', 'fragments']) {
    const client = await connect(`${url}/${binaryType}`)
    client.send(Buffer.from('seven b'))
    t.equal(await nextMessage(client), 'Buffer:7', `${binaryType}: decoded from one Buffer`)
    client.close()
  }
})

t.test('app.websocketServer.clients holds every open connection, routes with their own ws options included', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/plain', { websocket: true }, () => {})
    app.get('/deflate', { websocket: { perMessageDeflate: true } }, () => {})
    app.get('/small', { websocket: { maxPayload: 1024 } }, () => {})
  })
  t.teardown(() => app.close())
  const clients = await Promise.all(['/plain', '/deflate', '/small', '/deflate'].map(async (path) => await connect(`${url}${path}`)))
  t.equal(app.websocketServer.clients.size, 4)
  for (const client of app.websocketServer.clients) client.send('broadcast')
  t.same(await Promise.all(clients.map(async (client) => await messages(client, 1))), [['broadcast'], ['broadcast'], ['broadcast'], ['broadcast']])
  for (const client of clients) client.close()
  await waitFor(() => app.websocketServer.clients.size === 0, 2000, 'the clients to leave')
  t.equal(app.websocketServer.clients.size, 0)
})

t.test("ws' send options and callback, and the app's own events with any number of arguments", async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: true }, (socket) => {
      socket.on('custom' as 'message', (...args: unknown[]) => { socket.send(JSON.stringify(args)) })
      socket.on('message', () => {
        socket.send(Buffer.from('binary'), { binary: true, compress: false }, (error) => {
          socket.send(`sent:${String(error)}`)
          socket.emit('custom', 1, 2, 3)
        })
      })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/ws`)
  const binary = within(new Promise<boolean>((resolve) => client.once('message', (_data, isBinary) => { resolve(isBinary) })), 2000, 'the binary message')
  client.send('go')
  t.equal(await binary, true, 'sent as a binary frame')
  t.same(await messages(client, 3), ['binary', 'sent:null', '[1,2,3]'], 'the callback ran without an error (ws passes null)')
  client.close()
})

t.test('app.close() resolves when it must terminate peers on routes of different ws servers (one shared set of clients)', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/plain', { websocket: true }, (socket) => { socket.on('message', () => {}) })
    app.get('/deflate', { websocket: { perMessageDeflate: true } }, (socket) => { socket.on('message', () => {}) })
  }, { closeTimeout: 200 })
  // Peers that never answer the 1001: the shutdown terminates them after closeTimeout.
  const peers = await Promise.all(['/plain', '/deflate', '/deflate'].map(async (path) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(handshake(path)) })
    socket.on('error', () => {})
    await within(new Promise((resolve) => socket.once('data', resolve)), 2000, 'the 101')
    return socket
  }))
  t.equal(app.websocketServer.clients.size, 3)
  await within(app.close(), 3000, 'app.close()')
  for (const peer of peers) peer.destroy()
  await waitFor(() => app.websocketServer.clients.size === 0, 2000, 'the clients to leave the set')
  t.equal(app.websocketServer.clients.size, 0)
})

t.test('app.websocketServer.handleUpgrade() by the application is refused by name: there is no route to run', async (t) => {
  const { app } = await listen(() => {})
  t.teardown(() => app.close())
  const { PassThrough } = await import('node:stream')
  const { IncomingMessage } = await import('node:http')
  const request = new IncomingMessage(new net.Socket())
  request.method = 'GET'
  request.headers = { host: 'localhost', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }
  t.throws(() => { app.websocketServer.handleUpgrade(request, new PassThrough(), Buffer.alloc(0), () => {}) }, { code: 'FST_UPGRADE_INVALID_OPTION', message: /websocket: true/ })
})

t.test("the handler's request keeps the headers the client sent; ws sees them as negotiated", async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/ws', { websocket: { protocols: ['chat'] } }, (socket, request) => {
      const { upgrade } = request.headers
      socket.send(JSON.stringify({ upgrade, protocols: request.headers['sec-websocket-protocol'], extensions: request.headers['sec-websocket-extensions'], chosen: socket.protocol }))
    })
  })
  t.teardown(() => app.close())
  const request = handshake('/ws', { Upgrade: 'websocket/13, foo', 'Sec-WebSocket-Protocol': 'a, , chat', 'Sec-WebSocket-Extensions': 'x-unknown, , x-other; p=1' })
  const socket = net.connect(port, '127.0.0.1', () => { socket.write(request) })
  t.teardown(() => socket.destroy())
  const received = await within(new Promise<Buffer>((resolve) => {
    let bytes = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk])
      const end = bytes.indexOf('\r\n\r\n')
      if (end !== -1 && bytes.length > end + 6) resolve(bytes)
    })
  }), 2000, 'the 101 and the message')
  const head = received.subarray(0, received.indexOf('\r\n\r\n')).toString('latin1')
  t.match(head, /^HTTP\/1\.1 101 /)
  t.match(head, /\r\nSec-WebSocket-Protocol: chat/i)
  const frame = received.subarray(received.indexOf('\r\n\r\n') + 4)
  const payload = frame.subarray(2, 2 + (frame[1] as number)).toString()
  t.same(JSON.parse(payload), { upgrade: 'websocket/13, foo', protocols: 'a, , chat', extensions: 'x-unknown, , x-other; p=1', chosen: 'chat' })
})
