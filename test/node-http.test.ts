// The Node internals lib/node-http.ts relies on, checked on the Node version running the
// suite: if Node changes one of them, this file fails and names it.
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { responseInProgress, serveAgain, decideUpgrades } from '../lib/node-http.js'
import { within } from './helpers.js'

// Node 22.21 and 24.9 added http.Server's shouldUpgradeCallback; Node 20 never had it.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
const nodeHasUpgradeCallback = major > 24 || (major === 24 && minor >= 9) || (major === 22 && minor >= 21) || major === 23

async function listening (server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

async function exchange (port: number, request: string): Promise<string> {
  return await within(new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(request) })
    let text = ''
    socket.on('data', (chunk) => { text += chunk.toString('latin1') })
    socket.on('error', reject)
    socket.on('close', () => { resolve(text) })
  }), 3000, 'the exchange')
}

t.test('socket._httpMessage: the response Node still writes for an earlier pipelined request', async (t) => {
  let seen: http.ServerResponse | undefined | null = null
  let slow: http.ServerResponse | undefined
  const server = http.createServer((_request, response) => {
    slow = response
    setImmediate(() => { response.end('first') })
  })
  t.teardown(() => server.close())
  server.on('upgrade', (_request, socket) => {
    seen = responseInProgress(socket)
    socket.destroy()
  })
  const port = await listening(server)
  const upgrade = 'GET /u HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n'
  await exchange(port, `GET /slow HTTP/1.1\r\nHost: x\r\n\r\n${upgrade}`)
  t.ok(slow !== undefined && seen === slow, 'the earlier response is found on the socket')
  await exchange(port, upgrade)
  t.equal(seen, undefined, 'nothing when no earlier response is in progress')
})

t.test('http._connectionListener serves a socket again, with its unread bytes', async (t) => {
  const server = http.createServer((request, response) => { response.end(`served ${String(request.url)}`) })
  t.teardown(() => server.close())
  server.on('upgrade', (_request, socket, head) => {
    socket.unshift(Buffer.concat([Buffer.from('GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), head]))
    serveAgain(server, socket)
  })
  const port = await listening(server)
  const text = await exchange(port, 'GET /u HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n')
  t.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*served \/again$/)
})

t.test(`shouldUpgradeCallback ${nodeHasUpgradeCallback ? 'decides' : 'does not exist'} on Node ${process.version}`, async (t) => {
  const server = http.createServer((request, response) => { response.end(`plain ${String(request.method)}`) })
  t.teardown(() => server.close())
  let upgrades = 0
  server.on('upgrade', (_request, socket) => {
    upgrades++
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
  })
  const restore = decideUpgrades(server, (request) => request.method === 'GET')
  const port = await listening(server)
  const text = await exchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\nUpgrade: x\r\nContent-Length: 0\r\n\r\n')
  if (nodeHasUpgradeCallback) {
    t.match(text, /plain POST$/, 'Node served the POST itself')
    t.equal(upgrades, 0)
    restore()
    t.equal((server as unknown as { shouldUpgradeCallback: (request: unknown) => boolean }).shouldUpgradeCallback.call(server, { method: 'POST' }), true, 'restored')
  } else {
    t.equal(upgrades, 1, 'the upgrade listener had to serve the POST')
    t.notOk('shouldUpgradeCallback' in server)
  }
})
