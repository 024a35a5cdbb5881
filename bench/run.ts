// `npm run bench`: every contender, in the same run on the same machine, each server in a
// child process of its own, driven by one load-generator process. Rounds alternate the
// contenders (in a rotated order); each figure is the median of the rounds, and is given
// with its ratio to raw ws measured in the same run. The server's CPU time per operation
// is read from the server itself (process.cpuUsage() over IPC, before and after each
// measurement window), so it does not depend on how fast the client is (except for the
// kernel's loopback work done inside the server's system calls: see RESULTS.md).
//
//   npm run bench                        full run (12 to 13 minutes on 2 cores, the cost curve 1.5 of them), writes
//                                        bench/RESULTS.md and bench/curve.svg
//   npm run bench -- --quick             smoke run of every contender and scenario (about 1 minute), writes nothing
//   npm run bench -- --contenders ws,fastify-upgrade --scenarios echo-20,handshake
//                       (raw ws, the baseline, always runs; scenarios: handshake, echo-20,
//                        echo-16k, json, memory, http2, the topics ones (bench/topics.ts):
//                        fanout, burst, cross-server, and curve; also --rounds N, --window MS, --out FILE)
//                       http2: fastify-upgrade's handshakes and echo over HTTP/2 extended
//                       CONNECT against HTTP/1.1 on the same server (bench/http2.ts), info only
//   npm run bench -- --scenarios fanout,burst,cross-server
//                       topics only: replaces the topics section of bench/RESULTS.md, and nothing else
//   npm run bench -- --scenarios curve
//                       the cost curve only (bench/curve.ts): idle connections in steps of 1,000 to
//                       40,000 against raw ws, @fastify/websocket and fastify-upgrade (memory per
//                       connection, the next 1,000 handshakes, echo p50/p99); replaces the curve
//                       section of bench/RESULTS.md and bench/curve.svg, nothing else
//                       (--curve-steps 1000,3000 for other steps; --quick: 1,000 and 2,000)
//   npm run bench -- --profile fastify-upgrade:echo-20   --cpu-prof of one server over one scenario
//   npm run bench -- --profile fastify-upgrade:memory    heap snapshots: what an idle connection holds
//   npm run bench -- --profile fastify-upgrade:echo-20 --profile-after handshake,json
//                                        (first runs those scenarios briefly, as a full run has by then)
//   npm run bench -- --no-bufferutil     WS_NO_BUFFER_UTIL=1 in every process
//   npm run bench -- --from-source       fastify-upgrade from lib/ through tsx instead of a fresh tsc build
//   npm run bench -- --pin               servers on CPU 0, the load generator on CPU 1 (taskset)
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  contenders as allContenders, median, order as orderMessage, RpcPeer, sleep, stopChild,
  type Contender, type ContenderId, type CpuReading, type GcReading, type LoadMark, type MemReading, type ScenarioId, type ServerHello
} from './common.js'
import { analyzeProfile, formatHeapDiff, formatProfile } from './profile.js'
import { compareHttp2 } from './http2.js'
import { runTopics, topicScenarios, type TopicScenario } from './topics.js'
import { curveScenarios, runCurve } from './curve.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    window: { type: 'string' },
    contenders: { type: 'string' },
    scenarios: { type: 'string' },
    out: { type: 'string' },
    'curve-steps': { type: 'string' },
    profile: { type: 'string' },
    'profile-ms': { type: 'string' },
    'profile-after': { type: 'string' },
    'no-bufferutil': { type: 'boolean', default: false },
    'from-source': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})

if (flags.help) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
  const header = lines.slice(0, lines.findIndex((line) => !line.startsWith('//')))
  console.log(header.map((line) => line.slice(3)).join('\n'))
  process.exit(0)
}

const quick = flags.quick
const settings = {
  warmupRound: !quick,
  rounds: Number(flags.rounds ?? (quick ? 1 : 7)),
  /** Load before each window, not measured. */
  warmMs: quick ? 150 : 400,
  windowMs: Number(flags.window ?? (quick ? 300 : 1200)),
  warmupRoundWindowMs: 300,
  handshakeConcurrency: 32,
  echoConnections: 100,
  memoryRounds: quick ? 1 : 3,
  memoryConnections: quick ? 200 : 5000,
  memoryOpenConcurrency: 50,
  /** Quiet time between two measurements. */
  pauseMs: quick ? 50 : 100
}

const throughputScenarios: ScenarioId[] = ['handshake', 'echo-20', 'echo-16k', 'json']
const scenarioNames: Record<ScenarioId, string> = {
  handshake: `handshakes (connect → open → close, ${settings.handshakeConcurrency} concurrent connectors)`,
  'echo-20': `echo, 20 B binary, ${settings.echoConnections} connections × 1 in flight`,
  'echo-16k': `echo, 16 KiB binary, ${settings.echoConnections} connections × 1 in flight`,
  json: `JSON echo of a ${Buffer.byteLength(JSON.stringify(orderMessage))} B object, ${settings.echoConnections} connections × 1 in flight`,
  memory: `idle connections (${settings.memoryConnections.toLocaleString('en')}), after GC`
}

const wanted = flags.contenders?.split(',').map((name) => name.trim())
const contenders = allContenders.filter((contender) => wanted === undefined || wanted.includes(contender.id) || contender.id === 'ws')
const requested = flags.scenarios?.split(',').map((name) => name.trim()) ?? [...throughputScenarios, 'memory', 'http2', ...topicScenarios, ...curveScenarios]
const isTopic = (name: string): name is TopicScenario => (topicScenarios as readonly string[]).includes(name)
const topicsWanted = requested.filter(isTopic)
/** The HTTP/2 comparison (bench/http2.ts): not a contender scenario, run after them. */
const runHttp2 = requested.includes('http2')
/** The cost curve (bench/curve.ts): a section of its own, run last. */
const curveWanted = requested.includes('curve')
const curveSteps = flags['curve-steps']?.split(',').map((step) => Number(step.trim()))
if (curveSteps !== undefined && curveSteps.some((step) => !Number.isInteger(step) || step < 100)) throw new Error('--curve-steps: connection counts of at least 100, e.g. 1000,3000')
const scenarios = requested.filter((name) => !isTopic(name) && name !== 'http2' && name !== 'curve') as ScenarioId[]
for (const scenario of scenarios) {
  if (!(scenario in scenarioNames)) throw new Error(`unknown scenario ${scenario} (${[...Object.keys(scenarioNames), 'http2', ...topicScenarios, ...curveScenarios].join(', ')})`)
}

/**
 * --pin: servers on CPU 0, the load generator on CPU 1 (all their threads: taskset runs
 * before node starts). Off by default: on this shared 2-core machine other work lands on
 * either core, and a pinned process cannot move away from it (rates got far noisier).
 */
const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((file) => existsSync(file))
const pin = flags.pin && taskset !== undefined && os.cpus().length >= 2
function pinned (cpu: number, execArgv: string[]): { execPath?: string, execArgv: string[] } {
  return pin ? { execPath: taskset, execArgv: ['-c', String(cpu), process.execPath, ...execArgv] } : { execArgv }
}

const childEnv: NodeJS.ProcessEnv = { ...process.env }
if (flags['no-bufferutil']) childEnv.WS_NO_BUFFER_UTIL = '1'

/**
 * fastify-upgrade as it ships: lib/ compiled by tsc (what `npm run build` makes), into a
 * scratch directory so that dist/ is left alone. Running lib/ through tsx instead would
 * measure esbuild's output, which wraps every closure in a `__name()` call (keepNames).
 */
function buildFastifyUpgrade (): string {
  const outDir = path.join(root, 'node_modules', '.cache', 'fastify-upgrade-bench')
  rmSync(outDir, { recursive: true, force: true })
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir, '--declaration', 'false', '--sourceMap', 'false'], { cwd: root, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`tsc could not build lib/ (use --from-source to run it through tsx):\n${result.stdout}${result.stderr}`)
  // Under node_modules/ a .js file is CommonJS unless a package.json says otherwise.
  writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n')
  return path.join(outDir, 'lib', 'index.js')
}

// ---------------------------------------------------------------------------------
// Processes

interface RunningServer { contender: Contender, peer: RpcPeer, port: number, info: string[] }

async function spawnServer (contender: Contender, extraArgs: string[] = []): Promise<RunningServer | { skipped: string }> {
  const child = fork(path.join(here, 'server.ts'), [contender.id], {
    cwd: root,
    env: childEnv,
    ...pinned(0, ['--import', 'tsx', '--expose-gc', ...extraArgs]),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const hello = await new Promise<ServerHello>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${contender.id}: server did not start within 60 s`)) }, 60_000)
    child.once('message', (message: ServerHello) => {
      clearTimeout(timer)
      resolve(message)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${contender.id}: server exited with ${String(code)} before it was ready`))
    })
  })
  if (hello.hello === 'skip') {
    child.kill()
    return { skipped: hello.reason }
  }
  return { contender, peer: new RpcPeer(child), port: hello.port, info: hello.info }
}

function spawnLoad (): RpcPeer {
  const child: ChildProcess = fork(path.join(here, 'load.ts'), [], {
    cwd: root,
    env: childEnv,
    ...pinned(1, ['--import', 'tsx']),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return new RpcPeer(child)
}

// ---------------------------------------------------------------------------------
// Measurements

interface Sample {
  round: number
  scenario: ScenarioId
  contender: ContenderId
  ops: number
  seconds: number
  rate: number
  /** Server CPU time (user + system) per operation, microseconds. */
  cpuPerOp: number
  /** The user-space part of it: JavaScript, V8, ws; not the kernel's socket work. */
  userPerOp: number
  /** Server and load-generator CPU time over the window, in cores (1 = one core busy). */
  serverBusy: number
  loadBusy: number
  errors: number
  p50?: number
  p99?: number
  /** The server's GC pauses over the window: milliseconds of pause per 1,000 operations, and the longest. */
  gcMsPerKOps: number
  gcLongestMs: number
  leftOpen: number
}

interface MemorySample {
  round: number
  contender: ContenderId
  connections: number
  rssPerConnection: number
  heapPerConnection: number
  externalPerConnection: number
}

function applies (contender: Contender, scenario: ScenarioId): boolean {
  return !(scenario.startsWith('echo') && contender.echoPath === undefined)
}

async function startLoad (load: RpcPeer, server: RunningServer, scenario: ScenarioId, maxMs: number): Promise<void> {
  const { contender, port } = server
  if (scenario === 'handshake') {
    await load.call('startHandshakes', { kind: contender.client, port, path: contender.connectPath, concurrency: settings.handshakeConcurrency, maxOps: 2_000_000, maxMs })
  } else {
    const payload = scenario === 'echo-20' ? 'bin20' : scenario === 'echo-16k' ? 'bin16k' : 'json'
    const routePath = scenario === 'json' ? contender.jsonPath : contender.echoPath as string
    await load.call('startEcho', { kind: contender.client, port, path: routePath, connections: settings.echoConnections, payload, maxOps: 50_000_000, maxMs }, 120_000)
  }
}

/** Waits (a bounded time) for the server to have closed every connection of the last load. */
async function settled (server: RunningServer): Promise<number> {
  let open = 0
  for (let i = 0; i < 100; i++) {
    open = await server.peer.call<number>('open')
    if (open === 0) return 0
    await sleep(50)
  }
  return open
}

interface Window { ops: number, seconds: number, serverCpu: number, serverUser: number, loadCpu: number, errors: number, serverHr: [number, number], gcMs: number, gcLongestMs: number }

async function window (load: RpcPeer, server: RunningServer, windowMs: number): Promise<Window> {
  const c0 = await server.peer.call<CpuReading & { hr: number, gc: GcReading }>('cpu')
  const m0 = await load.call<LoadMark>('mark', { record: true })
  await sleep(windowMs)
  const m1 = await load.call<LoadMark>('mark', { record: false })
  const c1 = await server.peer.call<CpuReading & { hr: number, gc: GcReading }>('cpu')
  return {
    ops: m1.count - m0.count,
    seconds: (m1.at - m0.at) / 1000,
    serverCpu: (c1.user + c1.system) - (c0.user + c0.system),
    serverUser: c1.user - c0.user,
    loadCpu: m1.cpu - m0.cpu,
    errors: m1.errors,
    serverHr: [c0.hr, c1.hr],
    gcMs: c1.gc.totalMs - c0.gc.totalMs,
    gcLongestMs: c1.gc.longestMs
  }
}

async function measure (load: RpcPeer, server: RunningServer, scenario: ScenarioId, round: number, windowMs: number): Promise<Sample> {
  // Each measurement starts from a collected heap. Otherwise the major GC owed for the
  // garbage of the server's previous measurement falls into this window, for some servers
  // and not others: the schema.message server, which has no echo route, went from the
  // handshakes straight to the JSON echo, and showed 4.7 times raw ws' GC pause per round trip.
  await server.peer.call<MemReading>('mem')
  await startLoad(load, server, scenario, settings.warmMs + windowMs + 30_000)
  let result: Window
  let latency: { p50: number, p99: number } | undefined
  try {
    await sleep(settings.warmMs)
    result = await window(load, server, windowMs)
    if (scenario !== 'handshake') latency = await load.call('latency')
  } finally {
    const stopped = await load.call<{ errors: number }>('stop', undefined, 60_000)
    if (stopped.errors > 0) console.warn(`  ! ${server.contender.id} ${scenario}: ${stopped.errors} errors`)
  }
  const leftOpen = await settled(server)
  const micros = result.seconds * 1e6
  return {
    round,
    scenario,
    contender: server.contender.id,
    ops: result.ops,
    seconds: result.seconds,
    rate: result.ops / result.seconds,
    cpuPerOp: result.serverCpu / Math.max(1, result.ops),
    userPerOp: result.serverUser / Math.max(1, result.ops),
    serverBusy: result.serverCpu / micros,
    loadBusy: result.loadCpu / micros,
    errors: result.errors,
    p50: latency?.p50,
    p99: latency?.p99,
    gcMsPerKOps: result.gcMs * 1000 / Math.max(1, result.ops),
    gcLongestMs: result.gcLongestMs,
    leftOpen
  }
}

/** A fresh server: warmed up, GC'd, then `memoryConnections` idle connections, GC'd again. */
async function measureMemory (load: RpcPeer, contender: Contender, round: number): Promise<MemorySample | undefined> {
  const server = await spawnServer(contender)
  if ('skipped' in server) return undefined
  try {
    // Warm up the paths a connection takes (handshake, a few messages, close).
    await measure(load, server, 'handshake', -1, 200)
    if (contender.echoPath !== undefined) await measure(load, server, 'echo-20', -1, 100)
    const before = await server.peer.call<MemReading>('mem')
    const opened = await load.call<{ opened: number, failures: number }>('openIdle', {
      kind: contender.client, port: server.port, path: contender.connectPath, count: settings.memoryConnections, concurrency: settings.memoryOpenConcurrency
    }, 180_000)
    await sleep(500)
    const after = await server.peer.call<MemReading>('mem')
    await load.call('closeIdle', undefined, 60_000)
    if (opened.failures > 0 || after.open !== settings.memoryConnections) {
      throw new Error(`${contender.id}: ${opened.opened} of ${settings.memoryConnections} idle connections opened (${opened.failures} failures), server counts ${after.open} open`)
    }
    const per = (key: 'rss' | 'heapUsed' | 'external'): number => (after[key] - before[key]) / settings.memoryConnections
    return { round, contender: contender.id, connections: settings.memoryConnections, rssPerConnection: per('rss'), heapPerConnection: per('heapUsed'), externalPerConnection: per('external') }
  } finally {
    await stopChild(server.peer)
  }
}

function rotate<T> (items: readonly T[], by: number): T[] {
  const shift = ((by % items.length) + items.length) % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}

// ---------------------------------------------------------------------------------
// Report

const columns: ContenderId[] = contenders.map((contender) => contender.id)
const labelOf = (id: ContenderId): string => allContenders.find((contender) => contender.id === id)?.label ?? id

interface Row {
  scenario: ScenarioId
  label: string
  value: (id: ContenderId) => number | undefined
  format: (value: number) => string
  /** A second figure in the same cell (the load generator's CPU next to the server's); no ratio then. */
  second?: (id: ContenderId) => number | undefined
}

const int = (value: number): string => Math.round(value).toLocaleString('en')
const fixed = (digits: number) => (value: number): string => value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })

function buildRows (samples: Sample[], memory: MemorySample[]): Row[] {
  const of = (scenario: ScenarioId, pick: (sample: Sample) => number | undefined) => (id: ContenderId): number | undefined => {
    const values = samples.filter((sample) => sample.scenario === scenario && sample.contender === id).map(pick).filter((value): value is number => value !== undefined && Number.isFinite(value))
    return values.length === 0 ? undefined : median(values)
  }
  const mem = (pick: (sample: MemorySample) => number) => (id: ContenderId): number | undefined => {
    const values = memory.filter((sample) => sample.contender === id).map(pick)
    return values.length === 0 ? undefined : median(values)
  }
  const rows: Row[] = []
  const has = (scenario: ScenarioId): boolean => scenarios.includes(scenario)
  if (has('handshake')) {
    rows.push(
      { scenario: 'handshake', label: 'handshakes/s', value: of('handshake', (s) => s.rate), format: int },
      { scenario: 'handshake', label: 'server CPU µs / handshake', value: of('handshake', (s) => s.cpuPerOp), format: fixed(1) },
      { scenario: 'handshake', label: 'of which user space', value: of('handshake', (s) => s.userPerOp), format: fixed(1) },
      { scenario: 'handshake', label: 'CPU busy, server / load (cores)', value: of('handshake', (s) => s.serverBusy), second: of('handshake', (s) => s.loadBusy), format: fixed(2) }
    )
  }
  for (const scenario of ['echo-20', 'echo-16k', 'json'] as const) {
    if (!has(scenario)) continue
    rows.push(
      { scenario, label: 'round trips/s', value: of(scenario, (s) => s.rate), format: int },
      { scenario, label: 'server CPU µs / round trip', value: of(scenario, (s) => s.cpuPerOp), format: fixed(2) },
      { scenario, label: 'of which user space', value: of(scenario, (s) => s.userPerOp), format: fixed(2) },
      { scenario, label: 'p50 round trip, ms', value: of(scenario, (s) => s.p50), format: fixed(2) },
      { scenario, label: 'p99 round trip, ms', value: of(scenario, (s) => s.p99), format: fixed(2) },
      { scenario, label: 'GC pause, ms per 1,000 round trips', value: of(scenario, (s) => s.gcMsPerKOps), format: fixed(2) },
      { scenario, label: 'longest GC pause, ms', value: of(scenario, (s) => s.gcLongestMs), format: fixed(2) },
      { scenario, label: 'CPU busy, server / load (cores)', value: of(scenario, (s) => s.serverBusy), second: of(scenario, (s) => s.loadBusy), format: fixed(2) }
    )
  }
  if (has('memory')) {
    rows.push(
      { scenario: 'memory', label: 'RSS KiB / connection', value: mem((s) => s.rssPerConnection / 1024), format: fixed(1) },
      { scenario: 'memory', label: 'JS heap KiB / connection', value: mem((s) => s.heapPerConnection / 1024), format: fixed(1) }
    )
  }
  return rows
}

function cell (row: Row, id: ContenderId, skipped: Map<ContenderId, string>): string {
  if (skipped.has(id)) return 'skipped'
  const value = row.value(id)
  if (value === undefined) return '—'
  if (row.second !== undefined) return `${row.format(value)} / ${row.format(row.second(id) ?? Number.NaN)}`
  const base = row.value('ws')
  // A ratio to a baseline that is zero or negative (memory deltas can be) means nothing.
  const ratio = base === undefined || base <= 0 || value < 0 ? '' : ` (${(value / base).toFixed(2)})`
  return `${row.format(value)}${ratio}`
}

function table (rows: Row[], skipped: Map<ContenderId, string>): string {
  const lines = [
    `| scenario | metric | ${columns.map(labelOf).join(' | ')} |`,
    `|---|---|${columns.map(() => '---:').join('|')}|`
  ]
  let previous: ScenarioId | undefined
  for (const row of rows) {
    const scenario = row.scenario === previous ? '' : scenarioShort[row.scenario]
    previous = row.scenario
    lines.push(`| ${scenario} | ${row.label} | ${columns.map((id) => cell(row, id, skipped)).join(' | ')} |`)
  }
  return lines.join('\n')
}

const scenarioShort: Record<ScenarioId, string> = {
  handshake: '(a) handshakes',
  'echo-20': '(b) echo 20 B',
  'echo-16k': '(b) echo 16 KiB',
  json: '(c) JSON echo',
  memory: '(d) idle memory'
}

interface Target { what: string, id: ContenderId, scenario: ScenarioId, metric: string, against: ContenderId, op: '≤' | '≥', target: number }

function targets (): Target[] {
  const list: Target[] = []
  const info = Number.NaN
  list.push(
    { what: '(a) server CPU / handshake vs raw ws', id: 'fastify-upgrade', scenario: 'handshake', metric: 'server CPU µs / handshake', against: 'ws', op: '≤', target: 1.1 },
    { what: '(a) server CPU / handshake vs @fastify/websocket', id: 'fastify-upgrade', scenario: 'handshake', metric: 'server CPU µs / handshake', against: 'fastify-websocket', op: '≤', target: 0.95 },
    { what: '(a) user-space CPU / handshake vs raw ws', id: 'fastify-upgrade', scenario: 'handshake', metric: 'of which user space', against: 'ws', op: '≤', target: info },
    { what: '(a) user-space CPU / handshake vs @fastify/websocket', id: 'fastify-upgrade', scenario: 'handshake', metric: 'of which user space', against: 'fastify-websocket', op: '≤', target: info },
    { what: '(a) handshakes/s vs raw ws', id: 'fastify-upgrade', scenario: 'handshake', metric: 'handshakes/s', against: 'ws', op: '≥', target: info },
    { what: '(a) handshakes/s vs @fastify/websocket', id: 'fastify-upgrade', scenario: 'handshake', metric: 'handshakes/s', against: 'fastify-websocket', op: '≥', target: info }
  )
  for (const scenario of ['echo-20', 'echo-16k'] as const) {
    const name = scenarioShort[scenario]
    list.push(
      { what: `${name}: server CPU / round trip vs raw ws`, id: 'fastify-upgrade', scenario, metric: 'server CPU µs / round trip', against: 'ws', op: '≤', target: 1.05 },
      { what: `${name}: server CPU / round trip vs @fastify/websocket`, id: 'fastify-upgrade', scenario, metric: 'server CPU µs / round trip', against: 'fastify-websocket', op: '≤', target: info },
      { what: `${name}: user-space CPU / round trip vs raw ws`, id: 'fastify-upgrade', scenario, metric: 'of which user space', against: 'ws', op: '≤', target: info },
      { what: `${name}: round trips/s vs raw ws`, id: 'fastify-upgrade', scenario, metric: 'round trips/s', against: 'ws', op: '≥', target: 0.95 },
      { what: `${name}: round trips/s vs @fastify/websocket`, id: 'fastify-upgrade', scenario, metric: 'round trips/s', against: 'fastify-websocket', op: '≥', target: 1.0 },
      { what: `(e) ${name.slice(4)}: p99 round trip vs raw ws`, id: 'fastify-upgrade', scenario, metric: 'p99 round trip, ms', against: 'ws', op: '≤', target: 1.1 },
      { what: `(e) ${name.slice(4)}: p99 round trip vs @fastify/websocket`, id: 'fastify-upgrade', scenario, metric: 'p99 round trip, ms', against: 'fastify-websocket', op: '≤', target: info }
    )
  }
  list.push(
    { what: '(c) validated (schema.message) vs raw ws unvalidated: round trips/s', id: 'fastify-upgrade-typed', scenario: 'json', metric: 'round trips/s', against: 'ws', op: '≥', target: 0.85 },
    { what: '(c) validated vs raw ws: server CPU / round trip', id: 'fastify-upgrade-typed', scenario: 'json', metric: 'server CPU µs / round trip', against: 'ws', op: '≤', target: info },
    { what: '(e) JSON echo, validated: p99 round trip vs raw ws', id: 'fastify-upgrade-typed', scenario: 'json', metric: 'p99 round trip, ms', against: 'ws', op: '≤', target: 1.1 },
    { what: '(e) JSON echo, validated vs plain route: p99 round trip', id: 'fastify-upgrade-typed', scenario: 'json', metric: 'p99 round trip, ms', against: 'fastify-upgrade', op: '≤', target: info },
    { what: '(e) JSON echo, validated vs raw ws: GC pause per round trip', id: 'fastify-upgrade-typed', scenario: 'json', metric: 'GC pause, ms per 1,000 round trips', against: 'ws', op: '≤', target: info },
    { what: '(c) validated vs @fastify/websocket (unvalidated): round trips/s', id: 'fastify-upgrade-typed', scenario: 'json', metric: 'round trips/s', against: 'fastify-websocket', op: '≥', target: info },
    { what: '(c) validated vs plain fastify-upgrade route: server CPU / round trip', id: 'fastify-upgrade-typed', scenario: 'json', metric: 'server CPU µs / round trip', against: 'fastify-upgrade', op: '≤', target: info },
    { what: '(c) plain route (JSON.parse by hand) vs raw ws: server CPU / round trip', id: 'fastify-upgrade', scenario: 'json', metric: 'server CPU µs / round trip', against: 'ws', op: '≤', target: info },
    { what: '(c) plain route vs @fastify/websocket: server CPU / round trip', id: 'fastify-upgrade', scenario: 'json', metric: 'server CPU µs / round trip', against: 'fastify-websocket', op: '≤', target: info },
    { what: '(d) RSS / idle connection vs raw ws', id: 'fastify-upgrade', scenario: 'memory', metric: 'RSS KiB / connection', against: 'ws', op: '≤', target: 1.2 },
    { what: '(d) JS heap / idle connection vs raw ws', id: 'fastify-upgrade', scenario: 'memory', metric: 'JS heap KiB / connection', against: 'ws', op: '≤', target: 1.25 },
    { what: '(d) RSS / idle connection vs @fastify/websocket', id: 'fastify-upgrade', scenario: 'memory', metric: 'RSS KiB / connection', against: 'fastify-websocket', op: '≤', target: info },
    { what: '(d) JS heap / idle connection vs @fastify/websocket', id: 'fastify-upgrade', scenario: 'memory', metric: 'JS heap KiB / connection', against: 'fastify-websocket', op: '≤', target: info }
  )
  return list
}

const picks: Record<string, (sample: Sample) => number | undefined> = {
  'server CPU µs / round trip': (s) => s.cpuPerOp,
  'server CPU µs / handshake': (s) => s.cpuPerOp,
  'of which user space': (s) => s.userPerOp,
  'round trips/s': (s) => s.rate,
  'handshakes/s': (s) => s.rate,
  'p99 round trip, ms': (s) => s.p99,
  'GC pause, ms per 1,000 round trips': (s) => s.gcMsPerKOps
}

/**
 * The ratio within each round (the two measured minutes apart at most, so under the same
 * machine load): their median is less exposed to other work on the machine than the ratio
 * of two medians, and their spread shows how much of a difference is noise.
 */
function pairedRatios (samples: Sample[], memory: MemorySample[], target: Target): number[] {
  const ratios: number[] = []
  if (target.scenario === 'memory') {
    const key = target.metric.startsWith('RSS') ? 'rssPerConnection' : 'heapPerConnection'
    for (const round of new Set(memory.map((sample) => sample.round))) {
      const mine = memory.find((s) => s.round === round && s.contender === target.id)
      const theirs = memory.find((s) => s.round === round && s.contender === target.against)
      if (mine !== undefined && theirs !== undefined && theirs[key] > 0 && mine[key] >= 0) ratios.push(mine[key] / theirs[key])
    }
    return ratios
  }
  const pick = picks[target.metric]
  if (pick === undefined) return ratios
  for (const round of new Set(samples.map((sample) => sample.round))) {
    const mine = samples.find((s) => s.round === round && s.scenario === target.scenario && s.contender === target.id)
    const theirs = samples.find((s) => s.round === round && s.scenario === target.scenario && s.contender === target.against)
    const a = mine === undefined ? undefined : pick(mine)
    const b = theirs === undefined ? undefined : pick(theirs)
    if (a !== undefined && b !== undefined && b > 0) ratios.push(a / b)
  }
  return ratios
}

function targetTable (rows: Row[], samples: Sample[], memory: MemorySample[]): { markdown: string, misses: Target[] } {
  const lines = [
    '| fastify-upgrade | medians | ratio of medians | paired: median (min–max) | target | met |',
    '|---|---:|---:|---:|---:|:---:|'
  ]
  const misses: Target[] = []
  for (const target of targets()) {
    if (!columns.includes(target.id) || !columns.includes(target.against)) continue
    const row = rows.find((r) => r.scenario === target.scenario && r.label === target.metric)
    if (row === undefined) continue
    const value = row.value(target.id)
    const base = row.value(target.against)
    if (value === undefined || base === undefined) continue
    const ratio = base > 0 && value >= 0 ? (value / base).toFixed(2) : '—'
    const paired = pairedRatios(samples, memory, target)
    const pairedMedian = paired.length === 0 ? Number.NaN : median(paired)
    const pairedText = paired.length === 0 ? '—' : `${pairedMedian.toFixed(2)} (${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)})`
    const hasTarget = !Number.isNaN(target.target)
    let met = ''
    if (hasTarget) {
      if (Number.isNaN(pairedMedian)) met = '?'
      else if (target.op === '≤' ? pairedMedian <= target.target : pairedMedian >= target.target) met = 'yes'
      else {
        met = '**no**'
        misses.push(target)
      }
    }
    lines.push(`| ${target.what} | ${row.format(value)} vs ${row.format(base)} | ${ratio} | ${pairedText} | ${hasTarget ? `${target.op} ${target.target.toFixed(2)}` : '(info)'} | ${met} |`)
  }
  return { markdown: lines.join('\n'), misses }
}

/** Which lib/ was measured: the commit, and whether lib/ had uncommitted changes (others edit it too). */
function libVersion (): string {
  const git = (...args: string[]): string => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout?.trim() ?? ''
  const commit = git('rev-parse', '--short', 'HEAD')
  if (commit === '') return 'not a git checkout'
  const dirty = git('status', '--porcelain', '--', 'lib').split('\n').filter((line) => line !== '').length
  return dirty === 0 ? `commit ${commit}` : `commit ${commit} with uncommitted changes in ${dirty} file${dirty === 1 ? '' : 's'} of lib/`
}

function machine (): string[] {
  const cpus = os.cpus()
  return [
    `${cpus.length} cores, ${cpus[0]?.model.trim() ?? 'unknown CPU'}${cpus[0]?.speed ? ` (${cpus[0].speed} MHz)` : ''}`,
    `${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Linux ${os.release()}`,
    `Node ${process.version} (ABI ${process.versions.modules}), V8 ${process.versions.v8}`
  ]
}

// ---------------------------------------------------------------------------------
// Profile mode

/** `--profile <contender>:memory`: heap snapshots before and after idle connections, and what the difference is made of. */
async function profileMemory (contender: Contender): Promise<void> {
  const dir = path.join(here, 'profiles')
  mkdirSync(dir, { recursive: true })
  const connections = Math.min(settings.memoryConnections, 2000)
  const load = spawnLoad()
  const server = await spawnServer(contender)
  if ('skipped' in server) throw new Error(`${contender.id} skipped: ${server.skipped}`)
  const before = path.join(dir, `${contender.id}.memory.before.heapsnapshot`)
  const after = path.join(dir, `${contender.id}.memory.after.heapsnapshot`)
  try {
    await measure(load, server, 'handshake', -1, 200)
    if (contender.echoPath !== undefined) await measure(load, server, 'echo-20', -1, 100)
    await server.peer.call('heapSnapshot', before, 120_000)
    const opened = await load.call<{ opened: number }>('openIdle', { kind: contender.client, port: server.port, path: contender.connectPath, count: connections, concurrency: settings.memoryOpenConcurrency }, 180_000)
    if (opened.opened !== connections) throw new Error(`only ${opened.opened} of ${connections} connections opened`)
    await sleep(500)
    await server.peer.call('heapSnapshot', after, 120_000)
    await load.call('closeIdle', undefined, 60_000)
  } finally {
    await stopChild(server.peer)
    await stopChild(load)
  }
  console.log(formatHeapDiff(before, after, connections, 40))
  console.log(`\nsnapshots kept: ${path.relative(process.cwd(), before)}, ${path.relative(process.cwd(), after)}`)
}

async function profile (spec: string): Promise<void> {
  const [id, scenario] = spec.split(':') as [ContenderId, ScenarioId | undefined]
  const contender = allContenders.find((c) => c.id === id)
  if (contender !== undefined && scenario === 'memory') {
    await profileMemory(contender)
    return
  }
  if (contender === undefined || scenario === undefined || !throughputScenarios.includes(scenario) || !applies(contender, scenario)) {
    throw new Error(`--profile <contender>:<scenario>, e.g. fastify-upgrade:echo-20 (contenders: ${allContenders.map((c) => c.id).join(', ')}; scenarios: ${throughputScenarios.join(', ')})`)
  }
  const dir = path.join(here, 'profiles')
  // tsx's loader runs in a thread of its own, which --cpu-prof profiles too: let Node name
  // the files (pid and thread id in the name) in a scratch directory and keep the main thread's.
  const scratch = path.join(dir, `${id}.${scenario}`)
  rmSync(scratch, { recursive: true, force: true })
  mkdirSync(scratch, { recursive: true })
  const name = `${id}.${scenario}.cpuprofile`
  const profileMs = Number(flags['profile-ms'] ?? 10_000)
  console.log(`profiling ${labelOf(id)} over ${scenarioNames[scenario]}: ${profileMs} ms window, --cpu-prof → bench/profiles/${name}`)
  const load = spawnLoad()
  const server = await spawnServer(contender, ['--cpu-prof', `--cpu-prof-dir=${scratch}`, '--cpu-prof-interval=200'])
  if ('skipped' in server) throw new Error(`${id} skipped: ${server.skipped}`)
  let hr: [number, number] = [0, 0]
  let ops = 0
  try {
    for (const before of (flags['profile-after']?.split(',') ?? []) as ScenarioId[]) {
      if (!throughputScenarios.includes(before) || !applies(contender, before)) throw new Error(`--profile-after: ${before} does not apply`)
      await measure(load, server, before, -1, 1000)
    }
    await startLoad(load, server, scenario, profileMs + 60_000)
    await sleep(1000)
    const result = await window(load, server, profileMs)
    hr = result.serverHr
    ops = result.ops
    console.log(`${int(result.ops / result.seconds)} ops/s, server CPU ${(result.serverCpu / Math.max(1, result.ops)).toFixed(2)} µs/op (with the profiler's overhead)`)
    await load.call('stop', undefined, 60_000)
  } finally {
    await stopChild(server.peer)
    await stopChild(load)
  }
  const main = readdirSync(scratch).find((file) => file.endsWith(`.${String(server.peer.child.pid)}.0.001.cpuprofile`)) ??
    readdirSync(scratch).find((file) => file.includes(`.${String(server.peer.child.pid)}.0.`))
  if (main === undefined) throw new Error(`no main-thread profile in ${scratch}: ${readdirSync(scratch).join(', ')}`)
  renameSync(path.join(scratch, main), path.join(dir, name))
  rmSync(scratch, { recursive: true, force: true })
  // What `tsx bench/profile.ts` needs to read the profile again (and compare two).
  writeFileSync(path.join(dir, name.replace(/\.cpuprofile$/, '.json')), JSON.stringify({ from: hr[0], to: hr[1], ops }))
  const report = analyzeProfile(path.join(dir, name), root, { from: hr[0], to: hr[1] }, ops)
  console.log(formatProfile(report, 25))
}

// ---------------------------------------------------------------------------------

async function main (): Promise<void> {
  const measuresFastifyUpgrade = flags.profile === undefined
    ? contenders.some((contender) => contender.id.startsWith('fastify-upgrade'))
    : flags.profile.startsWith('fastify-upgrade')
  if ((measuresFastifyUpgrade || topicsWanted.length > 0) && !flags['from-source']) childEnv.BENCH_FASTIFY_UPGRADE = buildFastifyUpgrade()
  if (flags.profile !== undefined) {
    await profile(flags.profile)
    return
  }
  const started = Date.now()
  const loadStart = os.loadavg()
  console.log(`# fastify-upgrade benchmark${quick ? ' (quick)' : ''}`)
  for (const line of machine()) console.log(line)
  console.log(`load average at start: ${loadStart.map((v) => v.toFixed(2)).join(', ')}`)
  const lib = libVersion()
  console.log(`fastify-upgrade lib/: ${lib}`)
  const out = flags.out ?? (quick ? undefined : path.join(here, 'RESULTS.md'))
  const main = scenarios.length > 0 || runHttp2 ? await runMain(started, loadStart, lib) : undefined
  /** Sections of RESULTS.md made by this run, each between its markers. */
  const sections = new Map<SectionName, string>()
  if (topicsWanted.length > 0) {
    console.log(`\ntopics: ${topicsWanted.join(', ')}`)
    const topicsStarted = Date.now()
    const topics = await runTopics({ quick, rounds: flags.rounds === undefined ? undefined : Number(flags.rounds), scenarios: topicsWanted, env: childEnv, root })
    sections.set('topics', topicsSection(topics.markdown, (Date.now() - topicsStarted) / 1000, loadStart, lib))
    console.log(`\n${topics.markdown}\n`)
    if (topics.misses.length > 0) console.log(`topics targets missed: ${topics.misses.join('; ')}`)
    if (topics.failures.length > 0) {
      console.error(`\ntopics problems:\n${topics.failures.map((f) => `- ${f}`).join('\n')}`)
      process.exitCode = 1
    }
  }
  let svg: string | undefined
  if (curveWanted) {
    console.log('\ncost curve (idle connections)')
    const curve = await runCurve({ quick, steps: curveSteps, contenders: contenders.map((contender) => contender.id), env: childEnv, root })
    sections.set('curve', curveSection(curve.markdown, curve.failures, lib))
    svg = curve.svg
    console.log(`\n${curve.markdown}\n`)
    if (curve.failures.length > 0) {
      console.error(`\ncurve problems:\n${curve.failures.map((f) => `- ${f}`).join('\n')}`)
      process.exitCode = 1
    }
  }
  console.log(`whole run: ${((Date.now() - started) / 1000).toFixed(0)} s; load average at end: ${os.loadavg().map((v) => v.toFixed(2)).join(', ')}`)
  if (out === undefined || (main === undefined && sections.size === 0)) return
  // With the main scenarios the whole file is new (a section not run this time is kept from
  // the previous file); without them, only the sections run this time are replaced.
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : undefined
  let file = main?.report ?? previous ?? '# Benchmark results\n'
  const kept: SectionName[] = []
  for (const name of sectionNames) {
    const text = sections.get(name) ?? (main !== undefined && previous !== undefined ? sectionPattern(name).exec(previous)?.[0] : undefined)
    if (text === undefined) continue
    if (!sections.has(name)) kept.push(name)
    file = withSection(file, name, text)
  }
  writeFileSync(out, file)
  const only = [...sections.keys()]
  console.log(`written: ${path.relative(process.cwd(), out)}${main === undefined ? ` (its ${only.join(' and ')} section${only.length > 1 ? 's' : ''})` : kept.length > 0 ? ` (the ${kept.join(' and ')} section${kept.length > 1 ? 's' : ''} kept from the previous file)` : ''}`)
  if (svg !== undefined) {
    const svgFile = path.join(path.dirname(out), 'curve.svg')
    writeFileSync(svgFile, svg)
    console.log(`written: ${path.relative(process.cwd(), svgFile)}`)
  }
}

type SectionName = 'topics' | 'curve'
const sectionNames: readonly SectionName[] = ['topics', 'curve']
const sectionPattern = (name: SectionName): RegExp => new RegExp(`<!-- ${name} -->[\\s\\S]*<!-- /${name} -->`)

/** Replaces the section between its markers, or appends it. */
function withSection (file: string, name: SectionName, section: string): string {
  const existing = sectionPattern(name)
  return existing.test(file) ? file.replace(existing, () => section) : `${file.trimEnd()}\n\n${section}\n`
}

/** The cost-curve section of RESULTS.md, between markers so that a curve-only run can replace it in place. */
function curveSection (markdown: string, failures: string[], lib: string): string {
  return `<!-- curve -->
## Cost curve: idle connections

Generated by \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/curve.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; machine: ${machine().join('; ')}; fastify-upgrade's lib/: ${lib}, ${flags['from-source'] ? 'run from source through tsx' : 'compiled by tsc for this run'}. \`npm run bench -- --scenarios curve\` regenerates this section and bench/curve.svg alone.

${markdown}
${failures.length > 0 ? `\n### Problems in the curve run\n\n${failures.map((f) => `- ${f}`).join('\n')}\n` : ''}<!-- /curve -->`
}

/** The topics section of RESULTS.md, between markers so that a topics-only run can replace it in place. */
function topicsSection (markdown: string, seconds: number, loadStart: number[], lib: string): string {
  return `<!-- topics -->
## Topics: fan-out and cross-server delivery

Generated by \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/topics.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round(seconds)} s; machine: ${machine().join('; ')}; load average at start ${loadStart.map((v) => v.toFixed(2)).join(', ')}, at end ${os.loadavg().map((v) => v.toFixed(2)).join(', ')}; fastify-upgrade's lib/: ${lib}, ${flags['from-source'] ? 'run from source through tsx' : 'compiled by tsc for this run'}. Each server in its own process, the subscribers in one load-generator process (bench/topics-load.ts).

${markdown}
<!-- /topics -->`
}

async function runMain (started: number, loadStart: number[], lib: string): Promise<{ report: string } | undefined> {
  const load = spawnLoad()
  const skipped = new Map<ContenderId, string>()
  const servers = new Map<ContenderId, RunningServer>()
  const failures: string[] = []
  const spawned = await Promise.allSettled(contenders.map(async (contender) => [contender, await spawnServer(contender)] as const))
  for (const [index, outcome] of spawned.entries()) {
    const contender = contenders[index] as Contender
    if (outcome.status === 'rejected') {
      failures.push(`${contender.id}: ${String(outcome.reason)}`)
      skipped.set(contender.id, `did not start: ${String(outcome.reason)}`)
      continue
    }
    const server = outcome.value[1]
    if ('skipped' in server) {
      skipped.set(contender.id, server.skipped)
      console.log(`- ${contender.label}: SKIPPED: ${server.skipped}`)
    } else {
      servers.set(contender.id, server)
      console.log(`- ${contender.label}: ${server.info.join(', ')}`)
    }
  }
  if (!servers.has('ws')) throw new Error('raw ws, the baseline, did not start')
  const infos = [...servers.values()].map((server) => `${server.contender.label}: ${server.info.join(', ')}`)

  const samples: Sample[] = []
  const running = contenders.filter((contender) => servers.has(contender.id))
  const scenarioList = throughputScenarios.filter((scenario) => scenarios.includes(scenario))
  for (let round = settings.warmupRound ? -1 : 0; round < settings.rounds; round++) {
    const windowMs = round < 0 ? settings.warmupRoundWindowMs : settings.windowMs
    console.log(round < 0 ? '\nwarm-up round (not counted)' : `\nround ${round + 1} of ${settings.rounds}`)
    for (const scenario of scenarioList) {
      const line: string[] = []
      for (const contender of rotate(running, round + 1)) {
        if (!applies(contender, scenario) || skipped.has(contender.id)) continue
        const server = servers.get(contender.id) as RunningServer
        try {
          const sample = await measure(load, server, scenario, round, windowMs)
          if (sample.errors > 0) failures.push(`${contender.id} ${scenario} round ${round + 1}: ${sample.errors} errors`)
          if (sample.leftOpen > 0) failures.push(`${contender.id} ${scenario} round ${round + 1}: ${sample.leftOpen} connections still open after the load stopped`)
          if (sample.ops === 0) failures.push(`${contender.id} ${scenario} round ${round + 1}: no operation completed`)
          if (round >= 0) samples.push(sample)
          line.push(`${contender.id} ${int(sample.rate)}/s ${sample.cpuPerOp.toFixed(1)}µs`)
        } catch (error) {
          failures.push(`${contender.id} ${scenario}: ${String(error)}`)
          skipped.set(contender.id, `failed: ${String(error)}`)
          line.push(`${contender.id} FAILED`)
        }
        await sleep(settings.pauseMs)
      }
      console.log(`  ${scenario}: ${line.join(' · ')}`)
    }
  }

  const memory: MemorySample[] = []
  if (scenarios.includes('memory')) {
    for (let round = 0; round < settings.memoryRounds; round++) {
      const line: string[] = []
      for (const contender of rotate(contenders, round)) {
        if (skipped.has(contender.id) && !servers.has(contender.id)) continue
        try {
          const sample = await measureMemory(load, contender, round)
          if (sample !== undefined) {
            memory.push(sample)
            line.push(`${contender.id} ${(sample.rssPerConnection / 1024).toFixed(1)}/${(sample.heapPerConnection / 1024).toFixed(1)} KiB`)
          }
        } catch (error) {
          failures.push(`${contender.id} memory: ${String(error)}`)
          line.push(`${contender.id} FAILED`)
        }
      }
      console.log(`  memory round ${round + 1} (RSS/heap per connection): ${line.join(' · ')}`)
    }
  }

  for (const server of servers.values()) await stopChild(server.peer)
  await stopChild(load)

  let http2: string | undefined
  if (runHttp2) {
    try {
      http2 = await compareHttp2({ quick, env: childEnv })
    } catch (error) {
      failures.push(`HTTP/2 comparison: ${String(error)}`)
    }
  }

  const seconds = (Date.now() - started) / 1000
  const loadEnd = os.loadavg()
  const rows = buildRows(samples, memory)
  const results = table(rows, skipped)
  const { markdown: headline, misses } = targetTable(rows, samples, memory)
  console.log(`\n${results}\n\n${headline}\n`)
  if (http2 !== undefined) console.log(`WebSocket over HTTP/2 against HTTP/1.1, fastify-upgrade on one TLS server (info only):\n${http2}\n`)
  console.log(`${seconds.toFixed(0)} s; load average at end: ${loadEnd.map((v) => v.toFixed(2)).join(', ')}`)
  if (misses.length > 0) console.log(`targets missed: ${misses.map((m) => m.what).join('; ')}`)
  if (failures.length > 0) {
    console.error(`\nproblems:\n${failures.map((f) => `- ${f}`).join('\n')}`)
    process.exitCode = 1
  }
  return { report: report({ results, headline, rows, samples, memory, skipped, infos, seconds, loadStart, loadEnd, failures, lib, http2 }) }
}

interface ReportInput {
  results: string
  headline: string
  rows: Row[]
  samples: Sample[]
  memory: MemorySample[]
  skipped: Map<ContenderId, string>
  infos: string[]
  seconds: number
  loadStart: number[]
  loadEnd: number[]
  failures: string[]
  lib: string
  http2: string | undefined
}

function report (input: ReportInput): string {
  const bufferutil = input.infos.map((info) => /bufferutil: ([^,]+)/.exec(info)?.[1]).filter((v): v is string => v !== undefined)
  const sameBufferutil = new Set(bufferutil).size === 1 ? bufferutil[0] : `differs: ${bufferutil.join(', ')}`
  const rawRounds = input.samples.map((s) => `| ${s.round + 1} | ${s.scenario} | ${s.contender} | ${int(s.rate)} | ${s.cpuPerOp.toFixed(2)} | ${s.p50?.toFixed(2) ?? ''} | ${s.p99?.toFixed(2) ?? ''} | ${s.serverBusy.toFixed(2)} | ${s.loadBusy.toFixed(2)} | ${s.errors} |`)
  const rawMemory = input.memory.map((m) => `| ${m.round + 1} | ${m.contender} | ${(m.rssPerConnection / 1024).toFixed(2)} | ${(m.heapPerConnection / 1024).toFixed(2)} | ${(m.externalPerConnection / 1024).toFixed(2)} |`)
  return `# Benchmark results

Generated by \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/run.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round(input.seconds)} s. Regenerate with the same command.

- Machine: ${machine().join('; ')}.
- Load average (1, 5, 15 min) at start ${input.loadStart.map((v) => v.toFixed(2)).join(', ')}, at end ${input.loadEnd.map((v) => v.toFixed(2)).join(', ')}: the machine is shared, so other work ran alongside.
- fastify-upgrade's lib/: ${input.lib}, ${flags['from-source'] ? 'run from source through tsx' : 'compiled by tsc (to node_modules/.cache/fastify-upgrade-bench) for this run'}.
- Servers: ${input.infos.join('; ')}.${[...input.skipped].map(([id, reason]) => ` **${labelOf(id)} skipped**: ${reason}.`).join('')}
- bufferutil: the issue expected it absent, but \`bufferutil\` 4.0.7 is installed (hoisted to node_modules/ as an optional dependency of \`@trufflesuite/uws-js-unofficial\`), and every ws copy on this Node (20: no \`http.websocketMask\`) loads it: each server process reported \`${sameBufferutil ?? 'n/a'}\`. So every ws-based contender, and the ws client of the load generator, use it equally. \`npm run bench -- --no-bufferutil\` runs everything with \`WS_NO_BUFFER_UTIL=1\` instead. (\`utf-8-validate\` is installed too, but ws uses Node's own \`buffer.isUtf8\` when it exists.)

## Results

Medians of ${settings.rounds} rounds; in parentheses, the ratio to raw ws measured in the same run (for rates higher is better, for CPU, latency and memory lower is better). "CPU busy" is the CPU time of the server / of the load generator over the window, in cores: a load generator near 1.00 means the rate was bounded by the client, and the server's CPU per operation is then the figure to compare.

${input.results}

Scenarios: ${(Object.keys(scenarioShort) as ScenarioId[]).filter((s) => s !== 'memory' || scenarios.includes('memory')).map((s) => `${scenarioShort[s]}: ${scenarioNames[s]}`).join('; ')}.

How to read the CPU figures: on loopback the kernel delivers the data into the client's socket inside the server's own write system call, so most of a ws-based server's CPU time per message is that system call, the same for all of them (\`npm run bench:profile -- ws:echo-20\` shows it); the "of which user space" rows hold the JavaScript (ws, the plugin, the handler). For 16 KiB messages the system part also depends on whether the client was asleep when the data arrived, which makes those figures swing between rounds for every contender. Between the ws-based servers, differences smaller than the spread of the paired ratios below are noise.

## fastify-upgrade against the targets

"medians": fastify-upgrade's median (the plain \`websocket: true\` route; the \`schema.message\` route where it says validated) vs the other contender's. "paired": the ratio computed within each round, where the two were measured under the same machine load, then the median of the rounds and their spread; targets are judged on the paired median, and a spread that straddles the target means this run cannot tell.

${input.headline}

${input.http2 === undefined
  ? ''
  : `## WebSocket over HTTP/2 (info only)

fastify-upgrade alone, on one \`http2: true\` TLS server with \`allowHTTP1\` (bench/http2.ts): over HTTP/1.1 each WebSocket is a TLS connection of its own (ws' client, \`wss://\`), as a browser opens it without an HTTP/2 connection to the server; over HTTP/2 each is an RFC 8441 extended CONNECT stream of one open session (ws' client over a \`node:http2\` stream), as Chromium opens it on the connection its page came over. The clients run in the parent process; medians of ${quick ? 1 : 5} rounds of ${quick ? 300 : 1000} ms, the transports alternating; in parentheses HTTP/2's ratio to HTTP/1.1. A handshake over HTTP/1.1 includes its TLS handshake, which an HTTP/2 stream does not need.

${input.http2}

`}## Method

- Each server runs in its own child process (\`node --import tsx --expose-gc bench/server.ts <contender>\`), all of them started before the first measurement and kept for the whole run; one load-generator process (\`bench/load.ts\`, ws' client, or socket.io-client with \`transports: ['websocket']\` for socket.io) drives one server at a time; the parent (\`bench/run.ts\`) only coordinates over IPC. Everything is on 127.0.0.1.
- Rounds: ${settings.warmupRound ? `one warm-up round (${settings.warmupRoundWindowMs} ms windows, discarded), then ` : ''}${settings.rounds} rounds. In each round every scenario runs for every contender, the contenders in a rotated order (so none is always first). Each measurement starts from a collected heap (the server runs \`gc()\` three times first: otherwise the major GC owed for a server's previous measurement falls into this one), opens its connections, runs the load for ${settings.warmMs} ms unmeasured, then measures a ${settings.windowMs} ms window; afterwards every connection is closed and the server is given time to count them all closed before the next contender starts.
- Rate: operations completed by the load generator in the window / window length. Server CPU per operation: \`process.cpuUsage()\` (user + system, all threads, GC included) read in the server over IPC just before and just after the window, divided by the operations of the window.
- (a) a handshake is counted when the client's \`close\` event fires (the closing handshake and the TCP close done); socket.io's is counted when the WebSocket under socket.io-client has closed (socket.io's own connect packet exchange included). (b) binary messages, sent back with \`send(data)\` by every ws-based server (\`ws.send(message, isBinary)\` in uWS); socket.io echoes an event whose argument is a Buffer (a packet plus a binary attachment frame, socket.io's own way). (c) a text message, \`JSON.parse\` then \`JSON.stringify\` back in every server; fastify-upgrade's typed route decodes and checks it with a TypeBox \`schema.message\` (\`Type.Object\` with nested objects and an array) and replies \`JSON.stringify(message)\`; socket.io's parser does the JSON itself. (e) round trips timed by the load generator (\`performance.now()\` from send to reply), every round trip of the window. GC pauses: the server's \`PerformanceObserver\` 'gc' entries over the window (each measurement starts from a collected heap), their total per 1,000 round trips and the longest.
- (d) a fresh server process per measurement (so no memory freed by earlier tests is reused): warmed up (a short handshake run and a short echo), GC'd (\`gc()\` three times, a loop turn apart), \`process.memoryUsage()\`; then ${settings.memoryConnections.toLocaleString('en')} connections opened (${settings.memoryOpenConcurrency} at a time) and left idle 500 ms, GC'd again, measured again; the difference divided by the number of connections. ${settings.memoryRounds} rounds. RSS includes native memory (kernel socket buffers are not in RSS); uWS keeps its connections outside the JS heap.
- Defaults everywhere, except: uWS \`maxPayloadLength\` 1 MiB (its 16 KiB default would refuse the 16 KiB message) and compression off; ws clients without permessage-deflate. fastify-upgrade runs with its defaults, so **its heartbeat is on** (a ping every 30 s, one shared 1 s timer that walks the open connections; no ping falls inside a window) and its maxPayload is 1 MiB (ws' default: 100 MiB). socket.io's own heartbeat (25 s) is on too. \`NODE_ENV\` unset. Fastify without logger.
- The server processes run through tsx (the benchmark's own TypeScript), but fastify-upgrade itself is ${flags['from-source'] ? 'lib/ through tsx (`--from-source`)' : 'lib/ compiled by tsc at the start of the run (what `npm run build` makes, written to node_modules/.cache/fastify-upgrade-bench; dist/ is left alone)'}: esbuild, under tsx, wraps every closure in a \`__name()\` call that the shipped build does not have. \`--from-source\` runs lib/ through tsx instead.
- Processes are ${pin ? 'pinned: servers on CPU 0, the load generator on CPU 1 (`--pin`)' : 'not pinned to cores (`--pin` pins the servers to CPU 0 and the load generator to CPU 1; on this shared machine that made rates noisier)'}.
- Not included: bench/messages.ts (\`npm run bench:messages\`, the validation micro-benchmark) is not run by \`npm run bench\`.

## Per-round data

<details><summary>${input.samples.length} measurements, ${input.memory.length} memory measurements</summary>

| round | scenario | contender | rate/s | server CPU µs/op | p50 ms | p99 ms | server cores | load cores | errors |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|
${rawRounds.join('\n')}

| round | contender | RSS KiB/conn | heap KiB/conn | external KiB/conn |
|---|---|---:|---:|---:|
${rawMemory.join('\n')}

</details>
${input.failures.length > 0 ? `\n## Problems in this run\n\n${input.failures.map((f) => `- ${f}`).join('\n')}\n` : ''}`
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
