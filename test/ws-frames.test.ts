// The ws internals lib/ws-frames.ts relies on (ws 8's Sender): a topic's frame, built once,
// is byte for byte what ws' own Sender.frame makes; a connection's sender exposes _state,
// _queue and _firstFragment with the meaning the module reads; ws writes through the
// upgrade socket. If ws changes any of it, this file fails.
import t from 'tap'
import * as ws from 'ws'
import type { Duplex } from 'node:stream'
import type { WebSocketConnection } from '../lib/index.js'
import { senderIsIdle, topicFrame } from '../lib/ws-frames.js'
import { connect, listen, nextMessage, until } from './helpers.js'

// ws exports its Sender class (lib/sender.js); @types/ws does not declare its static frame().
const Sender = (ws as unknown as { Sender: { frame: (data: Buffer, options: object) => Buffer[] } }).Sender

t.test('a topic frame is what ws frames: FIN, opcode, unmasked length, payload', async (t) => {
  for (const length of [0, 1, 125, 126, 1000, 65535, 65536, 70_000]) {
    const payload = Buffer.alloc(length, 0x61)
    for (const isBinary of [false, true]) {
      const ours = topicFrame(payload, isBinary)
      const theirs = Buffer.concat(Sender.frame(payload, { fin: true, opcode: isBinary ? 2 : 1, mask: false, readOnly: false, rsv1: false }))
      t.ok(ours.wire.equals(theirs), `${length} bytes, ${isBinary ? 'binary' : 'text'}`)
      t.equal(ours.payload, payload)
      t.equal(ours.isBinary, isBinary)
    }
  }
})

t.test("ws' sender: idle, busy compressing, in a fragmented message; and the socket ws writes through", async (t) => {
  let server: WebSocketConnection | undefined
  let upgradeSocket: Duplex | undefined
  const { app, url } = await listen((app) => {
    app.get('/ws', { websocket: { perMessageDeflate: { threshold: 0 } } }, (socket, request) => {
      server = socket
      upgradeSocket = request.raw.socket
      socket.on('message', () => {})
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/ws`, [], { perMessageDeflate: true })
  await until(() => server !== undefined, 'the server socket')
  const socket = server as WebSocketConnection
  const internals = socket as unknown as { _socket: Duplex, _sender: { _state: number, _queue: unknown[], _firstFragment: boolean } }
  t.equal(internals._socket, upgradeSocket, 'ws writes through the upgrade socket, which publishFrame writes to')
  t.same([internals._sender._state, internals._sender._queue.length, internals._sender._firstFragment], [0, 0, true], 'idle: DEFAULT, nothing queued, between messages')
  t.ok(senderIsIdle(socket))

  // permessage-deflate: while a message is being compressed, the sender is busy and queues.
  socket.sendRaw('compressed first')
  t.equal(internals._sender._state, 1, 'DEFLATING right after a compressed send')
  t.notOk(senderIsIdle(socket), 'busy: a topic frame goes through ws send() and its queue')
  await app.websocketPublish('unused', 'x')
  await socket.subscribe('t')
  socket.sendRaw('compressed second')
  await app.websocketPublish('t', 'published while compressing')
  socket.sendRaw('compressed third')
  await app.websocketPublish('t', Buffer.from('bytes while compressing'))
  t.same([await nextMessage(client), await nextMessage(client), await nextMessage(client), await nextMessage(client), await nextMessage(client)],
    ['compressed first', 'compressed second', 'published while compressing', 'compressed third', 'bytes while compressing'], 'in order')
  await until(() => senderIsIdle(socket), 'the sender to be idle again')

  // A fragmented message in progress: not between messages.
  socket.sendRaw('part one, ', { fin: false, compress: false })
  t.equal(internals._sender._firstFragment, false)
  t.notOk(senderIsIdle(socket), 'inside a fragmented message')
  socket.sendRaw('part two', { fin: true, compress: false })
  t.equal(await nextMessage(client), 'part one, part two')
  t.ok(senderIsIdle(socket))
  await app.websocketPublish('t', 'between messages')
  t.equal(await nextMessage(client), 'between messages')
  t.notOk(senderIsIdle({}), 'no sender: not idle')
  client.close()
})
