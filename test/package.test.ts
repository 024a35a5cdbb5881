// The package as users get it: `npm run build` and `npm pack` of a copy of this tree, the
// tarball installed offline into a fresh directory, then imported there with `import` and
// with `require()`, each running a real echo, and type-checked from a consumer's files;
// the Redis adapter is the `fastify-upgrade/redis` subpath, whose client (ioredis, an
// optional peer the consumer does not install) the core entry never imports.
//
// - The copy (in a temporary directory, node_modules symlinked) keeps dist/ of the working
//   tree alone and starts from an empty dist/, so a stale output can never be packed.
// - The fresh install is `npm ci --offline`: npm 11 wants full registry documents to add
//   a tarball by name (`npm install <tarball>`), and an npm cache filled by `npm ci` holds
//   tarballs only. So the consumer gets a lockfile: the tarball (with its integrity) and,
//   for every dependency it declares and the consumer's own (fastify, ws, the type
//   packages), the versions this repository's package-lock.json pins. A dependency the
//   tarball needs but does not declare is missing there, as it would be for a user.
//   Without the tarballs in the npm cache, the consumer's packages are symlinks instead
//   (see `install`; the test's comment line says which way it went).
// - Extra Node binaries to run the two consumers with: PACKAGE_TEST_NODES, separated by
//   the platform's path delimiter (e.g. /opt/node22/bin/node:/opt/node24/bin/node).
import t from 'tap'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
// About 20 s on an idle machine (build 4, pack 1, install 3, consumers 2, types 5), but
// twice that while the rest of the suite runs beside it: more room than tap's 60 s.
t.setTimeout(120_000)
const extraNodes = (process.env.PACKAGE_TEST_NODES ?? '').split(path.delimiter).filter((node) => node !== '')

interface Run { code: number | null, signal: string | null, stdout: string, stderr: string }

// Children run without this process' loaders and coverage: they are users, not tests.
const childEnv: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: 'false' }
delete childEnv.NODE_OPTIONS
delete childEnv.NODE_V8_COVERAGE

/** Runs a command to completion, killing it (and rejecting) after `ms`. */
async function run (command: string, args: string[], cwd: string, ms: number): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${ms} ms\n${stdout}${stderr}`))
    }, ms)
    child.once('error', (error) => { clearTimeout(timer); reject(error) })
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

/** Like `run`, but a non-zero exit is an error carrying the output. */
async function mustRun (command: string, args: string[], cwd: string, ms: number): Promise<Run> {
  const result = await run(command, args, cwd, ms)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${String(result.code ?? result.signal)}\n${result.stdout}${result.stderr}`)
  return result
}

interface LockEntry {
  version?: string
  resolved?: string
  integrity?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  [key: string]: unknown
}
interface PackageJson extends LockEntry { name: string, version: string, license?: string, engines?: Record<string, string> }
interface PackResult { filename: string, files: Array<{ path: string }> }

function readJson<T> (file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T
}

/**
 * The consumer's package.json and package-lock.json: the tarball and `rootNames` (at the
 * versions the repository's lockfile pins), and the dependency closure of each, taken
 * from that lockfile (npm's own resolution: the nearest node_modules/<name> walking up
 * from the dependent's location).
 */
function writeConsumer (dir: string, tarball: string, packed: PackageJson, rootNames: string[]): string[] {
  const repoLock = readJson<{ packages: Record<string, LockEntry> }>(path.join(root, 'package-lock.json')).packages
  const relativeTarball = `file:${path.relative(dir, tarball).split(path.sep).join('/')}`
  const rootDependencies: Record<string, string> = { [packed.name]: relativeTarball }
  for (const name of rootNames) {
    const version = repoLock[`node_modules/${name}`]?.version
    if (version === undefined) throw new Error(`${name} is not in package-lock.json`)
    rootDependencies[name] = `^${version}`
  }
  const packages: Record<string, LockEntry> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: rootDependencies },
    [`node_modules/${packed.name}`]: {
      version: packed.version,
      resolved: relativeTarball,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      license: packed.license,
      dependencies: packed.dependencies,
      peerDependencies: packed.peerDependencies,
      peerDependenciesMeta: packed.peerDependenciesMeta,
      engines: packed.engines
    }
  }
  const locate = (from: string, name: string): string | undefined => {
    for (let base = from; ; base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : '') {
      const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`
      if (candidate in packages || candidate in repoLock) return candidate
      if (base === '') return undefined
    }
  }
  const queue = ['', `node_modules/${packed.name}`]
  for (let location = queue.shift(); location !== undefined; location = queue.shift()) {
    const entry = packages[location] ?? {}
    // npm installs peers too, but not optional ones (nobody else here asks for them).
    const optionalPeers = Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional === true).map(([name]) => name)
    const names = Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies }).filter((name) => !optionalPeers.includes(name))
    for (const name of names) {
      const found = locate(location, name)
      if (found === undefined) {
        if (name in (entry.optionalDependencies ?? {})) continue
        throw new Error(`${location === '' ? 'the consumer' : location} needs ${name}, which package-lock.json does not have (run npm install)`)
      }
      if (found in packages) continue
      // Whether a package is dev-only belongs to the repository, not to the consumer.
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = repoLock[found] ?? {}
      packages[found] = kept
      queue.push(found)
    }
  }
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: rootDependencies }, null, 2))
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2))
  return Object.keys(packages).filter((location) => location !== '' && location !== `node_modules/${packed.name}`)
}

/**
 * Installs the consumer: `npm ci --offline`, or, when the npm cache lacks a tarball (a
 * node_modules that `npm ci` did not fill), the tarball extracted into node_modules and
 * each other top-level package of the lockfile (`locations`) a symlink to the
 * repository's copy. The package then still sees only what it declares. Says which.
 */
async function install (dir: string, tarball: string, name: string, locations: string[]): Promise<string> {
  const npm = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], dir, 30_000)
  if (npm.code === 0) return 'npm ci --offline'
  const output = npm.stdout + npm.stderr
  if (!output.includes('ENOTCACHED')) throw new Error(`npm ci --offline exited with ${String(npm.code ?? npm.signal)}\n${output}`)
  rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true })
  const target = path.join(dir, 'node_modules', name)
  mkdirSync(target, { recursive: true })
  await mustRun('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], dir, 20_000)
  for (const location of locations.filter((location) => !location.includes('/node_modules/'))) {
    mkdirSync(path.dirname(path.join(dir, location)), { recursive: true })
    symlinkSync(path.join(root, location), path.join(dir, location), 'dir')
  }
  return `symlinks, the npm cache lacking a tarball (${output.split('\n').find((line) => line.includes('request to')) ?? 'ENOTCACHED'})`
}

// A user's ESM program: the plugin, an echo route, one echo with a ws client; the AsyncAPI
// document, which needs no other package, and the viewer page, which needs
// @asyncapi/react-component: an optional peer dependency, not installed here.
const esmConsumer = `
import Fastify from 'fastify'
import { WebSocket } from 'ws'
import fastifyUpgrade, { CloseCode } from 'fastify-upgrade'

const app = Fastify()
await app.register(fastifyUpgrade, { asyncapi: { path: '/asyncapi', viewer: false } })
app.get('/echo', { websocket: true }, (socket) => {
  socket.on('message', (data, isBinary) => { socket.send(isBinary ? data : data.toString()) })
})
await app.listen({ port: 0, host: '127.0.0.1' })
const client = new WebSocket('ws://127.0.0.1:' + app.server.address().port + '/echo')
const echoed = await new Promise((resolve, reject) => {
  client.once('open', () => { client.send('hello from import') })
  client.once('message', (data) => { resolve(data.toString()) })
  client.once('error', reject)
})
const closeCode = await new Promise((resolve) => { client.once('close', resolve); client.close(CloseCode.Normal) })
const asyncapi = { channels: Object.keys(app.asyncapi().channels), served: (await app.inject('/asyncapi.json')).statusCode }
await app.close()

const withViewer = Fastify()
withViewer.register(fastifyUpgrade, { asyncapi: { path: '/asyncapi' } })
const viewer = await withViewer.ready().then(() => 'registered', (error) => error.code)

// The Redis adapter is a subpath of its own, and its client an optional peer dependency
// that this consumer did not install: the subpath resolves, and loading it names what is missing.
const redisEntry = import.meta.resolve('fastify-upgrade/redis')
const redisImport = await import('fastify-upgrade/redis').then(() => 'loaded', (error) => error.code + ' ' + /'([^']+)'/.exec(error.message)?.[1])
console.log(JSON.stringify({ echoed, closeCode, resolved: import.meta.resolve('fastify-upgrade'), asyncapi, viewer, redisEntry, redisImport }))
`

// The same with require(), which loads the ES module (require(esm)).
const cjsConsumer = `
'use strict'
const Fastify = require('fastify')
const { WebSocket } = require('ws')
const fastifyUpgrade = require('fastify-upgrade')

async function main () {
  const app = Fastify()
  await app.register(fastifyUpgrade.default)
  app.get('/echo', { websocket: true }, (socket) => {
    socket.on('message', (data, isBinary) => { socket.send(isBinary ? data : data.toString()) })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const client = new WebSocket('ws://127.0.0.1:' + app.server.address().port + '/echo')
  const echoed = await new Promise((resolve, reject) => {
    client.once('open', () => { client.send('hello from require') })
    client.once('message', (data) => { resolve(data.toString()) })
    client.once('error', reject)
  })
  const closeCode = await new Promise((resolve) => { client.once('close', resolve); client.close(fastifyUpgrade.CloseCode.Normal) })
  await app.close()

  // The namespace itself is a valid register() argument (Fastify takes its default).
  const viaNamespace = Fastify()
  await viaNamespace.register(fastifyUpgrade)
  await viaNamespace.ready()
  const namespaceRegisters = viaNamespace.hasDecorator('websocketServer')
  await viaNamespace.close()

  const imported = await import('fastify-upgrade')
  console.log(JSON.stringify({
    echoed,
    closeCode,
    resolved: require.resolve('fastify-upgrade'),
    exports: Object.keys(fastifyUpgrade).sort(),
    defaultType: typeof fastifyUpgrade.default,
    namespaceRegisters,
    sameModuleAsImport: imported.default === fastifyUpgrade.default
  }))
}
main().catch((error) => { console.error(error); process.exitCode = 1 })
`

// A TypeScript user's ES module: each claim is an exact type equality or a line that must
// not compile, so an 'any' leaking out of the shipped declarations fails the check.
const tsConsumer = `
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifyUpgrade, { CloseCode, WebSocketConnection, type FastifyUpgradeOptions } from 'fastify-upgrade'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assert<_T extends true> (): void {}

const options: FastifyUpgradeOptions = { closeTimeout: 1000, onInvalidMessage: 'reply', options: { maxPayload: 65536 } }
const app = Fastify()
await app.register(fastifyUpgrade, options)
// @ts-expect-error -- ws' maxPayload is a number (the ws types reach the consumer)
await app.register(fastifyUpgrade, { options: { maxPayload: 'large' } })

app.get('/echo', { websocket: true }, (socket, request) => {
  assert<Equal<typeof request.url, string>>()
  socket.on('message', (data, isBinary) => {
    assert<Equal<typeof isBinary, boolean>>()
    socket.send(isBinary ? data : data.toString())
  })
  // @ts-expect-error -- not a method of the socket
  socket.nope()
})

app.get('/chat', {
  websocket: true,
  schema: {
    message: Type.Object({ text: Type.String() }),
    send: Type.Object({ echo: Type.String() })
  }
}, (socket) => {
  assert<Equal<typeof socket extends WebSocketConnection<any, any, any> ? true : false, true>>()
  socket.on('message', (message) => {
    assert<Equal<typeof message, { text: string }>>()
    socket.send({ echo: message.text })
    // @ts-expect-error -- echo must be a string (schema.send)
    socket.send({ echo: 1 })
    socket.close(CloseCode.Normal)
  })
})

assert<Equal<typeof CloseCode.Normal, 1000>>()
// @ts-expect-error -- a property the ws server does not have
app.websocketServer.nope()
`

// A TypeScript CommonJS module: \`import = require()\` types require(esm) as the namespace.
const ctsConsumer = `
import fastifyUpgrade = require('fastify-upgrade')
import Fastify = require('fastify')

const app = Fastify.default()
void app.register(fastifyUpgrade.default)
const normal: 1000 = fastifyUpgrade.CloseCode.Normal
void normal
`

const consumerTsconfig = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    types: ['node']
  },
  files: ['consumer.mts', 'consumer.cts']
}

// `tsc -p tsconfig.json` through the compiler API, reporting every diagnostic of the
// consumer's files and of the package's .d.ts files, i.e. skipLibCheck: false for this
// package only: with skipLibCheck an import the shipped declarations cannot resolve would
// silently become 'any'; without it tsc also checks all of @types/node and fastify (twice
// the time). Prints the checked files and the diagnostics as JSON.
const typecheckScript = `
const ts = (await import(process.argv[2])).default
const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => { throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\\n')) } }
const config = ts.getParsedCommandLineOfConfigFile('tsconfig.json', undefined, host)
const program = ts.createProgram({ rootNames: config.fileNames, options: config.options })
const checked = program.getSourceFiles().filter((file) => !file.fileName.includes('/node_modules/') || file.fileName.includes('/node_modules/fastify-upgrade/'))
const diagnostics = [
  ...config.errors,
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...checked.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])
]
const formatHost = { getCanonicalFileName: (name) => name, getCurrentDirectory: () => process.cwd(), getNewLine: () => '\\n' }
console.log(JSON.stringify({ checked: checked.map((file) => file.fileName), diagnostics: ts.formatDiagnostics(diagnostics, formatHost) }))
process.exitCode = diagnostics.length === 0 ? 0 : 1
`

const work = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'fastify-upgrade-package-')))
t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
const stage = path.join(work, 'stage')
const consumer = path.join(work, 'consumer')
const installed = path.join(consumer, 'node_modules', 'fastify-upgrade')

let pack: PackResult = { filename: '', files: [] }
let installedWith = 'nothing'
const timings: Record<string, number> = {}
async function timed<T> (step: string, action: () => Promise<T>): Promise<T> {
  const started = performance.now()
  try { return await action() } finally { timings[step] = Math.round(performance.now() - started) }
}

t.before(async () => {
  // Everything but what .gitignore keeps out of a checkout.
  const left = new Set(['node_modules', '.git', 'dist', 'coverage', '.tap', path.join('test', 'artifacts'), path.join('test', 'docs', 'snippets')])
  cpSync(root, stage, {
    recursive: true,
    filter: (source) => {
      const relative = path.relative(root, source)
      return !left.has(relative) && !relative.split(path.sep).includes('node_modules')
    }
  })
  symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'dir')

  await timed('build', async () => await mustRun('npm', ['run', 'build'], stage, 45_000))
  const packed = await timed('pack', async () => await mustRun('npm', ['pack', '--json', '--pack-destination', work], stage, 20_000))
  const results = JSON.parse(packed.stdout) as PackResult[]
  if (results[0] === undefined) throw new Error(`npm pack printed no result: ${packed.stdout}`)
  pack = results[0]

  mkdirSync(consumer)
  const tarball = path.join(work, pack.filename)
  const manifest = readJson<PackageJson>(path.join(stage, 'package.json'))
  const locations = writeConsumer(consumer, tarball, manifest, ['fastify', 'ws', '@sinclair/typebox', '@types/ws', '@types/node'])
  installedWith = await timed('install', async () => await install(consumer, tarball, manifest.name, locations))
  writeFileSync(path.join(consumer, 'esm.mjs'), esmConsumer)
  writeFileSync(path.join(consumer, 'cjs.cjs'), cjsConsumer)
  writeFileSync(path.join(consumer, 'consumer.mts'), tsConsumer)
  writeFileSync(path.join(consumer, 'consumer.cts'), ctsConsumer)
  writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify(consumerTsconfig, null, 2))
  writeFileSync(path.join(consumer, 'typecheck.mjs'), typecheckScript)
})

t.after(() => { t.comment(`installed with ${installedWith}; timings (ms): ${JSON.stringify(timings)}`) })

t.test('the tarball holds the build, its sources, the README, the docs and the LICENSE, and no tests', async (t) => {
  const files = pack.files.map((file) => file.path)
  for (const file of ['LICENSE', 'README.md', 'package.json', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/redis.js', 'dist/lib/redis.d.ts', 'dist/types/index.d.ts', 'lib/index.ts', 'types/index.ts']) {
    t.ok(files.includes(file), `${file} is packed`)
  }
  // bench/curve.svg is the one exception: the cost-curve chart that docs/benchmarks.md shows.
  t.ok(files.includes('bench/curve.svg'), 'the cost-curve chart the docs show is packed')
  t.same(files.filter((file) => file !== 'bench/curve.svg' && /^(test|bench|examples|\.ci)\/|\.test-d\.ts$|^tsconfig/.test(file)), [], 'no tests, benchmarks, examples, CI or tsconfig')
  // The README links to docs/: every page is packed, and the images the pages show, so the
  // links work in the installed package too.
  const pages = readdirSync(path.join(stage, 'docs')).filter((file) => file.endsWith('.md') || file.endsWith('.png')).map((file) => `docs/${file}`)
  t.ok(pages.length > 0, 'docs/ has pages')
  t.same(files.filter((file) => file.startsWith('docs/')).sort(), pages.sort(), 'every docs/*.md page and docs/*.png image is packed')
  t.match(readFileSync(path.join(installed, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} fastify-upgrade contributors\n/, 'the LICENSE is MIT')
  const manifest = readJson<PackageJson>(path.join(installed, 'package.json'))
  t.equal(manifest.license, 'MIT')
  // Every lib/ module is built and shipped (nothing stale either: the build started empty).
  const libSources = readdirSync(path.join(stage, 'lib')).filter((file) => file.endsWith('.ts')).map((file) => file.replace(/\.ts$/, ''))
  t.same(files.filter((file) => file.startsWith('dist/lib/') && file.endsWith('.js')).map((file) => path.basename(file, '.js')).sort(), libSources.sort(), 'one dist/lib/*.js per lib/*.ts')
})

t.test('only the viewer page refers to @asyncapi/react-component, and only the AsyncAPI module loads the viewer, when asked for', async (t) => {
  const built = pack.files.map((file) => file.path).filter((file) => file.startsWith('dist/lib/') && file.endsWith('.js'))
  const read = (file: string): string => readFileSync(path.join(installed, file), 'utf8')
  t.ok(existsSync(path.join(consumer, 'node_modules', '@asyncapi')) === false, 'the consumer has no @asyncapi package (an optional peer is not installed)')
  t.same(built.filter((file) => read(file).includes("'@asyncapi/react-component")), ['dist/lib/asyncapi-viewer.js'], 'the package is named in code by the viewer only')
  t.same(built.filter((file) => /^\s*import\b[^;]*['"]@asyncapi\//m.test(read(file))), [], 'and imported by none: the viewer finds its files with require.resolve, for the browser')
  t.same(built.filter((file) => /['"]\.\/asyncapi-viewer\.js['"]/.test(read(file))), ['dist/lib/asyncapi.js'], 'the viewer module is named by the AsyncAPI module alone...')
  t.match(read('dist/lib/asyncapi.js'), /await import\('\.\/asyncapi-viewer\.js'\)/, '...in a dynamic import, reached only when the viewer is asked for')
  t.notMatch(read('dist/lib/asyncapi.js'), /^import[^;]*asyncapi-viewer/m, 'never statically')
})

t.test('the core entry never imports the Redis client: ioredis is an optional peer, loaded by fastify-upgrade/redis only', async (t) => {
  const manifest = readJson<PackageJson & { exports: Record<string, { types: string, default: string }> }>(path.join(installed, 'package.json'))
  t.same(manifest.exports['./redis'], { types: './dist/lib/redis.d.ts', default: './dist/lib/redis.js' }, 'the ./redis subpath export')
  t.equal(manifest.peerDependenciesMeta?.ioredis?.optional, true, 'ioredis: an optional peer dependency')
  t.notOk('ioredis' in (manifest.dependencies ?? {}), 'and not a dependency')
  t.notOk(existsSync(path.join(consumer, 'node_modules', 'ioredis')), 'so the consumer did not install it')
  // Every module the core entry reaches, statically or dynamically, from dist/lib/index.js.
  const reached = new Set<string>()
  const specifiers = new Set<string>()
  const visit = (file: string): void => {
    if (reached.has(file)) return
    reached.add(file)
    for (const match of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const specifier = match[1] ?? match[2] ?? match[3] as string
      if (specifier.startsWith('.')) visit(path.resolve(path.dirname(file), specifier))
      else specifiers.add(specifier)
    }
  }
  visit(path.join(installed, 'dist', 'lib', 'index.js'))
  t.ok(reached.size > 10, `${reached.size} modules reached from the core entry`)
  t.notOk(reached.has(path.join(installed, 'dist', 'lib', 'redis.js')), 'dist/lib/redis.js is not among them')
  t.same([...specifiers].filter((name) => /redis/i.test(name)), [], 'no Redis client is imported')
  t.ok(specifiers.has('ws'), 'while the packages it does use are seen')
  t.match(readFileSync(path.join(installed, 'dist', 'lib', 'redis.js'), 'utf8'), /from 'ioredis'/, 'the subpath imports ioredis itself')
})

t.test('every source map in the tarball resolves to a file in the tarball', async (t) => {
  const maps = pack.files.map((file) => file.path).filter((file) => file.endsWith('.map'))
  t.ok(maps.length > 0, 'source maps are shipped')
  for (const map of maps) {
    const { sources } = readJson<{ sources: string[] }>(path.join(installed, map))
    t.ok(sources.length > 0, `${map} names its sources`)
    for (const source of sources) {
      const resolved = path.resolve(path.dirname(path.join(installed, map)), source)
      t.ok(!path.relative(installed, resolved).startsWith('..') && existsSync(resolved), `${map}: ${source} is in the package`)
    }
    const script = path.join(installed, map.replace(/\.map$/, ''))
    t.ok(readFileSync(script, 'utf8').trimEnd().endsWith(`//# sourceMappingURL=${path.basename(map)}`), `${path.basename(script)} links its map`)
  }
})

for (const node of [process.execPath, ...extraNodes]) {
  t.test(`import and require() (${node === process.execPath ? `this Node, ${process.version}` : node})`, async (t) => {
    const esm = await run(node, ['esm.mjs'], consumer, 15_000)
    t.equal(esm.code, 0, `the ESM consumer exits 0\n${esm.stderr}`)
    t.equal(esm.stderr, '', 'and prints no warning')
    t.same(JSON.parse(esm.stdout), {
      echoed: 'hello from import',
      closeCode: 1000,
      resolved: pathToFileURL(path.join(installed, 'dist', 'lib', 'index.js')).href,
      asyncapi: { channels: ['echo'], served: 200 },
      viewer: 'FST_UPGRADE_ASYNCAPI_VIEWER_MISSING',
      redisEntry: pathToFileURL(path.join(installed, 'dist', 'lib', 'redis.js')).href,
      redisImport: 'ERR_MODULE_NOT_FOUND ioredis'
    }, 'echo through the installed package, without @asyncapi/react-component or ioredis: the AsyncAPI document is served and the viewer refused by name; fastify-upgrade/redis resolves to dist/lib/redis.js and needs ioredis')

    const cjs = await run(node, ['cjs.cjs'], consumer, 15_000)
    t.equal(cjs.code, 0, `the CommonJS consumer exits 0\n${cjs.stderr}`)
    t.equal(cjs.stderr, '', 'and prints no warning (require(esm) is not experimental on this Node)')
    t.same(JSON.parse(cjs.stdout), {
      echoed: 'hello from require',
      closeCode: 1000,
      resolved: path.join(installed, 'dist', 'lib', 'index.js'),
      exports: ['CloseCode', 'InvalidMessage', 'WebSocketConnection', '__esModule', 'default', 'upgradeRequired'],
      defaultType: 'function',
      namespaceRegisters: true,
      sameModuleAsImport: true
    }, 'echo through require(), the namespace registers, one module instance for import and require()')
  })
}

t.test('a TypeScript consumer type-checks against the shipped declarations', async (t) => {
  const typescript = pathToFileURL(path.join(root, 'node_modules', 'typescript', 'lib', 'typescript.js')).href
  const result = await timed('typecheck', async () => await run(process.execPath, ['typecheck.mjs', typescript], consumer, 45_000))
  let report: { checked: string[], diagnostics: string }
  try {
    report = JSON.parse(result.stdout) as typeof report
  } catch {
    t.fail(`the type check did not report\n${result.stdout}${result.stderr}`)
    return
  }
  const { checked: files, diagnostics } = report
  t.equal(diagnostics, '', 'no diagnostics in the consumer\'s files or in the shipped declarations')
  t.equal(result.code, 0, 'the check exits 0')
  t.same(files.filter((file) => !file.includes('/node_modules/')).map((file) => path.basename(file)).sort(), ['consumer.cts', 'consumer.mts'])
  const ours = files.filter((file) => file.includes('/node_modules/'))
  t.ok(ours.includes(path.join(installed, 'dist', 'lib', 'index.d.ts')), 'fastify-upgrade resolves to the installed dist/lib/index.d.ts')
  t.same(ours.filter((file) => !file.startsWith(path.join(installed, 'dist')) || !file.endsWith('.d.ts')), [], 'and only to shipped declarations, never to the shipped .ts sources')
})
