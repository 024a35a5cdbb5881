// The socket handed to handlers: no message lost while the handler gets ready, and
// failures close only the connection that failed (1011), logged through request.log.
import t from 'tap'
import { WebSocket } from 'ws'
import { CloseCode } from '../lib/index.js'
import { captureLogs, closeEvent, connect, delay, listen, messages, messagesArrived, nextMessage } from './helpers.js'

t.test('messages sent while an async handler awaits are delivered in order once it listens', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/late', { websocket: true }, async (socket) => {
      await messagesArrived(app, '/late')
      socket.on('message', (data) => { socket.send(`got ${data.toString()}`) })
    })
  })
  t.teardown(() => app.close())
  const client = new WebSocket(`${url}/late`)
  const { track } = await import('./helpers.js')
  track(client)
  client.on('open', () => {
    // Sent immediately on open, long before the handler listens.
    for (let i = 1; i <= 5; i++) client.send(String(i))
  })
  t.same(await messages(client, 5), ['got 1', 'got 2', 'got 3', 'got 4', 'got 5'])
  client.close()
})

t.test('messages sent while async hooks run are not lost either', async (t) => {
  const { app, url } = await listen((app) => {
    app.addHook('preHandler', async () => { await delay(30) })
    app.get('/hooked', { websocket: true }, async (socket) => {
      await messagesArrived(app, '/hooked')
      socket.on('message', (data) => { socket.send(data.toString().toUpperCase()) })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/hooked`)
  client.send('a')
  client.send('b')
  t.same(await messages(client, 2), ['A', 'B'])
  client.close()
})

t.test('a handler that never listens for messages still completes the closing handshake', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/send-only', { websocket: true }, async (socket) => {
      socket.send('news')
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/send-only`)
  t.equal(await nextMessage(client), 'news')
  client.send('ignored')
  client.close(CloseCode.Normal, 'done')
  t.same(await closeEvent(client), { code: 1000, reason: 'done' })
})

t.test('the socket exposes ws state: protocol, extensions, readyState, bufferedAmount, raw', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/state', { websocket: true }, (socket) => {
      socket.send(JSON.stringify({
        protocol: socket.protocol,
        extensions: socket.extensions,
        readyState: socket.readyState,
        bufferedAmount: socket.bufferedAmount,
        raw: socket.raw instanceof WebSocket
      }))
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/state`, ['chat'])
  t.same(JSON.parse(await nextMessage(client)), { protocol: 'chat', extensions: '', readyState: 1, bufferedAmount: 0, raw: true })
  client.close()
})

t.test('ping and pong are relayed; close carries the peer code and reason as a string', async (t) => {
  let closed: (value: [number, string]) => void = () => {}
  const serverClose = new Promise<[number, string]>((resolve) => { closed = resolve })
  const { app, url } = await listen((app) => {
    app.get('/pingpong', { websocket: true }, (socket) => {
      socket.on('ping', (data) => { socket.send(`ping:${data.toString()}`) })
      socket.on('pong', (data) => { socket.send(`pong:${data.toString()}`) })
      socket.on('close', (code, reason) => { closed([code, reason]) })
      socket.on('message', () => { socket.ping('srv') })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/pingpong`)
  client.ping('cli')
  t.equal(await nextMessage(client), 'ping:cli')
  client.send('ping me')
  t.equal(await nextMessage(client), 'pong:srv')
  client.close(4001, 'client leaving')
  t.same(await serverClose, [4001, 'client leaving'])
})

t.test('a handler that throws closes that connection with 1011 and logs through request.log', async (t) => {
  const logs = captureLogs()
  const { app, url } = await listen((app) => {
    app.get('/throws', { websocket: true }, () => { throw new Error('sync boom') })
    app.get('/rejects', { websocket: true }, async () => { await delay(5); throw new Error('async boom') })
    app.get('/echo', { websocket: true }, (socket) => { socket.on('message', (data) => { socket.send(data.toString()) }) })
  }, {}, { logger: logs.logger })
  t.teardown(() => app.close())

  const bystander = await connect(`${url}/echo`)
  for (const [path, message] of [['/throws', 'sync boom'], ['/rejects', 'async boom']] as const) {
    const client = await connect(`${url}${path}`)
    t.same(await closeEvent(client), { code: 1011, reason: 'internal error' }, path)
    const line = logs.lines.find((line) => line.err?.message === message)
    t.ok(line, `${path}: the error is logged`)
    t.equal(line?.level, 50, 'at error level')
    t.equal(line?.msg, 'websocket handler failed')
    t.type(line?.reqId, 'string', 'with the request id of the upgrade request')
  }
  bystander.send('still here')
  t.equal(await nextMessage(bystander), 'still here', 'other connections keep working')
  bystander.close()
})

t.test('a listener that throws closes only its connection; 20 others keep echoing', async (t) => {
  const logs = captureLogs()
  const { app, url } = await listen((app) => {
    app.get('/fragile', { websocket: true }, (socket) => {
      socket.on('message', (data) => {
        if (data.toString() === 'explode') throw new Error('listener boom')
        socket.send(data.toString())
      })
    })
  }, {}, { logger: logs.logger })
  t.teardown(() => app.close())

  const others = await Promise.all(Array.from({ length: 20 }, async () => await connect(`${url}/fragile`)))
  const victim = await connect(`${url}/fragile`)
  victim.send('explode')
  t.same(await closeEvent(victim), { code: 1011, reason: 'internal error' })
  t.ok(logs.lines.some((line) => line.err?.message === 'listener boom' && line.level === 50))
  const replies = await Promise.all(others.map(async (client, i) => {
    client.send(`n${i}`)
    return await nextMessage(client)
  }))
  t.same(replies, others.map((_client, i) => `n${i}`))
  for (const client of others) client.close()
})

t.test('the errorHandler option replaces the default, plugin-wide and per route', async (t) => {
  const seen: string[] = []
  const { app, url } = await listen((app) => {
    app.get('/plugin-wide', { websocket: true }, () => { throw new Error('one') })
    app.get('/per-route', {
      websocket: {
        errorHandler: (error, socket) => {
          seen.push(`route:${(error as Error).message}`)
          socket.close(4500, 'route handled')
        }
      }
    }, () => { throw new Error('two') })
  }, {
    errorHandler: (error, socket, request) => {
      seen.push(`plugin:${(error as Error).message}:${request.url}`)
      socket.close(4400, 'plugin handled')
    }
  })
  t.teardown(() => app.close())
  t.same(await closeEvent(await connect(`${url}/plugin-wide`)), { code: 4400, reason: 'plugin handled' })
  t.same(await closeEvent(await connect(`${url}/per-route`)), { code: 4500, reason: 'route handled' })
  t.same(seen, ['plugin:one:/plugin-wide', 'route:two'])
})

t.test('an errorHandler that throws falls back to the default 1011 close', async (t) => {
  const logs = captureLogs()
  const { app, url } = await listen((app) => {
    app.get('/double-fault', { websocket: true }, () => { throw new Error('first') })
  }, { errorHandler: () => { throw new Error('handler broke too') } }, { logger: logs.logger })
  t.teardown(() => app.close())
  t.same(await closeEvent(await connect(`${url}/double-fault`)), { code: 1011, reason: 'internal error' })
  t.ok(logs.lines.some((line) => line.err?.message === 'handler broke too'))
})

t.test('protocol errors from the client are logged at debug, or emitted to an error listener', async (t) => {
  const logs = captureLogs('debug')
  let emitted: (error: Error) => void = () => {}
  const gotError = new Promise<Error>((resolve) => { emitted = resolve })
  const { app, url } = await listen((app) => {
    app.get('/quiet', { websocket: true }, () => {})
    app.get('/listening', { websocket: true }, (socket) => { socket.on('error', emitted) })
  }, { options: { maxPayload: 16 } }, { logger: logs.logger })
  t.teardown(() => app.close())
  const quiet = await connect(`${url}/quiet`)
  quiet.send('x'.repeat(64))
  t.equal((await closeEvent(quiet)).code, 1009, 'ws closes an oversized message with 1009')
  t.ok(logs.lines.some((line) => line.msg === 'websocket protocol error' && line.level === 20))
  const listening = await connect(`${url}/listening`)
  listening.send('x'.repeat(64))
  t.match((await gotError).message, /Max payload size exceeded/)
})
