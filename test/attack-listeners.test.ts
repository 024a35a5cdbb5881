// Contract point 2: a handler's 'close', 'ping', 'pong', 'error' or 'drain' listener, or a
// send callback, that throws never escapes. It reaches the errorHandler (the plugin's custom one, or the
// default that logs 'websocket handler failed' at error level and closes with 1011 if the
// connection is still open), the process lives on, and other connections keep working.
// On a server where the exception escapes the process dies, so the events run in a child
// process (test/fixtures/listener-throws.ts), all in one (a child costs seconds to start).
// If it dies, the first event without a result is the one that killed it, and the child
// is started again for the events after it, so every event gets its own verdict.
import t from 'tap'
import { runFixture } from './helpers.js'
import type { LifecycleEvent, Result } from './fixtures/listener-outcome.js'

// What the client sees, with the custom handler (closes 4000 if still open) and with the
// default one (1011 if still open). 'close': the client closed first, its 1000 'bye' is
// echoed and nothing follows. 'error': ws has already closed with 1002 before emitting it.
const expected: Record<LifecycleEvent, { custom: { code: number, reason: string }, default: { code: number, reason: string } }> = {
  close: { custom: { code: 1000, reason: 'bye' }, default: { code: 1000, reason: 'bye' } },
  ping: { custom: { code: 4000, reason: 'custom handler' }, default: { code: 1011, reason: 'internal error' } },
  pong: { custom: { code: 4000, reason: 'custom handler' }, default: { code: 1011, reason: 'internal error' } },
  error: { custom: { code: 1002, reason: '' }, default: { code: 1002, reason: '' } },
  drain: { custom: { code: 4000, reason: 'custom handler' }, default: { code: 1011, reason: 'internal error' } },
  send: { custom: { code: 4000, reason: 'custom handler' }, default: { code: 1011, reason: 'internal error' } }
}

const events = Object.keys(expected) as LifecycleEvent[]

/** Per event: its result, or how the child ended when that event was its last. */
type Verdict = { result: Result } | { code: number | null, output: string }

async function runEvents (): Promise<Map<LifecycleEvent, Verdict>> {
  const verdicts = new Map<LifecycleEvent, Verdict>()
  let pending = events
  while (pending.length > 0) {
    const { code, output } = await runFixture('listener-throws.ts', pending, [], 15_000)
      .catch((error: unknown) => ({ code: null, output: (error as Error).message }))
    for (const line of output.split('\n')) {
      if (!line.startsWith('{"event"')) continue
      const result = JSON.parse(line) as Result
      verdicts.set(result.event, { result })
    }
    const rest = pending.filter((event) => !verdicts.has(event))
    const [culprit] = rest
    if (culprit === undefined) {
      // Every event reported; a crash after that is blamed on the last one.
      const last = pending.at(-1)
      if (code !== 0 && last !== undefined) verdicts.set(last, { code, output })
      break
    }
    verdicts.set(culprit, { code, output })
    pending = rest.slice(1)
  }
  return verdicts
}

// One run for all subtests; a rejection becomes a verdict, never an unhandled rejection.
const verdicts = runEvents()

for (const event of events) {
  t.test(`a '${event}' listener that throws reaches the errorHandler; the process and other connections live on`, async (t) => {
    const verdict = (await verdicts).get(event)
    if (verdict === undefined || !('result' in verdict)) {
      t.fail(`the server process died (or hung) on the throwing '${event}' listener: exit code ${String(verdict?.code)}\n${verdict?.output ?? ''}`)
      return
    }
    t.pass(`the server process survived the throwing '${event}' listener`)
    const result = verdict.result
    const message = `${event} listener failed`

    const custom = result.custom
    t.same(custom.problems, [], 'custom errorHandler: every step happened in time')
    t.equal(custom.thrown, 1, 'the listener was set up once')
    t.same(custom.handled, [{ sameError: true, sameSocket: true, sameRequest: true }],
      'the custom errorHandler was called exactly once, with the thrown error, the handler\'s socket and its request')
    t.same(custom.failedLines, [], 'with a custom errorHandler the default does not run (no "websocket handler failed" line)')
    t.same(custom.clientClose, expected[event].custom, 'the close the client saw (custom handler)')
    t.equal(custom.echo, 'still serving', 'another connection on the same server echoes afterwards')

    const fallback = result.default
    t.same(fallback.problems, [], 'default errorHandler: every step happened in time')
    t.same(fallback.failedLines, [{ level: 50, msg: 'websocket handler failed', err: message, sameReqId: true }],
      'the default logs the error once, at error level (50), through the request\'s logger')
    t.same(fallback.clientClose, expected[event].default,
      event === 'close' || event === 'error' ? 'already closing or closed: the default only logs' : 'the default closes an open connection with 1011')
    t.equal(fallback.echo, 'still serving', 'another connection on the same server echoes afterwards')
  })
}
