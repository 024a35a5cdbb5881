// The viewer page: its routes and files (served from the installed
// @asyncapi/react-component), and the registration error when that package is missing. What
// a browser makes of the page: test/browser.test.ts.
import t from 'tap'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import Fastify from 'fastify'
import fastifyUpgrade from '../lib/index.js'
import { serveViewer } from '../lib/asyncapi-viewer.js'

const require = createRequire(import.meta.url)

t.test('GET <path> is the page; its script, stylesheet and start script are under <path>/', async (t) => {
  const app = Fastify()
  await app.register(fastifyUpgrade, { asyncapi: { path: '/docs/asyncapi', info: { title: 'Chat <"&\'> API' } } })
  app.get('/ws', { websocket: true }, (socket) => { socket.close() })
  t.teardown(() => app.close())

  const page = await app.inject('/docs/asyncapi')
  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.match(page.body, '<title>Chat &#60;&#34;&#38;&#39;&#62; API</title>', 'the title, escaped')
  t.match(page.body, '<div id="asyncapi" data-document="asyncapi.json"></div>', 'the document, relative to the page')
  t.match(page.body, '<link rel="stylesheet" href="asyncapi/default.min.css">')
  t.match(page.body, '<script src="asyncapi/standalone.js"></script>\n<script src="asyncapi/start.js"></script>')
  t.notMatch(page.body, /https?:\/\//, 'nothing from elsewhere')
  t.notMatch(page.body, /<script>/, 'no inline script')

  const bundle = await app.inject('/docs/asyncapi/standalone.js')
  t.equal(bundle.headers['content-type'], 'text/javascript; charset=utf-8')
  t.ok(bundle.rawPayload.equals(fs.readFileSync(require.resolve('@asyncapi/react-component/browser/standalone/index.js'))), 'the standalone bundle, as installed')
  const styles = await app.inject('/docs/asyncapi/default.min.css')
  t.equal(styles.headers['content-type'], 'text/css; charset=utf-8')
  t.ok(styles.rawPayload.equals(fs.readFileSync(require.resolve('@asyncapi/react-component/styles/default.min.css'))), 'its stylesheet, as installed')
  const start = await app.inject('/docs/asyncapi/start.js')
  t.equal(start.headers['content-type'], 'text/javascript; charset=utf-8')
  t.match(start.body, /AsyncApiStandalone\.render\(\{\s+schema: \{ url: root\.dataset\.document/)

  const document = await app.inject('/docs/asyncapi.json')
  t.same(Object.keys(document.json().channels), ['ws'], 'the document beside it; the viewer\'s routes are not channels')
})

t.test('the viewer asked for without @asyncapi/react-component installed: a registration error that says what to do', async (t) => {
  const app = Fastify()
  const missing = (specifier: string): string => {
    throw Object.assign(new Error(`Cannot find module '${specifier}'\nRequire stack:\n- lib/asyncapi-viewer.ts`), { code: 'MODULE_NOT_FOUND' })
  }
  t.throws(() => { serveViewer(app, '/asyncapi', 'API', missing) }, {
    code: 'FST_UPGRADE_ASYNCAPI_VIEWER_MISSING',
    message: "The AsyncAPI viewer page needs @asyncapi/react-component, an optional peer dependency: install it (npm install @asyncapi/react-component), or set asyncapi.viewer to false to serve the document only (Cannot find module '@asyncapi/react-component/browser/standalone/index.js')"
  })
  await app.close()
})
