// A real browser as the client: Debian's Chromium, driven by playwright-core. Every
// assertion is about what the page's own JavaScript observed (events, codes, bytes, DOM),
// read back with page.evaluate. One browser serves the whole file; every wait is bounded.
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import fastifyUpgrade from '../lib/index.js'
import { buildChatApp } from '../examples/chat/app.js'
import { delay, freePort, listen, within } from './helpers.js'
import { listenHttp2 } from './http2-helpers.js'

// CHROMIUM_PATH only exists to try this file against another build (or a missing one).
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const inCI = process.env.CI !== undefined && process.env.CI !== ''
const WAIT = 5000 // ms, the bound on every wait for the browser

/**
 * The test page: `openSocket(url)` opens a WebSocket (a path is resolved against
 * `ws://` + location.host) and records, in order, every event the page sees.
 */
const testPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>fastify-upgrade browser test</title></head>
<body><p>browser test page</p>
<script>
  window.records = []
  window.sockets = []
  window.openSocket = (url, protocols, binaryType) => {
    if (url.startsWith('/')) url = 'ws://' + location.host + url
    const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols)
    if (binaryType) ws.binaryType = binaryType
    const record = { url, events: [], messages: [] }
    ws.addEventListener('open', () => { record.events.push({ type: 'open', protocol: ws.protocol, extensions: ws.extensions }) })
    ws.addEventListener('error', () => { record.events.push({ type: 'error' }) })
    ws.addEventListener('close', (event) => { record.events.push({ type: 'close', code: event.code, reason: event.reason, wasClean: event.wasClean }) })
    ws.addEventListener('message', (event) => {
      record.messages.push(typeof event.data === 'string'
        ? { kind: 'text', data: event.data }
        : { kind: event.data instanceof ArrayBuffer ? 'arraybuffer' : 'other', bytes: Array.from(new Uint8Array(event.data)) })
    })
    window.sockets.push(ws)
    return window.records.push(record) - 1
  }
</script>
</body></html>`

type PageEvent =
  | { type: 'open', protocol: string, extensions: string }
  | { type: 'error' }
  | { type: 'close', code: number, reason: string, wasClean: boolean }
type PageMessage = { kind: 'text', data: string } | { kind: 'arraybuffer' | 'other', bytes: number[] }
interface SocketRecord { url: string, events: PageEvent[], messages: PageMessage[] }
/** What the test page puts on `window` (cast to, rather than declared globally). */
interface TestPageGlobals {
  records: SocketRecord[]
  sockets: WebSocket[]
  openSocket: (url: string, protocols?: string[], binaryType?: BinaryType) => number
}

/** Serves the test page at `/`. */
function servePage (app: FastifyInstance): void {
  app.get('/', async (_request, reply) => await reply.type('text/html; charset=utf-8').send(testPage))
}

/** Adds an echo route: text comes back as text, binary as binary. */
function echoRoute (app: FastifyInstance, path = '/echo'): void {
  app.get(path, { websocket: true }, (socket) => {
    socket.on('message', (data, isBinary) => { socket.send(isBinary ? data : data.toString()) })
  })
}

async function openSocket (page: Page, url: string, protocols?: string[], binaryType?: BinaryType): Promise<number> {
  return await page.evaluate(([url, protocols, binaryType]) => {
    return (window as unknown as TestPageGlobals).openSocket(url, protocols ?? undefined, binaryType ?? undefined)
  }, [url, protocols ?? null, binaryType ?? null] as const)
}

async function record (page: Page, id: number): Promise<SocketRecord> {
  return await page.evaluate((id) => (window as unknown as TestPageGlobals).records[id] as SocketRecord, id)
}

/** Waits (bounded) until the socket's record satisfies `ready`, then returns it. */
async function waitRecord (page: Page, id: number, what: string, ready: string): Promise<SocketRecord> {
  try {
    // `ready` is an expression over `r`, the record; evaluated in the page.
    await page.waitForFunction(`(() => { const r = window.records[${id}]; return ${ready} })()`, undefined, { timeout: WAIT })
  } catch (error) {
    throw new Error(`timed out waiting for ${what}; the page saw ${JSON.stringify(await record(page, id))}`, { cause: error })
  }
  return await record(page, id)
}

const waitEvent = async (page: Page, id: number, type: PageEvent['type']): Promise<SocketRecord> =>
  await waitRecord(page, id, `'${type}'`, `r.events.some((e) => e.type === ${JSON.stringify(type)})`)
const waitMessages = async (page: Page, id: number, count: number): Promise<SocketRecord> =>
  await waitRecord(page, id, `${count} message(s)`, `r.messages.length >= ${count}`)

/** Sends a string, or (for a number array) a Uint8Array of those bytes, from the page. */
async function send (page: Page, id: number, data: string | number[]): Promise<void> {
  await page.evaluate(([id, data]) => {
    const socket = (window as unknown as TestPageGlobals).sockets[id] as WebSocket
    socket.send(typeof data === 'string' ? data : new Uint8Array(data))
  }, [id, data] as const)
}

const closeOf = (r: SocketRecord): Extract<PageEvent, { type: 'close' }> | undefined =>
  r.events.find((e): e is Extract<PageEvent, { type: 'close' }> => e.type === 'close')

/** Records the console lines the browser logs (Chromium explains failed handshakes there). */
function consoleLines (page: Page): { lines: string[], logged: (pattern: RegExp) => Promise<boolean> } {
  const lines: string[] = []
  page.on('console', (message) => { lines.push(message.text()) })
  return {
    lines,
    /** Whether a line matching `pattern` is logged within WAIT ms (console events arrive on their own schedule). */
    async logged (pattern) {
      const deadline = Date.now() + WAIT
      while (!lines.some((line) => pattern.test(line))) {
        if (Date.now() > deadline) return false
        await delay(20)
      }
      return true
    }
  }
}

function browserTests (): void {
  let browser: Browser | undefined

  t.before(async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      timeout: 15_000,
      // --ignore-certificate-errors: the HTTP/2 test serves the page over TLS with the tests' self-signed certificate.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run', '--ignore-certificate-errors']
    })
    t.comment(`Chromium ${browser.version()} (${chromiumPath})`)
  })
  t.teardown(async () => { await browser?.close() })

  /** A fresh context (own cookies and cache), closed when the subtest ends. */
  async function newPage (t: { teardown: (fn: () => unknown) => void }, viewport = { width: 800, height: 600 }): Promise<{ context: BrowserContext, page: Page }> {
    if (browser === undefined) throw new Error('the browser did not start')
    const context = await browser.newContext({ viewport })
    context.setDefaultTimeout(WAIT)
    t.teardown(async () => { await context.close() })
    return { context, page: await context.newPage() }
  }

  t.test('echo: a page on the server sends text and binary and gets them back', async (t) => {
    const { app, port } = await listen((app) => { servePage(app); echoRoute(app) })
    t.teardown(() => app.close())
    const { page } = await newPage(t)
    await page.goto(`http://127.0.0.1:${port}/`)
    const id = await openSocket(page, '/echo', undefined, 'arraybuffer')
    const opened = await waitEvent(page, id, 'open')
    t.equal(opened.url, `ws://127.0.0.1:${port}/echo`, 'the page built its URL from location.host')
    await send(page, id, 'hello from Chromium ✓')
    await waitMessages(page, id, 1)
    await send(page, id, [1, 2, 3])
    const { messages, events } = await waitMessages(page, id, 2)
    t.same(messages, [
      { kind: 'text', data: 'hello from Chromium ✓' },
      { kind: 'arraybuffer', bytes: [1, 2, 3] }
    ], 'text came back as a string, binary as an ArrayBuffer with the same bytes')
    t.same(events.map((e) => e.type), ['open'], 'no error, no close')
  })

  t.test("subprotocol: the route's preference wins over the browser's order", async (t) => {
    const { app, port } = await listen((app) => {
      servePage(app)
      app.get('/chat', { websocket: { protocols: ['chat.v2', 'chat.v1'] } }, (socket) => { socket.send(`speaking ${socket.protocol}`) })
    })
    t.teardown(() => app.close())
    const { page } = await newPage(t)
    await page.goto(`http://127.0.0.1:${port}/`)
    const id = await openSocket(page, '/chat', ['chat.v1', 'chat.v2'])
    await waitEvent(page, id, 'open')
    t.equal(await page.evaluate((id) => (window as unknown as TestPageGlobals).sockets[id]?.protocol, id), 'chat.v2', 'ws.protocol in the page')
    const { messages } = await waitMessages(page, id, 1)
    t.same(messages, [{ kind: 'text', data: 'speaking chat.v2' }], 'the server agrees')
  })

  t.test('permessage-deflate: negotiated with the browser on the route that enables it only', async (t) => {
    const { app, port } = await listen((app) => {
      servePage(app)
      app.get('/deflate', { websocket: { perMessageDeflate: true } }, (socket) => {
        socket.on('message', (data) => { socket.send(data.toString().toUpperCase()) })
      })
      echoRoute(app, '/plain')
    })
    t.teardown(() => app.close())
    const { page } = await newPage(t)
    await page.goto(`http://127.0.0.1:${port}/`)
    const deflate = await openSocket(page, '/deflate')
    const plain = await openSocket(page, '/plain')
    await waitEvent(page, deflate, 'open')
    await waitEvent(page, plain, 'open')
    const extensions = await page.evaluate(() => (window as unknown as TestPageGlobals).sockets.map((ws) => ws.extensions))
    t.match(extensions[0], /^permessage-deflate/, 'ws.extensions on the deflate route')
    t.equal(extensions[1], '', 'ws.extensions on a route without the option')
    // A compressed round trip, both directions (ws compresses messages of 1 KiB and more by default).
    await send(page, deflate, 'abc'.repeat(2000))
    const { messages } = await waitMessages(page, deflate, 1)
    t.same(messages, [{ kind: 'text', data: 'ABC'.repeat(2000) }], 'a 6000-byte message round-trips compressed')
  })

  t.test('HTTP/2: a page loaded over h2 opens its WebSocket as an extended CONNECT on that connection (RFC 8441)', async (t) => {
    const seen: Array<{ url: string, httpVersion: string, method: string }> = []
    const serverCloses: number[] = []
    let onServerClose: () => void = () => {}
    const { app, port } = await listenHttp2((app) => {
      app.addHook('onRequest', async (request) => {
        seen.push({ url: request.url, httpVersion: request.raw.httpVersion, method: String(request.headers[':method'] ?? request.method) })
      })
      servePage(app)
      app.get('/echo', { websocket: true }, (socket) => {
        socket.on('message', (data, isBinary) => {
          if (!isBinary && data.toString() === 'close 4001') socket.close(4001, 'asked over h2')
          else socket.send(isBinary ? data : data.toString())
        })
        socket.on('close', (code) => { serverCloses.push(code); onServerClose() })
      })
    })
    t.teardown(() => app.close())
    const { page } = await newPage(t)
    const loaded = await page.goto(`https://127.0.0.1:${port}/`)
    t.equal(loaded?.status(), 200)
    const url = `wss://127.0.0.1:${port}/echo`
    const id = await openSocket(page, url, undefined, 'arraybuffer')
    await waitEvent(page, id, 'open')
    await send(page, id, 'hello over HTTP/2')
    await send(page, id, [7, 8, 9])
    const { messages } = await waitMessages(page, id, 2)
    t.same(messages, [{ kind: 'text', data: 'hello over HTTP/2' }, { kind: 'arraybuffer', bytes: [7, 8, 9] }], 'echo, text and binary')
    t.same(seen, [
      { url: '/', httpVersion: '2.0', method: 'GET' },
      { url: '/echo', httpVersion: '2.0', method: 'CONNECT' }
    ], 'the page came over HTTP/2, and its WebSocket as an extended CONNECT, not an HTTP/1.1 upgrade')

    await send(page, id, 'close 4001')
    const byServer = closeOf(await waitEvent(page, id, 'close'))
    t.same(byServer, { type: 'close', code: 4001, reason: 'asked over h2', wasClean: true }, 'the server\'s close code, cleanly')

    const second = await openSocket(page, url)
    await waitEvent(page, second, 'open')
    await page.evaluate((id) => { (window as unknown as TestPageGlobals).sockets[id]?.close(4002, 'from the page') }, second)
    t.equal(closeOf(await waitEvent(page, second, 'close'))?.code, 4002, 'the page\'s close code')
    if (serverCloses.length < 2) await within(new Promise<void>((resolve) => { onServerClose = resolve }), WAIT, 'the server to see the page\'s close')
    t.same(serverCloses, [4001, 4002], 'the server saw both close codes')
    t.equal(seen.filter((request) => request.method === 'CONNECT').length, 2, 'both over extended CONNECT')
    t.equal(app.websocketStats().open, 0)
  })

  t.test('close codes the browser sees: 1008 and 1007 for invalid messages, 1001 at shutdown', async (t) => {
    const { app, port } = await listen((app) => {
      servePage(app)
      app.get('/typed', { websocket: true, schema: { message: Type.Object({ n: Type.Integer() }) } }, (socket) => {
        socket.on('message', (message) => { socket.send(JSON.stringify({ doubled: message.n * 2 })) })
      })
    })
    t.teardown(() => app.close())
    const { page } = await newPage(t)
    await page.goto(`http://127.0.0.1:${port}/`)

    const invalid = await openSocket(page, '/typed')
    await waitEvent(page, invalid, 'open')
    await send(page, invalid, '{"n":21}')
    await waitMessages(page, invalid, 1)
    await send(page, invalid, '{"n":"x"}')
    const policy = await waitEvent(page, invalid, 'close')
    t.same(policy.messages, [{ kind: 'text', data: '{"doubled":42}' }], 'a valid message is served first')
    const policyClose = closeOf(policy)
    t.equal(policyClose?.code, 1008, 'schema violation: 1008 policy violation')
    t.match(policyClose?.reason, /\/n\b/, 'the reason names the failing path /n')
    t.notMatch(policyClose?.reason, /"x"/, 'and not what the page sent')
    t.equal(policyClose?.wasClean, true, 'a clean closing handshake')

    const garbled = await openSocket(page, '/typed')
    await waitEvent(page, garbled, 'open')
    await send(page, garbled, 'not json')
    const garbledClose = closeOf(await waitEvent(page, garbled, 'close'))
    t.equal(garbledClose?.code, 1007, 'not JSON: 1007 invalid frame payload data')
    t.equal(garbledClose?.wasClean, true)

    // Shutdown, on a server of its own (this one is closed by the test itself).
    // A close timeout no test outlives: close() can only resolve because the browser answered.
    const doomed = await listen((app) => { servePage(app); echoRoute(app) }, { closeTimeout: 2 ** 31 - 1 })
    let closed = false
    t.teardown(async () => { if (!closed) await doomed.app.close() })
    const { page: other } = await newPage(t)
    await other.goto(`http://127.0.0.1:${doomed.port}/`)
    const connected = await openSocket(other, '/echo')
    await waitEvent(other, connected, 'open')
    closed = true
    await within(doomed.app.close(), WAIT, 'app.close(), which only the browser\'s answer can resolve')
    const shutdown = await waitEvent(other, connected, 'close')
    t.same(shutdown.events.map((e) => e.type), ['open', 'close'])
    t.same(closeOf(shutdown), { type: 'close', code: 1001, reason: 'server shutting down', wasClean: true }, '1001 Going Away')
  })

  t.test('origins: a page from another origin is refused, a same-origin page connects', async (t) => {
    // The allowed origin names the server's own port, so the port is picked before listening.
    const port = await freePort()
    const first = Fastify()
    await first.register(fastifyUpgrade)
    servePage(first)
    first.get('/strict', { websocket: { allowedOrigins: [`http://127.0.0.1:${port}`] } }, (socket) => { socket.send('welcome') })
    await first.listen({ port, host: '127.0.0.1' })
    t.teardown(() => first.close())
    const second = Fastify()
    servePage(second)
    await second.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => second.close())
    const secondPort = (second.server.address() as net.AddressInfo).port

    const { page: foreign } = await newPage(t)
    const foreignConsole = consoleLines(foreign)
    await foreign.goto(`http://127.0.0.1:${secondPort}/`)
    const refused = await openSocket(foreign, `ws://127.0.0.1:${port}/strict`)
    const failure = await waitEvent(foreign, refused, 'close')
    t.same(failure.events.map((e) => e.type), ['error', 'close'], 'onerror then onclose, never onopen')
    t.equal(closeOf(failure)?.code, 1006, 'abnormal closure')
    t.equal(closeOf(failure)?.wasClean, false)
    t.same(failure.messages, [])
    t.ok(await foreignConsole.logged(/Unexpected response code: 403/), 'Chromium reports the 403', { lines: foreignConsole.lines })
    t.equal(first.websocketStats().rejectedHandshakes.FST_UPGRADE_ORIGIN_REFUSED, 1, 'the server refused it by origin')

    const { page: own } = await newPage(t)
    await own.goto(`http://127.0.0.1:${port}/`)
    const accepted = await openSocket(own, '/strict')
    const welcome = await waitMessages(own, accepted, 1)
    t.same(welcome.events.map((e) => e.type), ['open'], 'the same-origin page connects')
    t.same(welcome.messages, [{ kind: 'text', data: 'welcome' }])
  })

  t.test('auth: an onRequest hook that answers 401 fails the browser handshake; the token opens it', async (t) => {
    const { app, port } = await listen(async (app) => {
      servePage(app)
      await app.register(async (scope) => {
        scope.addHook('onRequest', async (request, reply) => {
          if ((request.query as { token?: string }).token !== 'ok') await reply.code(401).send({ error: 'unauthorized' })
        })
        scope.get('/private', { websocket: true }, (socket) => { socket.send('secret') })
      })
    })
    t.teardown(() => app.close())
    const { page } = await newPage(t)
    const browserConsole = consoleLines(page)
    await page.goto(`http://127.0.0.1:${port}/`)

    const anonymous = await openSocket(page, '/private')
    const refused = await waitEvent(page, anonymous, 'close')
    t.same(refused.events.map((e) => e.type), ['error', 'close'], 'no onopen')
    t.equal(closeOf(refused)?.code, 1006)
    t.same(refused.messages, [])
    // Chromium's wording for a 401 answer (without WWW-Authenticate) to a WebSocket handshake.
    t.ok(await browserConsole.logged(/\/private' failed: HTTP Authentication failed/), 'Chromium reports the 401', { lines: browserConsole.lines })

    const authorised = await openSocket(page, '/private?token=ok')
    const opened = await waitMessages(page, authorised, 1)
    t.same(opened.events.map((e) => e.type), ['open'])
    t.same(opened.messages, [{ kind: 'text', data: 'secret' }])
    t.same(app.websocketStats().rejectedHandshakes, { 'status 401': 1 })
  })

  t.test('the chat demo: two pages, presence, messages, a refused message, screenshots', async (t) => {
    const app = await buildChatApp()
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as net.AddressInfo
    t.teardown(() => app.close())
    const viewport = { width: 1000, height: 700 }
    const { page: ada } = await newPage(t, viewport)
    const { page: bob } = await newPage(t, viewport)
    const url = `http://127.0.0.1:${port}/room/test`

    for (const [page, name] of [[ada, 'Ada'], [bob, 'Bob']] as const) {
      await page.goto(url)
      await page.waitForFunction(() => document.getElementById('status')?.className === 'open', undefined, { timeout: WAIT })
      await page.fill('#name', name)
      await page.click('#join-button') // submits #join
      await page.waitForFunction((name) => [...document.querySelectorAll('#people li')].some((li) => li.textContent === name), name, { timeout: WAIT })
    }
    const people = async (page: Page): Promise<string[]> =>
      await page.evaluate(() => [...document.querySelectorAll('#people li')].map((li) => li.textContent ?? ''))
    await ada.waitForFunction(() => document.querySelectorAll('#people li').length === 2, undefined, { timeout: WAIT })
    t.same(await people(ada), ['Ada', 'Bob'], "Ada's page lists both")
    t.same(await people(bob), ['Ada', 'Bob'], "Bob's page lists both")
    t.equal(await ada.evaluate(() => document.getElementById('room-name')?.textContent), 'test', 'the room comes from the URL')

    /** The 'said' lines of a page: [from, text]. */
    const said = async (page: Page): Promise<Array<[string, string]>> => await page.evaluate(() =>
      [...document.querySelectorAll('#messages li')]
        .filter((li) => li.querySelector('.from') !== null)
        .map((li) => [li.querySelector('.from')?.textContent ?? '', li.lastElementChild?.textContent ?? ''] as [string, string]))
    const waitSaid = async (page: Page, text: string): Promise<void> => {
      await page.waitForFunction((text) => [...document.querySelectorAll('#messages li')].some((li) => li.lastElementChild?.textContent === text), text, { timeout: WAIT })
    }

    await ada.fill('#text', 'hello Bob')
    await ada.click('#send')
    await waitSaid(bob, 'hello Bob')
    t.same(await said(bob), [['Ada', 'hello Bob']], "Bob's page shows Ada's message, from Ada")
    t.equal(await ada.inputValue('#text'), '', "Ada's input is cleared")

    const tooLong = 'x'.repeat(300)
    const errorText = async (page: Page): Promise<string> => await page.evaluate(() => document.getElementById('errors')?.textContent ?? '')
    await bob.fill('#text', tooLong)
    await bob.click('#send')
    await bob.waitForFunction(() => (document.getElementById('errors')?.textContent ?? '') !== '', undefined, { timeout: WAIT })
    t.match(await errorText(bob), /\/text\b/, "Bob's #errors names /text")
    t.match(await errorText(bob), /280/, 'and the limit')
    // A later message from Bob reaches Ada after the refused one would have: so Ada never got it.
    await bob.fill('#text', 'sorry, shorter')
    await bob.click('#send')
    await waitSaid(ada, 'sorry, shorter')
    await waitSaid(bob, 'sorry, shorter')
    t.same(await said(ada), [['Ada', 'hello Bob'], ['Bob', 'sorry, shorter']], 'Ada never received the 300-character message')
    t.equal(await errorText(ada), '', 'nor any error')
    t.equal(await errorText(bob), '', "a good message clears Bob's error")
    t.same(await said(bob), [['Ada', 'hello Bob'], ['Bob', 'sorry, shorter']])
    // Once more, so that the screenshot shows the error.
    await bob.fill('#text', tooLong)
    await bob.click('#send')
    await bob.waitForFunction(() => (document.getElementById('errors')?.textContent ?? '') !== '', undefined, { timeout: WAIT })

    // Screenshots for people to look at; what they show is asserted above, through the DOM.
    const artifacts = new URL('./artifacts/', import.meta.url)
    fs.mkdirSync(artifacts, { recursive: true })
    for (const [page, file] of [[bob, 'chat.png'], [ada, 'chat-a.png']] as const) {
      await page.screenshot({ path: new URL(file, artifacts).pathname })
      t.comment(`screenshot: test/artifacts/${file}`)
    }
  })

  t.test("the chat demo's AsyncAPI viewer: its channels and messages rendered by files the server serves, screenshot", async (t) => {
    const app = await buildChatApp()
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as net.AddressInfo
    t.teardown(() => app.close())
    // Wide enough for the viewer's sidebar and examples column.
    const viewport = { width: 1600, height: 1000 }
    const { page } = await newPage(t, viewport)
    const origin = `http://127.0.0.1:${port}`
    const requested: string[] = []
    page.on('request', (request) => { requested.push(request.url()) })
    const pageErrors: string[] = []
    page.on('pageerror', (error) => { pageErrors.push(error.message) })

    await page.goto(`${origin}/asyncapi`)
    // The page loads a 3 MB bundle, which fetches and parses the document before rendering
    // it: a longer bound than WAIT on a busy machine.
    await page.waitForFunction(() => document.body.innerText.includes('/chat/{room}'), undefined, { timeout: 30_000 })
    const text = await page.innerText('body')
    t.match(text, /fastify-upgrade chat 1\.0\.0/, 'the info')
    const operations: Array<[string, RegExp]> = [
      ['RECEIVE /chat/{room}', /RECEIVE\s+\/chat\/\{room\}/],
      ['SEND /chat/{room}', /SEND\s+\/chat\/\{room\}/],
      ['RECEIVE /echo', /RECEIVE\s+\/echo/],
      ['SEND /echo', /SEND\s+\/echo/]
    ]
    for (const [operation, pattern] of operations) t.match(text, pattern, `the operation ${operation}`)
    for (const message of ['join', 'say', 'send', 'message']) t.match(text, new RegExp(`Message ID\\s*${message}\\b`), `the message ${message}`)
    t.match(text, /Join with a name/, "the route's description")
    t.same(requested.filter((url) => !url.startsWith(`${origin}/`)), [], 'nothing fetched from elsewhere')
    t.same(requested.map((url) => new URL(url).pathname).sort(), ['/asyncapi', '/asyncapi.json', '/asyncapi/default.min.css', '/asyncapi/standalone.js', '/asyncapi/start.js'])
    t.same(pageErrors, [], 'no error in the page')

    const artifacts = new URL('./artifacts/', import.meta.url)
    fs.mkdirSync(artifacts, { recursive: true })
    const path = new URL('asyncapi-viewer.png', artifacts)
    fs.rmSync(path, { force: true })
    await page.screenshot({ path: path.pathname })
    const png = fs.readFileSync(path)
    t.same([png.readUInt32BE(16), png.readUInt32BE(20)], [viewport.width, viewport.height], `test/artifacts/asyncapi-viewer.png is ${viewport.width}x${viewport.height}`)
    // docs/asyncapi.md shows this screenshot: refreshed on request, never as a side effect of a test run.
    if (process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
      fs.copyFileSync(path, new URL('../docs/asyncapi-viewer.png', import.meta.url))
      t.comment('docs/asyncapi-viewer.png updated')
    }
  })
}

if (fs.existsSync(chromiumPath)) {
  browserTests()
} else if (inCI) {
  t.fail(`${chromiumPath} is missing; CI must install it (apt-get install chromium, as .ci/run does)`)
} else {
  t.comment(`skipping the browser tests: ${chromiumPath} is missing (apt-get install chromium)`)
  t.plan(0, `${chromiumPath} is missing`)
}
