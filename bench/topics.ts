// The topics scenarios of `npm run bench` (called by bench/run.ts):
//   fanout        one publish of a 1 KB JSON message to N subscribers on one server, in
//                 lockstep (the next publish once every subscriber has the last one);
//                 server CPU per delivered message
//   burst         the same with 10 publishes in one tick
//   cross-server  delivery latency, one message at a time, from a client of server A to a
//                 client of server B through Redis (a redis-server started here), against
//                 the in-process path (publisher and subscriber on one server, no adapter)
// Contenders of fanout and burst (bench/topics-server.ts): a raw ws loop that stringifies
// per socket, the same loop with the string made once, fastify-upgrade's
// websocketPublish, uWebSockets.js' app.publish (native) and socket.io's io.to(room).emit.
// Each server runs in its own process for the whole run; rounds rotate their order; each
// figure is the median of the rounds, each ratio the median of the ratios within rounds.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, RpcPeer, sleep, stopChild, type CpuReading, type ServerHello } from './common.js'
import { freePort } from '../test/helpers.js'

const here = path.dirname(fileURLToPath(import.meta.url))

export type TopicScenario = 'fanout' | 'burst' | 'cross-server'
export const topicScenarios: readonly TopicScenario[] = ['fanout', 'burst', 'cross-server']

type FanoutContender = 'ws-stringify' | 'ws-serialized' | 'fastify-upgrade' | 'uws' | 'socket.io'
const fanoutContenders: Array<{ id: FanoutContender, label: string }> = [
  { id: 'ws-stringify', label: 'raw ws, JSON.stringify per socket' },
  { id: 'ws-serialized', label: 'raw ws, one string' },
  { id: 'fastify-upgrade', label: 'fastify-upgrade websocketPublish' },
  { id: 'uws', label: 'uWebSockets.js app.publish (native)' },
  { id: 'socket.io', label: 'socket.io io.to(room).emit' }
]

export interface TopicsOptions {
  quick: boolean
  rounds?: number
  scenarios: readonly TopicScenario[]
  env: NodeJS.ProcessEnv
  root: string
}

interface Server { peer: RpcPeer, port: number, info: string[] }

async function spawnServer (id: string, options: TopicsOptions, env: NodeJS.ProcessEnv = {}): Promise<Server | { skipped: string }> {
  const child = fork(path.join(here, 'topics-server.ts'), [id], {
    cwd: options.root,
    env: { ...options.env, ...env },
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const hello = await new Promise<ServerHello>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${id}: no hello within 60 s`)) }, 60_000)
    child.once('message', (message: ServerHello) => { clearTimeout(timer); resolve(message) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${id} exited with ${String(code)}`)) })
  })
  if (hello.hello === 'skip') {
    child.kill()
    return { skipped: hello.reason }
  }
  return { peer: new RpcPeer(child), port: hello.port, info: hello.info }
}

function rotate<T> (items: readonly T[], by: number): T[] {
  const shift = by % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}

const cpuMicros = (reading: CpuReading): number => reading.user + reading.system

interface FanoutSample { round: number, contender: FanoutContender, scenario: 'fanout' | 'burst', cpuPerDelivery: number, deliveries: number, seconds: number }
interface LatencySample { round: number, path: 'redis' | 'local', p50: number, p99: number }

async function startRedis (): Promise<{ url: string, child: ChildProcess } | { skipped: string }> {
  const binary = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((file) => existsSync(file))
  if (binary === undefined) return { skipped: 'redis-server is not installed' }
  const port = await freePort()
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  for (let attempt = 0; attempt < 200; attempt++) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.write('PING\r\n') })
      socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
      socket.once('error', () => { resolve(false) })
    })
    if (answered) return { url: `redis://127.0.0.1:${port}`, child }
    await sleep(25)
  }
  child.kill('SIGKILL')
  return { skipped: 'redis-server did not answer within 5 s' }
}

export async function runTopics (options: TopicsOptions): Promise<{ markdown: string, failures: string[], misses: string[] }> {
  const quick = options.quick
  const settings = {
    rounds: options.rounds ?? (quick ? 1 : 5),
    subscribers: quick ? 200 : 1000,
    fanoutSteps: quick ? 10 : 100,
    burstSteps: quick ? 3 : 20,
    burst: 10,
    warmSteps: quick ? 2 : 10,
    latencySamples: quick ? 200 : 2000,
    latencyBytes: 100
  }
  const failures: string[] = []
  const skipped = new Map<string, string>()
  const samples: FanoutSample[] = []
  const latencies: LatencySample[] = []
  const wantsFanout = options.scenarios.some((scenario) => scenario !== 'cross-server')

  const load = new RpcPeer(fork(path.join(here, 'topics-load.ts'), [], { cwd: options.root, env: options.env, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const servers = new Map<FanoutContender, Server>()
  if (wantsFanout) {
    for (const { id } of fanoutContenders) {
      const server = await spawnServer(id, options).catch((error: unknown) => ({ skipped: String(error) }))
      if ('skipped' in server) {
        skipped.set(id, server.skipped)
        if (id !== 'uws') failures.push(`${id}: ${server.skipped}`)
      } else {
        servers.set(id, server)
      }
    }
  }

  const measureFanout = async (id: FanoutContender, server: Server, round: number): Promise<void> => {
    const n = settings.subscribers
    await load.call('open', { kind: id === 'socket.io' ? 'socket.io' : 'ws', port: server.port, path: '/sub', count: n, concurrency: 50, ready: false }, 120_000)
    for (let i = 0; i < 200 && await server.peer.call<number>('subscribers') < n; i++) await sleep(25)
    const subscribed = await server.peer.call<number>('subscribers')
    if (subscribed !== n) throw new Error(`${subscribed} of ${n} subscribers on the server`)
    let expected = 0
    const step = async (burst: number): Promise<void> => {
      await server.peer.call('publish', { burst, times: 1 })
      expected += burst * n
      await load.call('waitFor', { total: expected, ms: 60_000 }, 70_000)
    }
    for (let i = 0; i < settings.warmSteps; i++) await step(1)
    for (const scenario of ['fanout', 'burst'] as const) {
      if (!options.scenarios.includes(scenario)) continue
      const burst = scenario === 'burst' ? settings.burst : 1
      const steps = scenario === 'burst' ? settings.burstSteps : settings.fanoutSteps
      const started = performance.now()
      const before = await server.peer.call<CpuReading>('cpu')
      for (let i = 0; i < steps; i++) await step(burst)
      const after = await server.peer.call<CpuReading>('cpu')
      const deliveries = steps * burst * n
      if (round >= 0) samples.push({ round, contender: id, scenario, cpuPerDelivery: (cpuMicros(after) - cpuMicros(before)) / deliveries, deliveries, seconds: (performance.now() - started) / 1000 })
    }
    await load.call('closeAll')
    for (let i = 0; i < 200 && await server.peer.call<number>('subscribers') > 0; i++) await sleep(25)
  }

  let redis: { url: string, child: ChildProcess } | undefined
  const crossServers: Server[] = []
  if (options.scenarios.includes('cross-server')) {
    const started = await startRedis()
    if ('skipped' in started) {
      skipped.set('cross-server', started.skipped)
      failures.push(`cross-server: ${started.skipped}`)
    } else {
      redis = started
      for (const id of ['fastify-upgrade-redis', 'fastify-upgrade-redis', 'fastify-upgrade-local']) {
        const server = await spawnServer(id, options, { REDIS_URL: started.url })
        if ('skipped' in server) throw new Error(`${id}: ${server.skipped}`)
        crossServers.push(server)
      }
    }
  }

  try {
    for (let round = quick ? 0 : -1; round < settings.rounds; round++) {
      const line: string[] = []
      for (const { id } of rotate(fanoutContenders, round + 1)) {
        const server = servers.get(id)
        if (server === undefined) continue
        try {
          await measureFanout(id, server, round)
          const mine = samples.filter((sample) => sample.round === round && sample.contender === id)
          line.push(`${id} ${mine.map((sample) => `${sample.scenario} ${sample.cpuPerDelivery.toFixed(2)}µs`).join(' ')}`)
        } catch (error) {
          failures.push(`${id} round ${round + 1}: ${String(error)}`)
          skipped.set(id, `failed: ${String(error)}`)
          servers.delete(id)
          await load.call('closeAll').catch(() => {})
        }
      }
      if (crossServers.length === 3) {
        const [a, b, local] = crossServers as [Server, Server, Server]
        const paths = rotate([['redis', a, b], ['local', local, local]] as const, round + 1)
        for (const [name, publisher, subscriber] of paths) {
          const result = await load.call<{ p50: number, p99: number }>('latency', {
            publishUrl: `ws://127.0.0.1:${publisher.port}/pub/latency`,
            subscribeUrl: `ws://127.0.0.1:${subscriber.port}/sub/latency`,
            samples: round < 0 ? 200 : settings.latencySamples,
            size: settings.latencyBytes
          }, 120_000)
          if (round >= 0) latencies.push({ round, path: name, ...result })
          line.push(`${name} p50 ${result.p50.toFixed(3)} ms`)
        }
      }
      console.log(`  topics ${round < 0 ? 'warm-up round' : `round ${round + 1}`}: ${line.join(' · ')}`)
    }
  } finally {
    for (const server of [...servers.values(), ...crossServers]) await stopChild(server.peer)
    await stopChild(load)
    redis?.child.kill('SIGKILL')
  }
  return { ...report(samples, latencies, skipped, settings, options), failures }
}

interface ReportSettings { rounds: number, subscribers: number, fanoutSteps: number, burstSteps: number, burst: number, latencySamples: number, latencyBytes: number }

function report (samples: FanoutSample[], latencies: LatencySample[], skipped: Map<string, string>, settings: ReportSettings, options: TopicsOptions): { markdown: string, misses: string[] } {
  const misses: string[] = []
  const value = (id: FanoutContender, scenario: 'fanout' | 'burst'): number | undefined => {
    const values = samples.filter((sample) => sample.contender === id && sample.scenario === scenario).map((sample) => sample.cpuPerDelivery)
    return values.length === 0 ? undefined : median(values)
  }
  const paired = (id: FanoutContender, against: FanoutContender, scenario: 'fanout' | 'burst'): number[] => {
    const ratios: number[] = []
    for (const sample of samples.filter((s) => s.contender === id && s.scenario === scenario)) {
      const base = samples.find((s) => s.contender === against && s.scenario === scenario && s.round === sample.round)
      if (base !== undefined) ratios.push(sample.cpuPerDelivery / base.cpuPerDelivery)
    }
    return ratios
  }
  const ratioCell = (ratios: number[]): string => ratios.length === 0
    ? '—'
    : `${median(ratios).toFixed(2)}${ratios.length > 1 ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : ''}`
  const lines: string[] = []
  const fanoutScenarios = (['fanout', 'burst'] as const).filter((scenario) => options.scenarios.includes(scenario))
  if (fanoutScenarios.length > 0) {
    lines.push(
      `Server CPU time (user + system, \`process.cpuUsage()\` read in the server) per delivered message, µs: ${settings.subscribers.toLocaleString('en')} ws subscribers (socket.io-client for socket.io) on one server, each publish the 1 KB order of the other scenarios (its \`seq\` changed each time). fan-out: ${settings.fanoutSteps} publishes of one message per round; burst: ${settings.burstSteps} bursts of ${settings.burst} publishes in one tick. In lockstep: the next publish (or burst) once every subscriber has received the last. Ratios: the median of the ratios within each round (their range in parentheses), against the two raw ws loops measured in the same round.`,
      '',
      `| contender | ${fanoutScenarios.map((scenario) => `${scenario}: µs / delivered message | vs stringify loop | vs one-string loop`).join(' | ')} |`,
      `|---|${fanoutScenarios.map(() => '---:|---:|---:').join('|')}|`
    )
    for (const { id, label } of fanoutContenders) {
      const cells = fanoutScenarios.map((scenario) => {
        if (skipped.has(id)) return `skipped: ${skipped.get(id) as string} | | `
        const own = value(id, scenario)
        return `${own === undefined ? '—' : own.toFixed(2)} | ${ratioCell(paired(id, 'ws-stringify', scenario))} | ${ratioCell(paired(id, 'ws-serialized', scenario))}`
      })
      lines.push(`| ${label} | ${cells.join(' | ')} |`)
    }
    lines.push('')
    for (const scenario of fanoutScenarios) {
      const vsStringify = paired('fastify-upgrade', 'ws-stringify', scenario)
      const vsSerialized = paired('fastify-upgrade', 'ws-serialized', scenario)
      for (const [ratios, target, what] of [[vsStringify, 0.8, 'the stringify-per-socket loop'], [vsSerialized, 1.0, 'the one-string loop']] as const) {
        if (ratios.length === 0) continue
        const reached = median(ratios) <= target
        if (!reached) misses.push(`${scenario}: fastify-upgrade vs ${what} ${median(ratios).toFixed(2)} > ${target}`)
        lines.push(`- ${scenario}: fastify-upgrade's CPU per delivered message vs ${what}: **${median(ratios).toFixed(2)}** (target ≤ ${target.toFixed(1)}): ${reached ? 'reached' : 'missed'}`)
      }
    }
  }
  if (options.scenarios.includes('cross-server')) {
    if (skipped.has('cross-server')) {
      lines.push('', `Cross-server latency: skipped: ${skipped.get('cross-server') as string}.`)
    } else {
      const of = (name: 'redis' | 'local', pick: (sample: LatencySample) => number): number => median(latencies.filter((sample) => sample.path === name).map(pick))
      const differences = latencies.filter((sample) => sample.path === 'redis').map((sample) => sample.p50 - (latencies.find((other) => other.path === 'local' && other.round === sample.round)?.p50 ?? Number.NaN))
      const difference = median(differences)
      const reached = difference <= 0.2
      if (!reached) misses.push(`cross-server: p50 through Redis is in-process p50 + ${difference.toFixed(3)} ms > 0.2 ms`)
      lines.push(
        '',
        `Cross-server delivery latency: one ${settings.latencyBytes} B text message at a time (${settings.latencySamples.toLocaleString('en')} per round), from its send by a client of server A to its arrival at a client of server B, A and B sharing a redis-server on loopback (\`redisPubSub({ url })\`); against the in-process path, publisher and subscriber clients on one server without an adapter. Each server publishes what its client sends (\`websocketPublish(topic, text, { except })\`). Medians of the rounds, ms:`,
        '',
        '| path | p50 | p99 |',
        '|---|---:|---:|',
        `| in-process (one server) | ${of('local', (s) => s.p50).toFixed(3)} | ${of('local', (s) => s.p99).toFixed(3)} |`,
        `| through Redis (server A → Redis → server B) | ${of('redis', (s) => s.p50).toFixed(3)} | ${of('redis', (s) => s.p99).toFixed(3)} |`,
        '',
        `- p50 through Redis − in-process p50 (paired within rounds): **+${difference.toFixed(3)} ms** (target ≤ +0.2 ms): ${reached ? 'reached' : 'missed'}`
      )
    }
  }
  return { markdown: lines.join('\n'), misses }
}
