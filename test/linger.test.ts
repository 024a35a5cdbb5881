// After an HTTP answer on the upgrade path the server half-closes and waits for the
// client to hang up; a client that never does is cut after refusalLinger (default 5 s).
import t from 'tap'
import net from 'node:net'
import Fastify from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import { resolvePluginOptions } from '../lib/options.js'
import { handshake, listen, openConnections, parseResponse, waitFor, within } from './helpers.js'

/** An app whose hook refuses every upgrade with 401. */
async function refusingApp (refusalLinger?: number) {
  return await listen((app) => {
    app.addHook('onRequest', async (_request, reply) => { await reply.code(401).send({ error: 'no' }) })
    app.get('/ws', { websocket: true }, () => {})
  }, refusalLinger === undefined ? {} : { refusalLinger })
}

/**
 * A client that sends a handshake and never hangs up: allowHalfOpen keeps its side open
 * after the server's FIN. `refused` resolves with the answer once the server half-closed;
 * `closed` once the client saw the socket close: the server's destroy after its FIN is
 * silent, so only once the client writes into the destroyed socket (and gets a reset).
 */
function stubbornClient (port: number): { socket: net.Socket, refused: Promise<number>, closed: Promise<void> } {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => { socket.write(handshake('/ws')) })
  // Writes after the server destroyed the socket may fail: expected of this client.
  socket.on('error', () => {})
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  const refused = new Promise<number>((resolve) => {
    socket.once('end', () => { resolve(parseResponse(Buffer.concat(chunks).toString('latin1')).status) })
  })
  const closed = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
  return { socket, refused, closed }
}

t.test('refusalLinger: a client that never hangs up after a refused upgrade is cut when it passes, however it trickles bytes', async (t) => {
  const { app, port } = await refusingApp(200)
  t.teardown(() => app.close())
  const client = stubbornClient(port)
  t.teardown(() => client.socket.destroy())
  t.equal(await within(client.refused, 3000, 'the server to half-close'), 401)
  // Keep writing: the server reads and drops it, and the linger is absolute all the same.
  let trickled = 0
  const trickle = setInterval(() => { if (client.socket.writable) { client.socket.write('x'); trickled++ } }, 20)
  t.teardown(() => { clearInterval(trickle) })
  await within(client.closed, 5000, 'the server to destroy the socket')
  clearInterval(trickle)
  await waitFor(async () => await openConnections(app) === 0, 2000, 'the server to hold no socket')
  t.pass(`the server destroyed the socket (the client had trickled ${trickled} bytes)`)
})

t.test('refusalLinger defaults to 5000 ms: the socket outlives a short linger', async (t) => {
  t.equal(resolvePluginOptions({}).refusalLinger, 5000, 'the documented default')
  const long = await refusingApp()
  const short = await refusingApp(100)
  t.teardown(() => long.app.close())
  t.teardown(() => short.app.close())
  const held = stubbornClient(long.port)
  const cut = stubbornClient(short.port)
  t.teardown(() => { held.socket.destroy(); cut.socket.destroy() })
  t.same(await within(Promise.all([held.refused, cut.refused]), 3000, 'both refusals'), [401, 401])
  // The server's FIN went with the answer: its destroy sends nothing a silent client sees.
  await waitFor(async () => await openConnections(short.app) === 0, 3000, 'the short linger to end')
  t.equal(await openConnections(long.app), 1, 'under the default linger the server still waits for its client')
})

t.test('refusalLinger is checked at registration', async (t) => {
  for (const refusalLinger of [0, -1, Number.NaN, 2 ** 31, Infinity]) {
    const app = Fastify()
    app.register(fastifyUpgrade, { refusalLinger })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_UPGRADE_INVALID_OPTION', message: /"refusalLinger"/ }, String(refusalLinger))
  }
  const app = Fastify()
  await app.register(fastifyUpgrade, { refusalLinger: 2 ** 31 - 1 })
  t.pass("setTimeout's longest delay is allowed")
  await app.close()
})
