// What an open connection keeps of the request it was upgraded from. The handler is handed
// the request; the connection itself keeps its logger, and the request only where a route's
// own errorHandler or onInvalidMessage function will be handed it later. Measured with
// WeakRefs after GC, in a child process with --expose-gc.
import t from 'tap'
import { runFixture } from './helpers.js'

interface Outcome {
  idle: Record<string, { requests: number, raws: number }>
  closes: Record<string, number>
  handedOn: Array<{ route: string, id: string }>
  ids: Record<string, string[]>
  logged: Array<{ msg: string, reqId?: string }>
}

t.test('an idle connection keeps its request only for a route\'s own errorHandler or onInvalidMessage function', async (t) => {
  const perRoute = 20
  const { code, output } = await runFixture('request-retention.ts', [String(perRoute)], ['--expose-gc'])
  t.equal(code, 0, output)
  const outcome = JSON.parse(output.trim().split('\n').at(-1) as string) as Outcome
  t.same(outcome.idle.plain, { requests: 0, raws: 0 }, 'plain route: every Fastify request and IncomingMessage was collected while the connections stayed open')
  t.same(outcome.idle.errorHandler, { requests: perRoute, raws: perRoute }, 'route with an errorHandler: every request is kept, to be handed on')
  t.same(outcome.idle.onInvalidMessage, { requests: perRoute, raws: perRoute }, 'route with an onInvalidMessage function: every request is kept')

  t.same(outcome.closes, { plain: 1011, errorHandler: 4000, onInvalidMessage: 4001 }, 'the default errorHandler closed with 1011; the custom functions closed with their own codes')
  const handedOn = [...outcome.handedOn].sort((a, b) => a.route.localeCompare(b.route))
  t.same(handedOn, [
    { route: 'errorHandler', id: outcome.ids.errorHandler?.[0] },
    { route: 'onInvalidMessage', id: outcome.ids.onInvalidMessage?.[0] }
  ], 'each custom function was called once, with the request its connection was upgraded from')

  // The connection's log lines still carry the request's id once the request is gone.
  const plainIds = new Set(outcome.ids.plain)
  const failed = outcome.logged.filter((line) => line.msg === 'websocket handler failed')
  t.same(failed, [{ msg: 'websocket handler failed', reqId: outcome.ids.plain?.[0] }], 'the default errorHandler logged once, with the request id of the failed connection')
  const closedPlain = outcome.logged.filter((line) => line.msg === 'websocket closed' && plainIds.has(line.reqId ?? ''))
  t.equal(closedPlain.length, perRoute, 'every plain connection logged its close with its own request id')
})
