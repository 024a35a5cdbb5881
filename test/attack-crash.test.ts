// Contract point 1: a plain GET and a WebSocket upgrade pipelined in one TCP write, then a
// reset (socket.resetAndDestroy()) at any moment, must never crash the process. Node
// removes its own 'error' listener from the socket when it emits 'upgrade', while the
// first request's response may still be writing on it: an ECONNRESET nobody listens to is
// thrown. The attacks run in a child process (test/fixtures/pipelined-resets.ts) so that a
// crash fails the test instead of the runner.
import t from 'tap'
import { runFixture } from './helpers.js'

interface Result {
  mode: string
  iterations: number
  seconds: number
  /** Connections per reset moment, and how many were reset at that moment (not at the 2 s give-up). */
  attempts: Record<string, number>
  reached: Record<string, number>
  /** Answers other than the route's status followed by a 101 (or a wrong echo). */
  wrong: number
  plain: { status: number, body: string }
  echo: string
  openSockets: number
  openWebSockets: number
}

/** The fixture's JSON line (its last line of output), or undefined if it died before printing it. */
function lastJson (output: string): Result | undefined {
  try {
    return JSON.parse(output.trim().split('\n').at(-1) as string) as Result
  } catch {
    return undefined
  }
}

const steps = ['write', 'immediate', 'timer', 'bytes', 'response', '101', 'frame', 'echo']

t.test('960 pipelined GET + upgrade writes reset at every stage: the server survives and still serves HTTP and WebSocket', async (t) => {
  const { code, output } = await runFixture('pipelined-resets.ts', ['loop', '960'], [], 15_000)
  t.equal(code, 0, `the child exits 0 (no crash):\n${output}`)
  t.notMatch(output, /ECONNRESET|Unhandled 'error' event/, 'no unhandled socket error')
  const result = lastJson(output)
  if (result === undefined) return t.fail('the child printed no result line')
  t.equal(result.iterations, 960)
  t.same(Object.keys(result.attempts).sort(), [...steps].sort(), 'every reset moment was tried')
  for (const step of steps) {
    // 960 = 8 moments x 3 paths x 40.
    t.equal(result.attempts[step], 120, `${step}: 120 connections`)
    t.equal(result.reached[step], 120, `${step}: every reset happened at that moment (the answers it waits for came)`)
  }
  t.equal(result.wrong, 0, 'the plain request got its own status (404 or 200) and then the upgrade got 101 (and the echo)')
  t.same(result.plain, { status: 200, body: 'plain' }, 'a plain HTTP GET is still answered')
  t.equal(result.echo, 'still alive', 'a ws client still completes the handshake and gets its echo')
  t.equal(result.openSockets, 0, 'no reset connection is left open on the server')
  t.equal(result.openWebSockets, 0, 'no WebSocket connection is left open')
  t.comment(`${result.iterations} attacks in ${result.seconds} s`)
})

t.test('the issue\'s attack: GET /nope (404) + upgrade in one write, then resetAndDestroy(): no crash', async (t) => {
  const { code, output } = await runFixture('pipelined-resets.ts', ['exact', '20'], [], 10_000)
  t.equal(code, 0, `the child exits 0 (no crash):\n${output}`)
  t.notMatch(output, /ECONNRESET|Unhandled 'error' event/, 'no unhandled socket error')
  const result = lastJson(output)
  if (result === undefined) return t.fail('the child printed no result line')
  t.equal(result.attempts.write, 20, 'all 20 attacks were sent')
  t.same(result.plain, { status: 200, body: 'plain' }, 'a plain HTTP GET is still answered')
  t.equal(result.echo, 'still alive', 'a ws client still completes the handshake and gets its echo')
  t.equal(result.openSockets, 0, 'no reset connection is left open on the server')
})
