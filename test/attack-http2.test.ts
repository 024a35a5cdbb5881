// Hostile HTTP/2 clients against the extended CONNECT path (test/fixtures/http2-attacks.ts,
// in a child process so that a crash fails the test instead of the runner): a CONNECT
// flood on one session then its destruction, streams reset while their hooks wait, right
// after their request or their 200, and in the middle of a frame, CONNECTs without
// :protocol or with an unknown one, and hooks that never finish. Nothing may crash, and
// nothing may stay open: no WebSocket, no server stream, nothing app.close() waits for.
import t from 'tap'
import { runFixture } from './helpers.js'

interface Result {
  flood: Record<string, number[]>
  resetInHooks: { open: number, streams: number }
  resets: Record<string, number>
  deadline: number
  echo: { status: number, echo: string }
  open: number
  streams: number
  rejected: Record<string, number>
  closed: boolean
}

t.test('HTTP/2 attacks: the server survives, answers as it should, and lets everything go', async (t) => {
  const { code, output } = await runFixture('http2-attacks.ts', [], [], 40_000)
  t.equal(code, 0, `the child exits 0 (no crash):\n${output}`)
  t.notMatch(output, /Unhandled 'error' event|ERR_HTTP2/, 'no unhandled stream error')
  let result: Result
  try {
    result = JSON.parse(output.trim().split('\n').at(-1) as string) as Result
  } catch {
    return t.fail(`the child printed no result line:\n${output}`)
  }
  t.same(result.flood, { '/ws': [200], '/nope': [404], tunnel: [501], other: [501] }, '400 CONNECTs on one session: each kind got its one answer')
  t.same(result.resetInHooks, { open: 0, streams: 0 }, 'streams reset while their hooks wait: nothing opened when the hooks go on')
  t.same(result.resets, { 'response 200': 20, 'half a frame 200': 20 }, 'streams reset after their 200 and mid-frame')
  t.equal(result.deadline, 503, 'hooks that never finish: 503 at the handshake deadline')
  t.same(result.echo, { status: 200, echo: 'still alive' }, 'a new client still gets its echo')
  t.equal(result.open, 0, 'no WebSocket left open')
  t.equal(result.streams, 0, 'no server stream left open')
  t.match(result.rejected, { FST_UPGRADE_CONNECT_UNSUPPORTED: 160, 'status 404': 80 }, 'refusals counted')
  // The deadline's 503, and the flood's hanging CONNECTs that reached theirs before the session went.
  t.ok(result.rejected.FST_UPGRADE_UNAVAILABLE !== undefined && result.rejected.FST_UPGRADE_UNAVAILABLE >= 1 && result.rejected.FST_UPGRADE_UNAVAILABLE <= 81, `${result.rejected.FST_UPGRADE_UNAVAILABLE ?? 0} handshake deadlines counted`)
  t.ok(result.closed, 'app.close() found nothing left to wait for')
})
