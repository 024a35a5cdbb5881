import t from 'tap'
import { connect, handshake, listen, nextMessage, rawExchange } from './helpers.js'

t.test('a websocket route echoes over a real connection', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/echo', { websocket: true }, (socket) => {
      socket.on('message', (data) => { socket.send(data.toString()) })
    })
  })
  t.teardown(() => app.close())
  const client = await connect(`${url}/echo`)
  client.send('hello')
  t.equal(await nextMessage(client), 'hello')
  client.close()
})

t.test('101 response names the protocol switched to', async (t) => {
  const { app, port } = await listen((app) => {
    app.get('/ws', { websocket: true }, () => {})
  })
  t.teardown(() => app.close())
  const response = await rawExchange(port, handshake('/ws'), 300)
  t.equal(response.statusLine, 'HTTP/1.1 101 Switching Protocols')
  t.equal(response.headers.upgrade, 'websocket')
  t.equal(response.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
})
