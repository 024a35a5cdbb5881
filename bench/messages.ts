// Micro-benchmark: what validation costs next to JSON.parse.
// For each payload, decoding a message with the route's compiled schema
// (MessageCodec.decode: JSON.parse + check, as the socket does per message) is timed
// against plain JSON.parse of the same bytes, in the same process and run. Rounds
// alternate the two and the median of each is reported, with their ratio; and the heap
// each allocates per message (garbage the young-generation GC collects).
//
//   npm run bench:messages            (about 20 s)
//   npm run bench:messages -- --quick (a smoke run of a second or two)
import os from 'node:os'
import { getHeapStatistics } from 'node:v8'
import { Type, type TObject } from '@sinclair/typebox'
import { Type as Type1, type TObject as TObject1 } from 'typebox'
import { MessageCodec, InvalidMessage } from '../lib/messages.js'

const quick = process.argv.includes('--quick')
const rounds = quick ? 3 : 11
const roundMs = quick ? 50 : 250

interface Case { name: string, codec: MessageCodec, payload: Buffer }

const Small = Type.Object({ type: Type.Literal('say'), text: Type.String(), n: Type.Integer() })
const Item = Type.Object({ id: Type.Integer(), name: Type.String(), price: Type.Number(), tags: Type.Array(Type.String()), active: Type.Boolean() })
const Large = Type.Object({ order: Type.String(), customer: Type.Object({ name: Type.String(), email: Type.String() }), items: Type.Array(Item) })
const members: Record<string, TObject> = {}
for (let i = 0; i < 10; i++) members[`kind${i}`] = Type.Object({ id: Type.Integer(), text: Type.String(), at: Type.Number() })
// The same with TypeBox 1.x, which ajv compiles (as it would plain JSON Schema).
const Small1 = Type1.Object({ type: Type1.Literal('say'), text: Type1.String(), n: Type1.Integer() })
const members1: Record<string, TObject1> = {}
for (let i = 0; i < 10; i++) members1[`kind${i}`] = Type1.Object({ id: Type1.Integer(), text: Type1.String(), at: Type1.Number() })

const large = {
  order: 'A-1001',
  customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
  items: Array.from({ length: 11 }, (_, i) => ({ id: i, name: `item number ${i}`, price: 9.99 + i, tags: ['a', 'b'], active: i % 2 === 0 }))
}

const cases: Case[] = [
  { name: 'small object (schema.message)', codec: new MessageCodec({ message: Small }, '/bench'), payload: Buffer.from(JSON.stringify({ type: 'say', text: 'hello there', n: 42 })) },
  { name: `${Buffer.byteLength(JSON.stringify(large))} B object (schema.message)`, codec: new MessageCodec({ message: Large }, '/bench'), payload: Buffer.from(JSON.stringify(large)) },
  { name: '10-member tagged union (schema.messages)', codec: new MessageCodec({ messages: members }, '/bench'), payload: Buffer.from(JSON.stringify({ type: 'kind9', id: 7, text: 'hello', at: 1700000000000 })) },
  { name: '10-member Type.Union (schema.message)', codec: new MessageCodec({ message: Type.Union(Object.entries(members).map(([name, member]) => Type.Object({ ...member.properties, type: Type.Literal(name) }))) }, '/bench'), payload: Buffer.from(JSON.stringify({ type: 'kind9', id: 7, text: 'hello', at: 1700000000000 })) },
  { name: 'small object, TypeBox 1.x (ajv)', codec: new MessageCodec({ message: Small1 }, '/bench'), payload: Buffer.from(JSON.stringify({ type: 'say', text: 'hello there', n: 42 })) },
  { name: '10-member tagged union, TypeBox 1.x (ajv)', codec: new MessageCodec({ messages: members1 }, '/bench'), payload: Buffer.from(JSON.stringify({ type: 'kind9', id: 7, text: 'hello', at: 1700000000000 })) }
]

let sink: unknown
function rate (work: () => unknown): number {
  let count = 0
  const deadline = performance.now() + roundMs
  while (performance.now() < deadline) {
    for (let i = 0; i < 200; i++) sink = work()
    count += 200
  }
  return count / (roundMs / 1000)
}

/**
 * Bytes of heap `work` allocates per call: the growth of the heap over 100 calls, the
 * median of 200 batches (rare batches show less, with a scavenge in them, or more, with
 * code the JIT compiled meanwhile).
 */
function allocated (work: () => unknown): number {
  const growth = (calls: number): number => {
    const batches: number[] = []
    for (let batch = 0; batch < 200; batch++) {
      const before = getHeapStatistics().used_heap_size
      for (let i = 0; i < calls; i++) sink = work()
      batches.push(getHeapStatistics().used_heap_size - before)
    }
    return median(batches)
  }
  // What reading the statistics costs by itself, measured the same way.
  return (growth(100) - growth(0)) / 100
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

console.log(`# validation cost vs JSON.parse — ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}${quick ? ' (quick)' : ''}`)
console.log('| payload | JSON.parse msg/s | validated msg/s | validated / JSON.parse | JSON.parse B allocated / msg | validated B allocated / msg |')
console.log('|---|---:|---:|---:|---:|---:|')
for (const { name, codec, payload } of cases) {
  if (codec.decode(payload, false) instanceof InvalidMessage) throw new Error(`benchmark payload for "${name}" is invalid`)
  const parseRates: number[] = []
  const validatedRates: number[] = []
  rate(() => JSON.parse(payload.toString()))
  rate(() => codec.decode(payload, false))
  for (let round = 0; round < rounds; round++) {
    parseRates.push(rate(() => JSON.parse(payload.toString())))
    validatedRates.push(rate(() => codec.decode(payload, false)))
  }
  const parse = median(parseRates)
  const validated = median(validatedRates)
  const bytes = (work: () => unknown): string => Math.round(allocated(work)).toLocaleString('en')
  console.log(`| ${name} | ${Math.round(parse).toLocaleString('en')} | ${Math.round(validated).toLocaleString('en')} | ${(validated / parse).toFixed(2)} | ${bytes(() => JSON.parse(payload.toString()))} | ${bytes(() => codec.decode(payload, false))} |`)
}
void sink
