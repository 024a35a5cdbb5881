// The cost curve of `npm run bench` (called by bench/run.ts; `--scenarios curve` alone):
// idle WebSocket connections opened in steps (1,000, 5,000, 10,000, 20,000, 40,000; --quick:
// 1,000 and 2,000) against raw ws, @fastify/websocket and fastify-upgrade, each serving the
// echo route of bench/server.ts. At each step, for each server:
//   memory     RSS and JS heap after GC (the server's `mem` RPC), minus the same with no
//              connection, divided by the connections the server counts open
//   handshakes the next 1,000 connections (50 at a time): connections/s and the server's
//              CPU µs per handshake (`cpu` RPC around the batch); then closed again
//   echo       100 of the step's connections, each with one 20 B binary message in flight:
//              round trips/s, p50 and p99 over a fixed window
// The three servers run side by side for the whole curve, each with its own client
// processes (bench/curve-load.ts: one or more holding the idle connections, one with the
// 100 echo clients), and every step measures them one after the other (in a rotated
// order), so that the three figures of a step are seconds apart under the same machine
// load. One round per step.
//
// Every process is started through `prlimit --nofile=…` where that is allowed; where it is
// not, a step that does not fit the processes' file-descriptor limit is not run, and the
// largest step that fits is run in its place (reported in the section).
import { fork, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { contenders as allContenders, median, RpcPeer, sleep, stopChild, type Contender, type ContenderId, type CpuReading, type MemReading, type ServerHello } from './common.js'
import type { EchoResult, OpenResult } from './curve-load.js'

const here = path.dirname(fileURLToPath(import.meta.url))

export const curveScenarios = ['curve'] as const
const curveContenders: readonly ContenderId[] = ['ws', 'fastify-websocket', 'fastify-upgrade']

export interface CurveOptions {
  quick: boolean
  /** Connection counts; default 1,000 to 40,000 (--quick: 1,000 and 2,000). */
  steps?: readonly number[]
  /** The contenders of the run (--contenders); the curve takes those of its three. */
  contenders: readonly ContenderId[]
  env: NodeJS.ProcessEnv
  root: string
}

export interface CurveRow {
  step: number
  contender: ContenderId
  /** Connections the server counted open when its memory was read. */
  open: number
  rssPerConnection: number
  heapPerConnection: number
  handshakesPerSecond: number
  cpuPerHandshake: number
  /** CPU time of the client process over the handshake batch, in cores. */
  clientBusy: number
  /** The system (kernel) part of the server's and of the client's CPU time, µs per handshake. */
  serverSystemPerHandshake: number
  clientCpuPerHandshake: number
  clientSystemPerHandshake: number
  echo: EchoResult
  /** Connections that failed to open at this step (the step's own and the handshake batch's). */
  failed: number
  /** 1-minute load average when the step was measured for this server. */
  load: number
}

export interface CurveResult {
  markdown: string
  svg: string
  rows: CurveRow[]
  failures: string[]
}

// ---------------------------------------------------------------------------------
// File-descriptor limits

const wantedFds = 200_000
/** Descriptors kept free in every process beyond its connections and what it had at start. */
const fdMargin = 64

function openFilesLimit (pid: number | 'self'): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.split(/\s{2,}/)[1]
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft)
  } catch {
    return undefined
  }
}

function openFds (pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return undefined
  }
}

interface FdPlan {
  /** Prepended to every child's command: prlimit and node, or nothing. */
  execPath: string | undefined
  prefix: string[]
  /** The limit every child will have (undefined: unknown, no /proc). */
  limit: number | undefined
  note: string
}

function planFds (): FdPlan {
  let wanted = wantedFds
  try {
    wanted = Math.min(wanted, Number(readFileSync('/proc/sys/fs/nr_open', 'utf8')))
  } catch {}
  const current = openFilesLimit('self')
  const prlimit = ['/usr/bin/prlimit', '/bin/prlimit'].find((file) => existsSync(file))
  if (prlimit === undefined) return { execPath: undefined, prefix: [], limit: current, note: `no prlimit: the processes keep this process' limit (${current ?? 'unknown'})` }
  if (current !== undefined && current >= wanted) return { execPath: undefined, prefix: [], limit: current, note: `the limit is already ${current}` }
  const tried = spawnSync(prlimit, [`--nofile=${wanted}:${wanted}`, 'true'], { encoding: 'utf8' })
  if (tried.status === 0) {
    return { execPath: prlimit, prefix: [`--nofile=${wanted}:${wanted}`, process.execPath], limit: wanted, note: `raised to ${wanted.toLocaleString('en')} (\`prlimit --nofile=${wanted}:${wanted}\`)` }
  }
  const why = (tried.stderr ?? '').trim().replace(/^prlimit: /, '') || `exit status ${String(tried.status)}`
  return { execPath: undefined, prefix: [], limit: current, note: `\`prlimit --nofile=${wanted}:${wanted}\` was refused (${why}: raising a hard limit needs CAP_SYS_RESOURCE), so every process keeps the hard limit of ${current?.toLocaleString('en') ?? 'unknown'}` }
}

// ---------------------------------------------------------------------------------
// Processes

interface Child { peer: RpcPeer, limit: number | undefined, baseFds: number }

function forkChild (file: string, args: string[], nodeArgs: string[], plan: FdPlan, options: CurveOptions): RpcPeer {
  const child = fork(path.join(here, file), args, {
    cwd: options.root,
    env: options.env,
    ...(plan.execPath === undefined ? {} : { execPath: plan.execPath }),
    execArgv: [...plan.prefix, ...nodeArgs],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return new RpcPeer(child)
}

async function hello<T> (peer: RpcPeer, what: string): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${what}: not ready within 60 s`)) }, 60_000)
    peer.child.once('message', (message: T) => { clearTimeout(timer); resolve(message) })
    peer.child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited with ${String(code)} before it was ready`)) })
  })
}

function describe (peer: RpcPeer): Omit<Child, 'peer'> {
  const pid = peer.child.pid as number
  return { limit: openFilesLimit(pid), baseFds: openFds(pid) ?? 32 }
}

/** Room for connections in a process (undefined limit: no bound known). */
function room (child: Omit<Child, 'peer'>): number {
  return child.limit === undefined ? Number.POSITIVE_INFINITY : child.limit - child.baseFds - fdMargin
}

// ---------------------------------------------------------------------------------

interface Contestant {
  contender: Contender
  server: Child & { port: number }
  /** The processes holding the idle connections. */
  clients: Array<Child & { idle: number }>
  /** The process of the 100 echo clients (counted in the step): its latencies are not those of a process holding thousands of clients. */
  echoer: Child & { idle: number }
  url: string
  baseline: MemReading | undefined
  /** Idle connections held (as the clients count them). */
  held: number
  /** Held connections closed by the server, as the clients last counted them. */
  lost: number
  failed: string | undefined
}

const int = (value: number): string => Math.round(value).toLocaleString('en')
const kib = (bytes: number): string => (bytes / 1024).toFixed(2)
const ms = (value: number): string => value.toFixed(2)
const loadAvg = (): string => os.loadavg().map((v) => v.toFixed(2)).join(', ')
const reasonsText = (reasons: Record<string, number>): string => Object.entries(reasons).map(([reason, count]) => `${count} × ${reason}`).join('; ')

function rotate<T> (items: readonly T[], by: number): T[] {
  if (items.length === 0) return []
  const shift = by % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}

export async function runCurve (options: CurveOptions): Promise<CurveResult> {
  const quick = options.quick
  const settings = {
    steps: [...(options.steps ?? (quick ? [1000, 2000] : [1000, 5000, 10_000, 20_000, 40_000]))].sort((a, b) => a - b),
    burst: 1000,
    burstConcurrency: 50,
    /** Handshakes opened and closed, unmeasured, before the measured batches (see measureStep). */
    burstWarm: quick ? 1000 : 2000,
    /** Measured batches of `burst` handshakes per step: their medians. */
    burstRounds: quick ? 1 : 3,
    warmBatches: quick ? 3 : 10,
    openConcurrency: 100,
    echoClients: 100,
    echoBytes: 20,
    echoWarmMs: quick ? 100 : 300,
    echoWindowMs: quick ? 300 : 2000,
    settleMs: quick ? 100 : 300,
    /** Source addresses: 127.0.0.2 on, enough for `perAddress` connections each (see below). */
    addresses: [] as string[]
  }
  // Each loopback source address has its own ephemeral ports. A client socket is bound to
  // its address before it connects (ws' `localAddress`), and libuv sets SO_REUSEADDR on it,
  // for which Linux searches a free port among the odd ports of the lower half of
  // ip_local_port_range first: about 7,000 of them (32768–60999), taken by open connections
  // and by those in TIME_WAIT (the closed handshake batches leave some on the client side
  // for 60 s). When they run short every bind() walks all of them (measured: ms of kernel
  // time per connection, the handshake rate down tenfold). So the connections of all three
  // servers, their largest step and its handshake batch, are spread to about 2,000 per address.
  const perAddress = 2000
  const largest = Math.max(...settings.steps)
  const addressCount = Math.min(250, Math.max(4, Math.ceil(curveContenders.length * (largest + settings.burst) / perAddress)))
  settings.addresses = Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 2}`)
  const failures: string[] = []
  const notes: string[] = []
  /** For the chart: the steps not run, and why. */
  let notRun = ''
  const rows: CurveRow[] = []
  const started = Date.now()
  const loadStart = loadAvg()
  const plan = planFds()
  console.log(`  curve: file descriptors: ${plan.note}`)

  const chosen = allContenders.filter((contender) => curveContenders.includes(contender.id) && options.contenders.includes(contender.id))
  const maxStep = settings.steps[settings.steps.length - 1] ?? 0
  // As many client processes per server as its largest step needs (one where the limit allows).
  // (Steps beyond what a server can hold are not run: no client process for them.)
  const clientRoom = plan.limit === undefined ? Number.POSITIVE_INFINITY : plan.limit - 64 - fdMargin
  const clientsPerServer = Math.max(1, Math.ceil((Math.min(maxStep, clientRoom - settings.burst) + settings.burst) / clientRoom))

  const contestants: Contestant[] = []
  /** Every child forked, to be sure none outlives the curve. */
  const forked: RpcPeer[] = []
  try {
    const spawned = await Promise.allSettled(chosen.map(async (contender): Promise<Contestant> => {
      const serverPeer = forkChild('server.ts', [contender.id], ['--import', 'tsx', '--expose-gc'], plan, options)
      const clientPeers = Array.from({ length: clientsPerServer + 1 }, () => forkChild('curve-load.ts', [], ['--import', 'tsx'], plan, options))
      forked.push(serverPeer, ...clientPeers)
      // Listening for every first message at once: a message nobody listens for is lost.
      const hellos = [hello<ServerHello>(serverPeer, `${contender.id} server`), ...clientPeers.map(async (peer) => await hello(peer, `${contender.id} client`))]
      const echoPeer = clientPeers.pop() as RpcPeer
      const [serverHello] = await Promise.all(hellos) as [ServerHello, ...unknown[]]
      if (serverHello.hello !== 'ready') throw new Error(`${contender.id} server: ${serverHello.reason}`)
      return {
        contender,
        server: { peer: serverPeer, port: serverHello.port, ...describe(serverPeer) },
        clients: clientPeers.map((peer) => ({ peer, idle: 0, ...describe(peer) })),
        echoer: { peer: echoPeer, idle: 0, ...describe(echoPeer) },
        url: `ws://127.0.0.1:${serverHello.port}${contender.connectPath}`,
        baseline: undefined,
        held: 0,
        lost: 0,
        failed: undefined
      }
    }))
    for (const [index, outcome] of spawned.entries()) {
      if (outcome.status === 'fulfilled') contestants.push(outcome.value)
      else failures.push(`curve: ${chosen[index]?.id ?? '?'}: ${String(outcome.reason)}`)
    }

    // Steps that fit every process' descriptors; the largest that fits in place of those that do not.
    const serverRoom = Math.min(...contestants.map((c) => room(c.server)))
    const clientsRoom = Math.min(...contestants.map((c) => c.clients.reduce((sum, client) => sum + room(client), 0)))
    const fit = Math.min(serverRoom, clientsRoom) - settings.burst
    const steps = settings.steps.filter((step) => step <= fit)
    const dropped = settings.steps.filter((step) => step > fit)
    if (dropped.length > 0) {
      const largest = Math.floor(fit / 1000) * 1000
      if (largest > (steps[steps.length - 1] ?? 0)) steps.push(largest)
      const limits = contestants.map((c) => c.server.limit).filter((v): v is number => v !== undefined)
      notes.push(`**Not run: ${dropped.map((step) => step.toLocaleString('en')).join(' and ')} connections.** Each server holds one descriptor per connection, plus ${settings.burst.toLocaleString('en')} for the handshake batch and the ${Math.max(...contestants.map((c) => c.server.baseFds))} it had open at start, and its open-files limit is ${limits.length === 0 ? 'unknown' : Math.min(...limits).toLocaleString('en')}: ${plan.note}. ${largest > 0 ? `The largest step that fits, ${largest.toLocaleString('en')}, was run in their place.` : ''}`)
      notRun = `; ${dropped.map((step) => fmtTick(step)).join(' and ')} not run: open-files limit ${limits.length === 0 ? '?' : Math.min(...limits).toLocaleString('en')}`
      console.log(`  curve: steps ${dropped.join(', ')} do not fit the descriptor limit (room for ${fit} + ${settings.burst}); running ${steps.join(', ')}`)
    }

    // Warm-up of each server (not measured): the paths a connection takes, 100 connections at
    // a time (never more, so the memory they leave behind stays far below the first step).
    for (const c of contestants) {
      try {
        const opened = await c.echoer.peer.call<OpenResult>('open', { url: c.url, group: 'idle', count: 100, concurrency: 50, addresses: settings.addresses, ms: 30_000 }, 60_000)
        if (opened.failed > 0) throw new Error(`warm-up: ${opened.failed} of 100 connections failed to open (${reasonsText(opened.reasons)})`)
        await c.echoer.peer.call('echo', { clients: 100, warmMs: 100, windowMs: quick ? 100 : 400, size: settings.echoBytes }, 60_000)
        await c.echoer.peer.call('close', { group: 'idle', ms: 10_000 }, 30_000)
        await warmHandshakes(c, c.clients[0] as Contestant['clients'][number], settings.warmBatches)
        await settled(c, 0)
        c.baseline = await c.server.peer.call<MemReading>('mem', undefined, 120_000)
        // The forced GCs of `mem` leave the server slow for the next few thousand handshakes
        // (about twice the CPU per handshake, back to normal after about 3,000): warm it again
        // (the growth to the first step warms it further).
        await warmHandshakes(c, c.clients[0] as Contestant['clients'][number], settings.warmBatches)
      } catch (error) {
        c.failed = String(error)
        failures.push(`curve: ${c.contender.id}: ${String(error)}`)
      }
    }

    for (const [index, step] of steps.entries()) {
      const line: string[] = []
      for (const c of rotate(contestants, index)) {
        if (c.failed !== undefined) continue
        try {
          const row = await measureStep(c, step)
          rows.push(row)
          line.push(`${c.contender.id} ${kib(row.rssPerConnection)}/${kib(row.heapPerConnection)} KiB ${int(row.handshakesPerSecond)}/s ${row.cpuPerHandshake.toFixed(0)}µs (sys ${row.serverSystemPerHandshake.toFixed(0)}, client ${row.clientCpuPerHandshake.toFixed(0)} sys ${row.clientSystemPerHandshake.toFixed(0)}) p99 ${ms(row.echo.p99)}ms${row.failed > 0 ? ` (${row.failed} failed)` : ''}`)
        } catch (error) {
          c.failed = String(error)
          failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: ${String(error)}`)
          line.push(`${c.contender.id} FAILED`)
        }
      }
      console.log(`  curve ${step.toLocaleString('en')} (RSS/heap per connection, handshakes, echo p99; load ${loadAvg()}): ${line.join(' · ')}`)
    }
  } finally {
    await Promise.allSettled(contestants.map(async (c) => {
      // The server closes first (its exit), so TIME_WAIT stays on its side; then the clients let go.
      const clients = [...c.clients, c.echoer]
      await Promise.allSettled(clients.map(async (client) => { await client.peer.call('detach', undefined, 10_000) }))
      await stopChild(c.server.peer)
      await Promise.allSettled(clients.map(async (client) => {
        await client.peer.call('reset', { ms: 10_000 }, 30_000).catch(() => {})
        await stopChild(client.peer)
      }))
    }))
    for (const peer of forked) {
      if (peer.child.exitCode === null && peer.child.signalCode === null) peer.child.kill('SIGKILL')
    }
  }

  const seconds = (Date.now() - started) / 1000

  /** Unmeasured handshakes, `batches` × 100 opened then closed (at most 100 open at a time beyond the step). */
  async function warmHandshakes (c: Contestant, client: Contestant['clients'][number], batches: number): Promise<void> {
    for (let i = 0; i < batches; i++) {
      const opened = await client.peer.call<OpenResult>('open', { url: c.url, group: 'burst', count: 100, concurrency: 50, addresses: settings.addresses, ms: 30_000 }, 60_000)
      if (opened.failed > 0) throw new Error(`warm-up: ${opened.failed} of 100 connections failed to open (${reasonsText(opened.reasons)})`)
      await client.peer.call('close', { group: 'burst', ms: 10_000 }, 30_000)
    }
    await settled(c, c.held)
  }

  /** Waits (bounded) for the server to count `open` connections; returns the count it reached. */
  async function settled (c: Contestant, open: number): Promise<number> {
    let now = -1
    for (let i = 0; i < 200; i++) {
      now = await c.server.peer.call<number>('open')
      if (now === open) return now
      await sleep(50)
    }
    return now
  }

  async function measureStep (c: Contestant, step: number): Promise<CurveRow> {
    const baseline = c.baseline as MemReading
    let failed = 0
    // Grow to `step`: the echo clients, and the rest spread evenly over the client processes.
    const rest = step - settings.echoClients
    const targets = [...c.clients.map((_client, i) => Math.floor(rest / c.clients.length) + (i < rest % c.clients.length ? 1 : 0)), settings.echoClients]
    const batches = await Promise.all([...c.clients, c.echoer].map(async (client, i) => {
      const count = (targets[i] as number) - client.idle
      if (count <= 0) return undefined
      const result = await client.peer.call<OpenResult>('open', {
        url: c.url, group: 'idle', count, concurrency: Math.ceil(settings.openConcurrency / c.clients.length), addresses: settings.addresses, ms: 30_000 + count * 5
      }, 120_000 + count * 10)
      client.idle += result.opened
      return result
    }))
    for (const batch of batches) {
      if (batch === undefined || batch.failed === 0) continue
      failed += batch.failed
      failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: ${batch.failed} connections failed to open (${reasonsText(batch.reasons)})`)
    }
    c.held = c.clients.reduce((sum, client) => sum + client.idle, c.echoer.idle)
    await sleep(settings.settleMs)
    const serverOpen = await settled(c, c.held)
    if (serverOpen !== c.held) failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: the clients hold ${c.held} connections, the server counts ${serverOpen}`)
    // Memory first, while no more than the step's connections have ever been open at once.
    const mem = await c.server.peer.call<MemReading>('mem', undefined, 120_000)
    if (mem.open !== c.held) failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: the clients hold ${c.held} connections, the server counts ${mem.open} when its memory is read`)
    const load = os.loadavg()[0] as number

    // Handshakes: batches of the next 1,000, on the client process with the most room left,
    // each closed again before the next. The forced GCs of the memory reading leave the
    // server slow for the next few thousand handshakes: the first `burstWarm` are not
    // measured; of the `burstRounds` batches after them, the medians.
    const burstClient = [...c.clients].sort((a, b) => (room(b) - b.idle) - (room(a) - a.idle))[0] as Contestant['clients'][number]
    const handshakeBatches: Array<{ rate: number, cpu: number, serverSystem: number, client: number, clientSystem: number, clientBusy: number }> = []
    const rounds = settings.burstWarm / settings.burst + settings.burstRounds
    for (let round = 0; round < rounds; round++) {
      const measured = round >= settings.burstWarm / settings.burst
      const cpu0 = await c.server.peer.call<CpuReading>('cpu')
      const burst = await burstClient.peer.call<OpenResult>('open', {
        url: c.url, group: 'burst', count: settings.burst, concurrency: settings.burstConcurrency, addresses: settings.addresses, ms: 60_000
      }, 120_000)
      const cpu1 = await c.server.peer.call<CpuReading>('cpu')
      if (burst.failed > 0) {
        failed += burst.failed
        failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: ${burst.failed} of ${settings.burst} handshake-batch connections failed to open (${reasonsText(burst.reasons)})`)
      }
      const closed = await burstClient.peer.call<{ closed: number, forced: number }>('close', { group: 'burst', ms: 15_000 }, 60_000)
      if (closed.forced > 0) failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: ${closed.forced} handshake-batch connections did not close within 15 s (terminated)`)
      const back = await settled(c, c.held)
      if (back !== c.held) failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: after a handshake batch closed the server counts ${back} open, not ${c.held}`)
      if (!measured || burst.opened === 0) continue
      handshakeBatches.push({
        rate: burst.opened / burst.seconds,
        cpu: ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / burst.opened,
        serverSystem: (cpu1.system - cpu0.system) / burst.opened,
        client: burst.cpu / burst.opened,
        clientSystem: burst.system / burst.opened,
        clientBusy: burst.cpu / (burst.seconds * 1e6)
      })
    }
    const of = (pick: (batch: typeof handshakeBatches[number]) => number): number => median(handshakeBatches.map(pick))

    const echo = await c.echoer.peer.call<EchoResult>('echo', {
      clients: settings.echoClients, warmMs: settings.echoWarmMs, windowMs: settings.echoWindowMs, size: settings.echoBytes
    }, 60_000)
    if (echo.errors > 0) failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: ${echo.errors} echo errors`)
    const status = await Promise.all([...c.clients, c.echoer].map(async (client) => await client.peer.call<{ dropped: number }>('status')))
    const lost = status.reduce((sum, s) => sum + s.dropped, 0)
    if (lost > c.lost) failures.push(`curve: ${c.contender.id} at ${step.toLocaleString('en')}: ${lost - c.lost} idle connections closed by the server (not by the client)`)
    c.lost = lost

    return {
      step,
      contender: c.contender.id,
      open: mem.open,
      rssPerConnection: (mem.rss - baseline.rss) / Math.max(1, mem.open),
      heapPerConnection: (mem.heapUsed - baseline.heapUsed) / Math.max(1, mem.open),
      handshakesPerSecond: of((b) => b.rate),
      cpuPerHandshake: of((b) => b.cpu),
      clientBusy: of((b) => b.clientBusy),
      serverSystemPerHandshake: of((b) => b.serverSystem),
      clientCpuPerHandshake: of((b) => b.client),
      clientSystemPerHandshake: of((b) => b.clientSystem),
      echo,
      failed,
      load
    }
  }

  const steps = [...new Set(rows.map((row) => row.step))]
  const labelOf = (id: ContenderId): string => allContenders.find((contender) => contender.id === id)?.label ?? id
  const lines: string[] = []
  const measuredIds = contestants.map((c) => c.contender.id)
  lines.push(
    '| connections | server | RSS KiB / conn | JS heap KiB / conn | handshakes/s (batches of the next 1,000) | server CPU µs / handshake | client cores | echo round trips/s | echo p50 ms | echo p99 ms | failed to open | load avg (1 min) |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  )
  for (const step of steps) {
    const base = rows.find((row) => row.step === step && row.contender === 'ws')
    const ratio = (value: number, of: number | undefined): string => of === undefined || of <= 0 || value < 0 ? '' : ` (${(value / of).toFixed(2)})`
    for (const id of measuredIds) {
      const row = rows.find((r) => r.step === step && r.contender === id)
      if (row === undefined) continue
      // RSS below the JS heap is RSS reusing memory freed before the baseline: no ratio to that.
      const rssBase = base !== undefined && base.rssPerConnection >= base.heapPerConnection ? base.rssPerConnection : undefined
      lines.push(`| ${step.toLocaleString('en')} | ${labelOf(id)} | ${kib(row.rssPerConnection)}${ratio(row.rssPerConnection, rssBase)} | ${kib(row.heapPerConnection)}${ratio(row.heapPerConnection, base?.heapPerConnection)} | ${int(row.handshakesPerSecond)} | ${row.cpuPerHandshake.toFixed(1)} | ${row.clientBusy.toFixed(2)} | ${int(row.echo.roundTrips / row.echo.seconds)} | ${ms(row.echo.p50)} | ${ms(row.echo.p99)} | ${row.failed} | ${row.load.toFixed(2)} |`)
    }
  }
  const failedTotal = rows.reduce((sum, row) => sum + row.failed, 0)
  const markdown = [
    `Load average (1, 5, 15 min) at start ${loadStart}, at end ${loadAvg()}; ${Math.round(seconds)} s for the curve. File descriptors: ${plan.note}.`,
    '',
    '![cost curve: memory per connection and echo p99 against the number of idle connections](curve.svg)',
    '',
    `**One round per step** (the curve's budget in the full run); in parentheses, the ratio to raw ws at the same step (none for RSS where raw ws' RSS per connection came out below its JS heap, see below). The three servers (bench/server.ts, the echo route each serves in the other scenarios; fastify-upgrade with its defaults, so its heartbeat pings every connection every 30 s) run side by side for the whole curve, each with its own client processes (bench/curve-load.ts, ws' client, permessage-deflate off, no timer per connection); at each step they are measured one after the other, in an order rotated from step to step. Clients connect from ${settings.addresses[0]} to ${settings.addresses[settings.addresses.length - 1]} in turn (\`localAddress\`; ${settings.addresses.length} addresses, at most about ${perAddress.toLocaleString('en')} open connections each): a socket bound to an address before it connects gets its port from the odd ports of the lower half of ip_local_port_range (SO_REUSEADDR, which libuv sets), about 7,000 per address, which the connections of the three servers and those in TIME_WAIT would otherwise fill (then every bind() walks them all: milliseconds of kernel time per connection).`,
    '',
    `- Memory: RSS and JS heap (\`process.memoryUsage()\` after three full GCs, in the server) with the step's connections open and idle (read first in the step: with these steps, never more had been open at once), minus the same with none open (read after a warm-up: an echo on 100 connections, ${settings.warmBatches} × 100 connections opened and closed), divided by the connections the server counts open. Kernel socket buffers are not in RSS. RSS grows by whole pages and allocator arenas, and memory freed before the baseline is reused by the first connections: at the small steps it is the least reliable figure (it can come out below the JS heap); the JS heap is the steady one.`,
    `- Handshakes: batches of the next ${settings.burst.toLocaleString('en')} connections, ${settings.burstConcurrency} opening at a time, each timed from the first connect to the last \`open\` on the client, with the server's CPU time (user + system, \`process.cpuUsage()\` read before and after over IPC) divided by them; each batch is closed again and the server given time to count it closed before the next, so the step keeps its size. The first ${settings.burstWarm.toLocaleString('en')} are not measured: the forced GCs of the memory reading leave a server slow for the next few thousand handshakes (about twice the CPU per handshake right after them, back to normal after about 3,000; raw ws alike). The figures are the medians of the ${settings.burstRounds} batch${settings.burstRounds === 1 ? '' : 'es'} after them; single batches of this size on this shared machine vary by up to 2× from one to the next. "client cores": the client process' CPU time over the batch; near 1.00 the rate is the client's limit, and the server's CPU per handshake is the figure to compare.`,
    `- Echo: ${settings.echoClients} of the step's connections, opened by a client process of their own (so that the latencies are not those of a process holding thousands of connections), each keep one ${settings.echoBytes} B binary message in flight; ${settings.echoWarmMs} ms unmeasured, then every round trip of a ${settings.echoWindowMs.toLocaleString('en')} ms window timed by the client.`,
    `- Failures: every connection that failed to open is counted (column "failed to open") and listed under "Problems" with its reason: ${failedTotal === 0 ? 'none in this run' : `${failedTotal} in this run`}.`,
    ...notes.map((note) => `- ${note}`),
    '',
    lines.join('\n')
  ].join('\n')
  return { markdown, svg: chart(rows, measuredIds.map((id) => ({ id, label: labelOf(id) })), `one round per step; load average ${loadStart} at start${notRun}`), rows, failures }
}

// ---------------------------------------------------------------------------------
// The chart: a hand-written SVG (no dependency), two panels sharing the x axis scale.

const palette: Record<string, { color: string, marker: 'circle' | 'square' | 'triangle' }> = {
  ws: { color: '#1f6fb4', marker: 'circle' },
  'fastify-websocket': { color: '#d9730d', marker: 'square' },
  'fastify-upgrade': { color: '#1b8a3a', marker: 'triangle' }
}

function escapeXml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** A round tick step giving at most `count` intervals over [0, max]. */
function tickStep (max: number, count: number): number {
  if (!(max > 0)) return 1
  const raw = max / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  for (const factor of [1, 2, 2.5, 5, 10]) {
    if (factor * magnitude >= raw) return factor * magnitude
  }
  return 10 * magnitude
}

function fmtTick (value: number): string {
  if (Math.abs(value) >= 1000 && value % 1000 === 0) return `${value / 1000}k`
  return Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 1 ? 2 : 1)
}

interface Series { id: string, label: string, dashed: boolean, points: Array<[number, number]> }

function marker (kind: 'circle' | 'square' | 'triangle', x: number, y: number, color: string): string {
  const f = (v: number): string => v.toFixed(1)
  if (kind === 'circle') return `<circle cx="${f(x)}" cy="${f(y)}" r="3.5" fill="${color}"/>`
  if (kind === 'square') return `<rect x="${f(x - 3.2)}" y="${f(y - 3.2)}" width="6.4" height="6.4" fill="${color}"/>`
  return `<path d="M${f(x)} ${f(y - 4.2)}L${f(x + 4)} ${f(y + 3)}L${f(x - 4)} ${f(y + 3)}Z" fill="${color}"/>`
}

function panel (x0: number, y0: number, width: number, height: number, title: string, yLabel: string, xMax: number, series: Series[]): string {
  const left = 62
  const right = 16
  const top = 30
  const bottom = 46
  const w = width - left - right
  const h = height - top - bottom
  const values = series.flatMap((s) => s.points.map(([, y]) => y)).filter((v) => Number.isFinite(v))
  const yMinRaw = Math.min(0, ...values)
  const yMaxRaw = Math.max(...values, 0) * 1.08 || 1
  const yStep = tickStep(yMaxRaw - yMinRaw, 5)
  const yMin = Math.floor(yMinRaw / yStep) * yStep
  const yMax = Math.ceil(yMaxRaw / yStep) * yStep
  const xStep = tickStep(xMax, 6)
  const xEnd = Math.ceil(xMax / xStep) * xStep
  const px = (x: number): number => x0 + left + (x / xEnd) * w
  const py = (y: number): number => y0 + top + h - ((y - yMin) / (yMax - yMin)) * h
  const out: string[] = ['<g font-family="Helvetica, Arial, sans-serif" font-size="11" fill="#333">']
  out.push(`<text x="${x0 + left + w / 2}" y="${y0 + 18}" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`)
  for (let y = yMin; y <= yMax + yStep / 1000; y += yStep) {
    out.push(`<line x1="${px(0)}" x2="${px(xEnd)}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="${Math.abs(y) < yStep / 1000 ? '#888' : '#e3e3e3'}"/>`)
    out.push(`<text x="${px(0) - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${fmtTick(Number(y.toFixed(6)))}</text>`)
  }
  for (let x = 0; x <= xEnd + xStep / 1000; x += xStep) {
    out.push(`<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${py(yMin)}" y2="${py(yMin) + 4}" stroke="#888"/>`)
    out.push(`<text x="${px(x).toFixed(1)}" y="${py(yMin) + 16}" text-anchor="middle">${fmtTick(x)}</text>`)
  }
  out.push(`<line x1="${px(0)}" x2="${px(0)}" y1="${py(yMin)}" y2="${py(yMax)}" stroke="#888"/>`)
  out.push(`<text x="${px(xEnd / 2)}" y="${y0 + height - 8}" text-anchor="middle">idle connections (N)</text>`)
  const cy = y0 + top + h / 2
  out.push(`<text x="${x0 + 16}" y="${cy}" text-anchor="middle" transform="rotate(-90 ${x0 + 16} ${cy})">${escapeXml(yLabel)}</text>`)
  for (const s of series) {
    const style = palette[s.id] ?? { color: '#555', marker: 'circle' as const }
    const points = s.points.filter(([, y]) => Number.isFinite(y))
    if (points.length === 0) continue
    const d = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join('')
    out.push(`<path d="${d}" fill="none" stroke="${style.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`)
    for (const [x, y] of points) out.push(marker(style.marker, px(x), py(y), style.color))
  }
  out.push('</g>')
  return out.join('\n')
}

export function chart (rows: readonly CurveRow[], servers: ReadonlyArray<{ id: ContenderId, label: string }>, subtitle: string): string {
  const width = 960
  const height = 440
  const panelTop = 76
  const panelHeight = height - panelTop - 10
  const xMax = Math.max(...rows.map((row) => row.step), 1000)
  const of = (id: ContenderId, pick: (row: CurveRow) => number): Array<[number, number]> =>
    rows.filter((row) => row.contender === id).sort((a, b) => a.step - b.step).map((row) => [row.step, pick(row)])
  const memory: Series[] = servers.flatMap(({ id, label }) => [
    { id, label, dashed: false, points: of(id, (row) => row.rssPerConnection / 1024) },
    { id, label, dashed: true, points: of(id, (row) => row.heapPerConnection / 1024) }
  ])
  const p99: Series[] = servers.map(({ id, label }) => ({ id, label, dashed: false, points: of(id, (row) => row.echo.p99) }))
  // Legend: one entry per server (colour and marker), then the two line styles of the memory panel.
  const legend: string[] = []
  let x = 20
  for (const { id, label } of servers) {
    const style = palette[id] ?? { color: '#555', marker: 'circle' as const }
    legend.push(`<line x1="${x}" x2="${x + 26}" y1="60" y2="60" stroke="${style.color}" stroke-width="2"/>${marker(style.marker, x + 13, 60, style.color)}<text x="${x + 32}" y="64">${escapeXml(label)}</text>`)
    x += 44 + label.length * 6.6
  }
  x += 20
  legend.push(`<line x1="${x}" x2="${x + 26}" y1="60" y2="60" stroke="#555" stroke-width="2"/><text x="${x + 32}" y="64">RSS</text>`)
  x += 70
  legend.push(`<line x1="${x}" x2="${x + 26}" y1="60" y2="60" stroke="#555" stroke-width="2" stroke-dasharray="6 4"/><text x="${x + 32}" y="64">JS heap (memory panel)</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<rect width="${width}" height="${height}" fill="#ffffff"/>
<text x="20" y="22" font-family="Helvetica, Arial, sans-serif" font-size="15" font-weight="bold" fill="#222">Cost of idle WebSocket connections (bench/curve.ts)</text>
<text x="20" y="40" font-family="Helvetica, Arial, sans-serif" font-size="11" fill="#666">${escapeXml(subtitle)}</text>
<g font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#333">
${legend.join('\n')}
</g>
${panel(0, panelTop, width / 2, panelHeight, 'Memory per connection', 'KiB per connection (after GC)', xMax, memory)}
${panel(width / 2, panelTop, width / 2, panelHeight, 'Echo p99 round trip, 100 active clients', 'p99 round trip, ms', xMax, p99)}
</svg>
`
}
