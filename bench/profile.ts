// Reads a V8 .cpuprofile (node --cpu-prof) and lists where the time went: self time by
// function and by package, optionally only over a window of the monotonic clock (the
// samples' clock, which process.hrtime() shares), so that startup is left out.
//
//   npx tsx bench/profile.ts bench/profiles/fastify-upgrade.echo-20.cpuprofile
//   (bench/run.ts --profile <contender>:<scenario> records one and calls this on it)
import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

interface CallFrame { functionName: string, url: string, lineNumber: number, columnNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

export interface FunctionTime {
  name: string
  /** Where the function is, relative to the project: file:line (1-based), or a package / node: module. */
  location: string
  group: string
  selfUs: number
  /** Self time plus the time of everything it called (counted once under recursion). */
  totalUs: number
}

export interface ProfileReport {
  file: string
  /** Microseconds covered by the samples taken into account, idle included. */
  totalUs: number
  idleUs: number
  windowed: boolean
  ops: number
  functions: FunctionTime[]
  groups: Array<{ group: string, selfUs: number }>
}

// bench/run.ts compiles lib/ with tsc into this directory; its files stand for lib/*.ts.
const buildDir = `${path.sep}node_modules${path.sep}.cache${path.sep}fastify-upgrade-bench${path.sep}lib${path.sep}`

/** The file a frame's url stands for: lib/x.ts for the benchmark's build of lib/x.js. */
function sourceFile (url: string, root: string): string {
  const file = url.startsWith('file://') ? fileURLToPath(url) : url
  const built = file.indexOf(buildDir)
  if (built === -1) return file
  return path.join(root, 'lib', file.slice(built + buildDir.length).replace(/\.js$/, '.ts'))
}

function groupOf (url: string, name: string, root: string): string {
  if (url === '') return name.startsWith('(') ? name : 'V8 builtins / native'
  if (url.startsWith('node:')) return 'node: core'
  const file = sourceFile(url, root)
  const inModules = file.lastIndexOf('/node_modules/')
  if (inModules !== -1) {
    const parts = file.slice(inModules + '/node_modules/'.length).split('/')
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : parts[0] ?? file
  }
  if (file.startsWith(path.join(root, 'lib') + path.sep)) return 'fastify-upgrade lib/'
  if (file.startsWith(root + path.sep)) return path.relative(root, file).split(path.sep)[0] ?? file
  return 'other'
}

// Neither tsc's output nor tsx's (esbuild) keeps the source's line numbers: find the
// function's definition in the TypeScript source by its name instead.
const sourceCache = new Map<string, string[]>()
function sourceLine (file: string, name: string, generatedLine: number): number {
  if (!file.endsWith('.ts') || name === '' || name.startsWith('(')) return generatedLine
  let lines = sourceCache.get(file)
  if (lines === undefined) {
    lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []
    sourceCache.set(file, lines)
  }
  const bare = name.replace(/^(get|set) /, '').split('.').pop() ?? name
  const escaped = bare.replace(/[$#]/g, (c) => `\\${c}`)
  const patterns = [
    new RegExp(`class\\s+${escaped}\\b`),
    new RegExp(`function\\s+${escaped}\\b`),
    new RegExp(`^\\s*(static\\s+|get\\s+|set\\s+|async\\s+|readonly\\s+)*${escaped}\\s*(=|\\(|<)`)
  ]
  for (const pattern of patterns) {
    const index = lines.findIndex((line) => pattern.test(line))
    if (index !== -1) return index + 1
  }
  return generatedLine
}

export function analyzeProfile (file: string, root: string, window?: { from: number, to: number }, ops = 0): ProfileReport {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  // Sample i lasts until sample i + 1.
  const times: number[] = []
  let at = profile.startTime
  for (const delta of profile.timeDeltas) {
    at += delta
    times.push(at)
  }
  const windowed = window !== undefined && window.to > window.from && window.from >= profile.startTime - 1e6 && window.to <= profile.endTime + 1e6
  const self = new Map<number, number>()
  let totalUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const start = times[i] as number
    const duration = i + 1 < times.length ? (times[i + 1] as number) - start : 0
    if (windowed && (start < window.from || start > window.to)) continue
    const id = profile.samples[i] as number
    self.set(id, (self.get(id) ?? 0) + duration)
    totalUs += duration
  }
  const byFunction = new Map<string, FunctionTime>()
  const byGroup = new Map<string, number>()
  const keys = new Map<number, string>()
  let idleUs = 0
  for (const node of profile.nodes) {
    const frame = node.callFrame
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
    const group = groupOf(frame.url, name, root)
    let location: string
    if (frame.url === '') location = ''
    else if (frame.url.startsWith('node:')) location = `${frame.url}:${frame.lineNumber + 1}`
    else {
      const absolute = sourceFile(frame.url, root)
      location = `${path.relative(root, absolute)}:${sourceLine(absolute, frame.functionName, frame.lineNumber + 1)}`
    }
    const key = `${name}@${location}`
    keys.set(node.id, key)
    if (!byFunction.has(key)) byFunction.set(key, { name, location, group, selfUs: 0, totalUs: 0 })
    const us = self.get(node.id) ?? 0
    if (us === 0) continue
    if (name === '(idle)') {
      idleUs += us
      continue
    }
    ;(byFunction.get(key) as FunctionTime).selfUs += us
    byGroup.set(group, (byGroup.get(group) ?? 0) + us)
  }
  // Inclusive time: walk the call tree from the root, adding each node's subtree to its
  // function unless the same function is already on the stack (recursion).
  const root0 = profile.nodes[0]
  if (root0 !== undefined) {
    const active = new Map<string, number>()
    const visit = (id: number): number => {
      const node = nodes.get(id) as ProfileNode
      const key = keys.get(id) as string
      active.set(key, (active.get(key) ?? 0) + 1)
      let total = self.get(id) ?? 0
      for (const child of node.children ?? []) total += visit(child)
      const depth = active.get(key) as number
      active.set(key, depth - 1)
      if (depth === 1) (byFunction.get(key) as FunctionTime).totalUs += total
      return total
    }
    visit(root0.id)
  }
  return {
    file,
    totalUs,
    idleUs,
    windowed,
    ops,
    functions: [...byFunction.values()].filter((f) => f.name !== '(idle)' && f.name !== '(root)' && f.totalUs > 0).sort((a, b) => b.selfUs - a.selfUs),
    groups: [...byGroup].map(([group, selfUs]) => ({ group, selfUs })).sort((a, b) => b.selfUs - a.selfUs)
  }
}

export function formatProfile (report: ProfileReport, top = 25): string {
  const busy = report.totalUs - report.idleUs
  const pct = (us: number): string => `${(100 * us / busy).toFixed(1)} %`
  const perOp = (us: number): string => report.ops > 0 ? (us / report.ops).toFixed(3) : ''
  const lines = [
    `${path.basename(report.file)}: ${(report.totalUs / 1000).toFixed(0)} ms sampled${report.windowed ? ' (the measurement window only)' : ' (whole profile: the window did not match its clock)'}, ${(busy / 1000).toFixed(0)} ms busy${report.ops > 0 ? `, ${report.ops.toLocaleString('en')} operations` : ''}`,
    '',
    '| self time by package | % of busy | µs / op |',
    '|---|---:|---:|',
    ...report.groups.slice(0, 14).map((g) => `| ${g.group} | ${pct(g.selfUs)} | ${perOp(g.selfUs)} |`),
    '',
    `| top ${top} functions by self time | where | % of busy | µs / op |`,
    '|---|---|---:|---:|',
    ...report.functions.slice(0, top).map((f) => `| ${f.name} | ${f.location || f.group} | ${pct(f.selfUs)} | ${perOp(f.selfUs)} |`)
  ]
  const mine = (f: FunctionTime): boolean => f.group === 'fastify-upgrade lib/' || f.group === 'fastify' || f.group.startsWith('@fastify/')
  const ours = report.functions.filter(mine).slice(0, 15)
  if (ours.length > 0) {
    lines.push('', '| in lib/ or Fastify, by self time | where | self % of busy | self µs / op | total µs / op |', '|---|---|---:|---:|---:|',
      ...ours.map((f) => `| ${f.name} | ${f.location} | ${pct(f.selfUs)} | ${perOp(f.selfUs)} | ${perOp(f.totalUs)} |`))
    const inclusive = report.functions.filter(mine).sort((a, b) => b.totalUs - a.totalUs).slice(0, 15)
    lines.push('', '| in lib/ or Fastify, by total time (callees included) | where | total % of busy | total µs / op |', '|---|---|---:|---:|',
      ...inclusive.map((f) => `| ${f.name} | ${f.location} | ${pct(f.totalUs)} | ${perOp(f.totalUs)} |`))
  }
  return lines.join('\n')
}

/**
 * Where `b` spends more than `a` per operation: self and total µs/op by function, largest
 * differences first (both profiles need their operation counts).
 */
export function formatDiff (a: ProfileReport, b: ProfileReport, top = 25): string {
  const perOp = (us: number, report: ProfileReport): number => us / Math.max(1, report.ops)
  const index = (report: ProfileReport): Map<string, FunctionTime> => new Map(report.functions.map((f) => [`${f.name}@${f.location}`, f]))
  const left = index(a)
  const right = index(b)
  const keys = new Set([...left.keys(), ...right.keys()])
  const rows = [...keys].map((key) => {
    const l = left.get(key)
    const r = right.get(key)
    const f = (r ?? l) as FunctionTime
    return {
      f,
      self: perOp(r?.selfUs ?? 0, b) - perOp(l?.selfUs ?? 0, a),
      selfA: perOp(l?.selfUs ?? 0, a),
      selfB: perOp(r?.selfUs ?? 0, b)
    }
  }).sort((x, y) => y.self - x.self)
  const groups = new Set([...a.groups, ...b.groups].map((g) => g.group))
  const groupOf = (report: ProfileReport, group: string): number => perOp(report.groups.find((g) => g.group === group)?.selfUs ?? 0, report)
  const busy = (report: ProfileReport): number => perOp(report.totalUs - report.idleUs, report)
  return [
    `${path.basename(a.file)} → ${path.basename(b.file)}: busy ${busy(a).toFixed(2)} → ${busy(b).toFixed(2)} µs/op`,
    '',
    '| self time by package, µs / op | a | b | b − a |',
    '|---|---:|---:|---:|',
    ...[...groups].map((group) => [group, groupOf(a, group), groupOf(b, group)] as const)
      .sort((x, y) => (y[2] - y[1]) - (x[2] - x[1]))
      .map(([group, x, y]) => `| ${group} | ${x.toFixed(3)} | ${y.toFixed(3)} | ${(y - x).toFixed(3)} |`),
    '',
    `| top ${top} self-time increases, µs / op | where | a | b | b − a |`,
    '|---|---|---:|---:|---:|',
    ...rows.slice(0, top).map((row) => `| ${row.f.name} | ${row.f.location || row.f.group} | ${row.selfA.toFixed(3)} | ${row.selfB.toFixed(3)} | ${row.self.toFixed(3)} |`)
  ].join('\n')
}

// ---------------------------------------------------------------------------------
// Heap snapshots: what the objects added between two snapshots are, per connection.

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Bytes and counts by `type name` (for objects, the constructor's name; for closures, the function's). */
function heapCensus (file: string): Map<string, { count: number, bytes: number }> {
  const heap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot
  const fields = heap.snapshot.meta.node_fields
  const types = heap.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const census = new Map<string, { count: number, bytes: number }>()
  for (let i = 0; i < heap.nodes.length; i += width) {
    const type = types[heap.nodes[i + typeAt] as number] ?? '?'
    let name = heap.strings[heap.nodes[i + nameAt] as number] ?? '?'
    // Strings and numbers are named by their content: count them by type only.
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'code' || type === 'hidden') name = ''
    if (name.length > 60) name = `${name.slice(0, 57)}...`
    const key = `${type} ${name}`.trim()
    const entry = census.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += heap.nodes[i + sizeAt] as number
    census.set(key, entry)
  }
  return census
}

/** What `after` holds beyond `before`, per connection: the biggest by bytes. */
export function formatHeapDiff (before: string, after: string, connections: number, top = 30): string {
  const a = heapCensus(before)
  const b = heapCensus(after)
  const rows = [...b].map(([key, entry]) => {
    const old = a.get(key) ?? { count: 0, bytes: 0 }
    return { key, count: (entry.count - old.count) / connections, bytes: (entry.bytes - old.bytes) / connections }
  }).filter((row) => row.bytes > 0).sort((x, y) => y.bytes - x.bytes)
  const total = rows.reduce((sum, row) => sum + row.bytes, 0)
  return [
    `${path.basename(after)} − ${path.basename(before)}, per connection (${connections.toLocaleString('en')}): ${total.toFixed(0)} bytes of JS heap objects (self sizes)`,
    '',
    '| type and constructor / function | objects / conn | bytes / conn |',
    '|---|---:|---:|',
    ...rows.slice(0, top).map((row) => `| ${row.key.replace(/\|/g, '\\|')} | ${row.count.toFixed(2)} | ${row.bytes.toFixed(0)} |`)
  ].join('\n')
}

function load (file: string, root: string): ProfileReport {
  const meta = file.replace(/\.cpuprofile$/, '.json')
  const window = existsSync(meta) ? JSON.parse(readFileSync(meta, 'utf8')) as { from: number, to: number, ops: number } : undefined
  return analyzeProfile(file, root, window, window?.ops ?? 0)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, second] = process.argv.slice(2)
  if (file === undefined) {
    console.error('usage: tsx bench/profile.ts <file.cpuprofile> [<other.cpuprofile>: where the other spends more per operation]')
    process.exit(2)
  }
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  if (second === undefined) console.log(formatProfile(load(file, root), 25))
  else console.log(formatDiff(load(file, root), load(second, root), 30))
}
