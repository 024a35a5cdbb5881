// What hostile clients cost the server, measured (the attack tests assert the bounds;
// this prints the figures). Loopback only, bounded in count and time.
//
//   npm run bench:hostile              (about 30 s)
//   npm run bench:hostile -- --quick   (a smoke run of a few seconds)
//
// 1. Server CPU per handshake offering 5,000 distinct subprotocols (a ~15 KB header),
//    minus the CPU of the same handshake offering one; medians of several rounds.
// 2. Time from a 1008 'rate limit exceeded' close frame to the server dropping a client
//    that keeps flooding frames and never answers the close (capped at 35 s).
// 3. Server memory (RSS and external after GC) held by 20 connections whose handler has
//    not listened yet, each sent, in one TCP write, 30 permessage-deflate frames of ~1 KB that inflate to 1 MB.
import net from 'node:net'
import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { WebSocket } from 'ws'
import fastifyUpgrade from '../lib/index.js'

const quick = process.argv.includes('--quick')
const validKey = 'dGhlIHNhbXBsZSBub25jZQ=='

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

function handshake (protocols: string): string {
  return `GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${validKey}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocols}\r\n\r\n`
}

/** One raw handshake; resolves with the status once the server has closed the connection or sent its head. */
async function exchange (port: number, request: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(request) })
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
      if (text.includes('\r\n\r\n')) socket.destroy()
    })
    socket.on('error', reject)
    socket.on('close', () => { resolve(Number(text.split(' ')[1])) })
  })
}

async function subprotocolCost (): Promise<string> {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.get('/ws', { websocket: { protocols: ['chat'] } }, (socket) => { socket.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
  const tokens: string[] = []
  for (let i = 0; tokens.length < 5000; i++) tokens.push(`${alphabet[i % 62] as string}${alphabet[Math.floor(i / 62) % 62] as string}${i >= 3844 ? alphabet[Math.floor(i / 3844)] as string : ''}`)
  const many = handshake(tokens.join(','))
  const one = handshake('chat')
  const perRound = quick ? 20 : 100
  const rounds = quick ? 3 : 7
  const cost = async (request: string): Promise<{ micros: number, status: number }> => {
    let status = 0
    const start = process.cpuUsage()
    for (let i = 0; i < perRound; i++) status = await exchange(port, request)
    const used = process.cpuUsage(start)
    return { micros: (used.user + used.system) / perRound, status }
  }
  const extra: number[] = []
  let statuses = ''
  for (let round = 0; round < rounds; round++) {
    const heavy = await cost(many)
    const light = await cost(one)
    extra.push(heavy.micros - light.micros)
    statuses = `${heavy.status} vs ${light.status}`
  }
  await app.close()
  return `| CPU per handshake offering 5,000 subprotocols (${Buffer.byteLength(many)} B request), above one offering 1 | ${(median(extra) / 1000).toFixed(2)} ms | statuses ${statuses} |`
}

/** A masked frame with a zero mask (so the payload is sent as is). */
function frame (opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload])
}

async function rateLimitCloseTime (): Promise<string> {
  const app = Fastify()
  await app.register(fastifyUpgrade)
  app.get('/ws', { websocket: { rateLimit: { rate: 10, policy: 'close' }, heartbeat: false } }, (socket) => { socket.on('message', () => {}) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port
  const cap = 35_000
  const result = await new Promise<{ ms: number, frames: number }>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(handshake('x').replace('Sec-WebSocket-Protocol: x\r\n', '')) })
    const message = frame(1, Buffer.from('flood'))
    const burst = Buffer.concat(Array.from({ length: 256 }, () => message))
    let closeFrameAt = 0
    let frames = 0
    let seen = Buffer.alloc(0)
    let stopped = false
    const flood = (): void => {
      // Keep writing while the server reads; yield to the event loop between bursts.
      // eslint-disable-next-line no-unmodified-loop-condition -- the loop ends when write() reports backpressure; `stopped` only guards entry
      while (!stopped && socket.write(burst)) frames += 256
      if (!stopped) socket.once('drain', flood)
    }
    const finish = (): void => {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      resolve({ ms: closeFrameAt === 0 ? Number.NaN : Date.now() - closeFrameAt, frames })
    }
    const timer = setTimeout(() => { socket.destroy(); finish() }, cap)
    socket.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk])
      if (closeFrameAt === 0 && seen.includes('\r\n\r\n') && seen.subarray(seen.indexOf('\r\n\r\n') + 4).includes(Buffer.from([0x88]))) {
        closeFrameAt = Date.now()
      }
      if (seen.length > 4096) seen = seen.subarray(-4096)
    })
    socket.once('data', flood)
    socket.on('error', finish)
    socket.on('close', finish)
  })
  await app.close()
  return `| time from the 1008 close frame to the server dropping a client that keeps flooding | ${Number.isNaN(result.ms) ? 'no close frame' : `${result.ms} ms`} | ${result.frames} frames written, capped at ${cap / 1000} s |`
}

async function deflateHold (): Promise<string> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return '| deflate hold | run with --expose-gc | |'
  const app = Fastify()
  await app.register(fastifyUpgrade)
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  app.get('/ws', { websocket: { perMessageDeflate: true, heartbeat: false } }, async (socket) => {
    await released
    socket.on('message', () => {})
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port
  gc()
  const before = process.memoryUsage()
  const connections = quick ? 5 : 20
  const payload = 'a'.repeat(1_000_000)
  const clients = await Promise.all(Array.from({ length: connections }, async () => {
    let tcp: net.Socket | undefined
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
      perMessageDeflate: true,
      createConnection: () => { tcp = net.connect(port, '127.0.0.1'); return tcp }
    })
    await new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject) })
    client.on('error', () => {})
    // All 30 frames in one TCP write: the server reads them before it can pause.
    const socket = tcp as net.Socket
    socket.cork()
    for (let i = 0; i < 30; i++) client.send(payload)
    while (client.bufferedAmount >= payload.length) await sleep(5) // compression is asynchronous
    socket.uncork()
    return client
  }))
  let wire = 0
  // Let the server read and inflate what it can; sample the peak over two seconds.
  let peakRss = 0
  for (let i = 0; i < 20; i++) {
    await sleep(100)
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }
  for (const client of clients) wire += client.bufferedAmount
  gc()
  const after = process.memoryUsage()
  release()
  for (const client of clients) client.terminate()
  await app.close()
  const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
  return `| memory held by ${connections} connections sent 30 x 1 MB-inflating deflate frames before their handler listens | RSS +${mb(after.rss - before.rss)} after GC (peak +${mb(peakRss - before.rss)}), external +${mb(after.external - before.external)} | client and server in one process; ${wire} B still unsent |`
}

console.log(`# hostile clients — ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}${quick ? ' (quick)' : ''}`)
console.log('| attack | measured | notes |')
console.log('|---|---|---|')
console.log(await subprotocolCost())
console.log(await rateLimitCloseTime())
console.log(await deflateHold())
