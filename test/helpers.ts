// Shared test plumbing: a listening app, ws clients, and raw TCP exchanges, all on
// loopback and all bounded in time so a broken server fails a test instead of hanging it.
import http from 'node:http'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { WebSocket, type ClientOptions, type RawData } from 'ws'
import fastifyUpgrade, { type FastifyUpgradeOptions } from '../lib/index.js'
import type { Clock } from '../lib/heartbeat.js'
import { kClock } from '../lib/symbols.js'

export const validKey = 'dGhlIHNhbXBsZSBub25jZQ=='

/**
 * Node 22.21+ and 24.9+ have http.Server's shouldUpgradeCallback: requests with Upgrade that
 * may not upgrade (a POST, a body) are then served by Node itself, keep-alive and all
 * (lib/node-http.ts); older Node hands them to the plugin, which answers with Connection: close.
 */
export const nodeDecidesUpgrades = typeof (http.createServer() as { shouldUpgradeCallback?: unknown }).shouldUpgradeCallback === 'function'

/** Builds an app with the plugin registered, lets `setup` add routes, listens on 127.0.0.1. */
export async function listen (
  setup: (app: FastifyInstance) => void | Promise<void>,
  options: FastifyUpgradeOptions = {},
  fastifyOptions: FastifyServerOptions = {}
): Promise<{ app: FastifyInstance, port: number, url: string }> {
  const app = Fastify(fastifyOptions)
  await app.register(fastifyUpgrade, options)
  await setup(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address() as net.AddressInfo
  return { app, port: address.port, url: `ws://127.0.0.1:${address.port}` }
}

// Messages each client received and nobody has read yet. Tracking starts before the
// handshake, because a server may send in the same TCP segment as its 101.
const inboxes = new WeakMap<WebSocket, { unread: string[], waiting: Array<(message: string) => void> }>()

/** Starts recording a client's messages so `nextMessage` never misses one. */
export function track (socket: WebSocket): WebSocket {
  const inbox = { unread: [] as string[], waiting: [] as Array<(message: string) => void> }
  inboxes.set(socket, inbox)
  socket.on('message', (data: RawData) => {
    const waiter = inbox.waiting.shift()
    if (waiter !== undefined) waiter(data.toString())
    else inbox.unread.push(data.toString())
  })
  return socket
}

/** Opens a ws client; resolves on 'open', rejects on error or an HTTP answer. */
export async function connect (url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<WebSocket> {
  const socket = track(new WebSocket(url, protocols, options))
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
    socket.once('unexpected-response', (_request, response) => {
      reject(new Error(`unexpected response ${response.statusCode ?? 0}`))
    })
  })
  return socket
}

/** Rejects if `promise` has not settled within `ms` (keeps a broken test from hanging). */
export async function within<T> (promise: Promise<T>, ms = 3000, what = 'event'): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The client's next unread message (the client must come from `connect` or `track`). */
export async function nextMessage (socket: WebSocket, ms = 3000): Promise<string> {
  const inbox = inboxes.get(socket)
  if (inbox === undefined) throw new Error('nextMessage needs a tracked client')
  const unread = inbox.unread.shift()
  if (unread !== undefined) return unread
  return await within(new Promise<string>((resolve) => { inbox.waiting.push(resolve) }), ms, 'a message')
}

export async function messages (socket: WebSocket, count: number): Promise<string[]> {
  const received: string[] = []
  while (received.length < count) received.push(await nextMessage(socket))
  return received
}

export async function closeEvent (socket: WebSocket): Promise<{ code: number, reason: string }> {
  return await within(new Promise((resolve) => {
    socket.once('close', (code: number, reason: Buffer) => { resolve({ code, reason: reason.toString() }) })
  }), 5000, 'close')
}

export interface RawResponse {
  /** Everything the server sent until it closed the connection. */
  text: string
  statusLine: string
  status: number
  headers: Record<string, string>
  body: string
  /** The server closed the connection (rather than the test giving up). */
  closedByServer: boolean
}

/**
 * Sends raw bytes on a fresh TCP connection and collects what comes back until the
 * server closes it, or `ms` elapse (then closedByServer is false), or, with `stopAfter`,
 * once the first response's head is complete ('head': a 101 leaves the connection open
 * by design) or its head and its Content-Length body are ('response': a keep-alive answer).
 */
export async function rawExchange (port: number, request: string | Buffer, ms = 2000, stopAfter: 'head' | 'response' | false = false): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(request) })
    const chunks: Buffer[] = []
    let closedByServer = true
    const timer = setTimeout(() => { closedByServer = false; socket.destroy() }, ms)
    socket.on('data', (chunk) => {
      chunks.push(chunk)
      if (stopAfter === false) return
      const received = Buffer.concat(chunks)
      const end = received.indexOf('\r\n\r\n')
      if (end === -1) return
      const length = Number(parseResponse(received.toString('latin1')).headers['content-length'] ?? 0)
      if (stopAfter === 'head' || received.length - end - 4 >= length) {
        closedByServer = false
        socket.destroy()
      }
    })
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1'), closedByServer))
    })
  })
}

export function parseResponse (text: string, closedByServer = true): RawResponse {
  const end = text.indexOf('\r\n\r\n')
  const head = end === -1 ? text : text.slice(0, end)
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return {
    text,
    statusLine,
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: end === -1 ? '' : text.slice(end + 4),
    closedByServer
  }
}

/** A WebSocket handshake request, with headers to add or (value null) drop. */
export function handshake (path: string, overrides: Record<string, string | null> = {}, requestLine?: string): string {
  const headers: Record<string, string | null> = {
    Host: 'localhost',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': validKey,
    'Sec-WebSocket-Version': '13',
    ...overrides
  }
  let text = `${requestLine ?? `GET ${path} HTTP/1.1`}\r\n`
  for (const [name, value] of Object.entries(headers)) {
    if (value !== null) text += `${name}: ${value}\r\n`
  }
  return `${text}\r\n`
}

/**
 * Plugin options with a clock that moves only when told to (the plugin reads it under
 * kClock): the heartbeat timer, idle timeouts and rate limits then follow the test.
 */
export function withClock (clock: Clock, options: FastifyUpgradeOptions = {}): FastifyUpgradeOptions {
  return Object.assign({ ...options }, { [kClock]: clock })
}

/**
 * A clock for the plugin that stands still until `advance` moves it, running the
 * intervals that fall due on the way, in order, each at its own time.
 */
export class ManualClock implements Clock {
  #now = 1_000_000
  #nextHandle = 1
  readonly #intervals = new Map<number, { callback: () => void, ms: number, next: number }>()

  now = (): number => this.#now

  setInterval = (callback: () => void, ms: number): number => {
    const handle = this.#nextHandle++
    this.#intervals.set(handle, { callback, ms, next: this.#now + ms })
    return handle
  }

  clearInterval = (handle: unknown): void => { this.#intervals.delete(handle as number) }

  /** The period of each running interval (the plugin's timer runs only while connections are open). */
  get intervals (): number[] {
    return Array.from(this.#intervals.values(), (interval) => interval.ms)
  }

  advance (ms: number): void {
    const target = this.#now + ms
    for (;;) {
      let due: { callback: () => void, ms: number, next: number } | undefined
      for (const interval of this.#intervals.values()) {
        if (interval.next <= target && (due === undefined || interval.next < due.next)) due = interval
      }
      if (due === undefined) break
      this.#now = due.next
      due.next += due.ms
      due.callback()
    }
    this.#now = target
  }
}

/** Counts the TCP connections the server still holds. */
export async function openConnections (app: FastifyInstance): Promise<number> {
  return await new Promise((resolve, reject) => {
    app.server.getConnections((error, count) => { if (error !== null) reject(error); else resolve(count) })
  })
}

export async function delay (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Polls `condition` every 10 ms until it holds; rejects once `ms` have passed without it.
 * For state that no event announces (a server's socket count, a counter).
 */
export async function waitFor (condition: () => boolean | Promise<boolean>, ms = 3000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await delay(10)
  }
}

/**
 * For a handler that must not listen yet: resolves once its route has received `count`
 * more messages than when it was called (the connection holds them meanwhile). A
 * handler runs before its client can send anything, so they are this connection's.
 */
export async function messagesArrived (app: FastifyInstance, route: string, count = 1): Promise<void> {
  const received = (): number => app.websocketStats().routes[route]?.messagesIn ?? 0
  const before = received()
  await waitFor(() => received() >= before + count, 3000, `${count} message(s) to reach ${route}`)
}

export interface LogLine { level: number, msg: string, reqId?: string, err?: { message: string }, [key: string]: unknown }

/** A Fastify logger option that records every JSON log line. */
export function captureLogs (level = 'info'): { lines: LogLine[], logger: { level: string, stream: { write: (line: string) => void } } } {
  const lines: LogLine[] = []
  return { lines, logger: { level, stream: { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } } } }
}

/**
 * Runs a fixture script in a child Node process with this process' loaders (so its
 * coverage maps onto the same sources), plus `nodeArgs`; resolves with its exit code and
 * output, killing it after `ms`.
 */
export async function runFixture (name: string, args: string[] = [], nodeArgs: string[] = [], ms = 20_000): Promise<{ code: number | null, output: string }> {
  const script = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, ...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await within(new Promise<number | null>((resolve) => child.once('exit', resolve)), ms, `${name} to exit`)
    .catch((error: unknown) => { child.kill('SIGKILL'); throw error })
  return { code, output }
}

/** A free TCP port on 127.0.0.1 (free when asked: bind it soon). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => { resolve(port) })
    })
  })
}

/** Polls `condition` every 10 ms until it holds, for at most `ms`. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  await within((async () => { while (!(await condition())) await delay(10) })(), ms, what)
}

export interface RedisServer {
  port: number
  url: string
  /** Kills the server (SIGKILL: a crash, no shutdown) and waits for it to exit. */
  kill: () => Promise<void>
  /** Starts it again on the same port, and waits until it answers. */
  restart: () => Promise<void>
}

/** Whether a Redis server on `port` answers PING. */
async function redisAnswers (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write('PING\r\n') })
    socket.setTimeout(500, () => { socket.destroy(); resolve(false) })
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
    socket.once('error', () => { resolve(false) })
  })
}

/**
 * A redis-server of the test's own (`/usr/bin/redis-server`, no persistence) on a free
 * port, killed at the end of the test. Needs redis-server installed (.ci/run installs it).
 */
export async function startRedis (t: { teardown: (fn: () => unknown) => void }): Promise<RedisServer> {
  const port = await freePort()
  let child: ReturnType<typeof spawn> | undefined
  const start = async (): Promise<void> => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    child = started
    const exited = new Promise<never>((_resolve, reject) => { started.once('exit', (code) => { reject(new Error(`redis-server exited with ${String(code)}`)) }) })
    exited.catch(() => {})
    await within(Promise.race([until(async () => await redisAnswers(port), 'redis-server to answer', 10_000), exited]), 11_000, 'redis-server')
  }
  const kill = async (): Promise<void> => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await within(exited, 5000, 'redis-server to exit')
  }
  t.teardown(kill)
  await start()
  return { port, url: `redis://127.0.0.1:${port}`, kill, restart: start }
}

/** A fixture child process that keeps running: its stdout lines, and its exit. */
export interface RunningFixture {
  /** Every line the child printed on stdout so far. */
  lines: string[]
  /** Resolves with the first line (printed from now or before) that matches. */
  line: (matches: (line: string) => boolean, what: string, ms?: number) => Promise<string>
  /** Resolves with the exit code once the child has exited. */
  exited: Promise<number | null>
  output: () => string
  kill: () => void
}

/** Starts a fixture script (as runFixture does, with this process' loaders) and leaves it running; killed at the end of the test. */
export function startFixture (t: { teardown: (fn: () => unknown) => void }, name: string, args: string[] = []): RunningFixture {
  const script = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let output = ''
  let partial = ''
  const listeners = new Set<() => void>()
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop() as string
    lines.push(...parts)
    for (const listener of listeners) listener()
  })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const kill = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  t.teardown(kill)
  const line = async (matches: (line: string) => boolean, what: string, ms = 10_000): Promise<string> => {
    let listener: () => void = () => {}
    const found = new Promise<string>((resolve) => {
      listener = () => {
        const match = lines.find(matches)
        if (match !== undefined) resolve(match)
      }
      listeners.add(listener)
      listener()
    })
    try {
      return await within(Promise.race([found, exited.then((code) => { throw new Error(`${name} exited with ${String(code)} before printing ${what}:\n${output}`) })]), ms, `${name} to print ${what}`)
    } finally {
      listeners.delete(listener)
    }
  }
  return { lines, line, exited, output: () => output, kill }
}
