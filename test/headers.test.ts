// Pure token-list parsing: no server needed.
import t from 'tap'
import { chooseUpgrade, connectionRequestsUpgrade, protocolName, tokenList, webSocketHandshakeProblem } from '../lib/headers.js'

t.test('tokenList splits, trims, lower-cases and drops empty elements', async (t) => {
  t.same(tokenList(undefined), [])
  t.same(tokenList(''), [])
  t.same(tokenList('   '), [], 'one element, only whitespace')
  t.same(tokenList(' Upgrade '), ['upgrade'], 'one element (the common case)')
  t.same(tokenList(' Keep-Alive ,  Upgrade '), ['keep-alive', 'upgrade'])
  t.same(tokenList('a, , ,b,'), ['a', 'b'])
  t.same(tokenList(['a', 'B, c']), ['a', 'b', 'c'])
})

t.test('protocolName drops the version suffix', async (t) => {
  t.equal(protocolName('websocket/13'), 'websocket')
  t.equal(protocolName('websocket'), 'websocket')
  t.equal(protocolName('h2c'), 'h2c')
})

t.test('Connection must name the upgrade option', async (t) => {
  t.ok(connectionRequestsUpgrade({ connection: 'keep-alive, Upgrade' }))
  t.ok(connectionRequestsUpgrade({ connection: 'UPGRADE' }))
  t.notOk(connectionRequestsUpgrade({ connection: 'keep-alive' }))
  t.notOk(connectionRequestsUpgrade({ connection: 'upgraded' }))
  t.notOk(connectionRequestsUpgrade({}))
})

t.test('chooseUpgrade: websocket with or without a version, in the client order', async (t) => {
  const none = new Map<string, string>()
  t.equal(chooseUpgrade({ upgrade: 'websocket' }, true, none), 'websocket')
  t.equal(chooseUpgrade({ upgrade: 'WebSocket' }, true, none), 'websocket')
  t.equal(chooseUpgrade({ upgrade: 'foo/2, websocket/13' }, true, none), 'websocket')
  t.equal(chooseUpgrade({ upgrade: 'h2c' }, true, none), undefined)
  t.equal(chooseUpgrade({ upgrade: 'websockets' }, true, none), undefined)
  t.equal(chooseUpgrade({}, true, none), undefined)
  t.equal(chooseUpgrade({ upgrade: 'websocket' }, false, none), undefined, 'not on a route without WebSocket')
})

t.test('chooseUpgrade: other protocols match name/version exactly, case-insensitively, first offered wins', async (t) => {
  const others = new Map([['line/1', 'Line/1'], ['echo', 'echo']])
  t.equal(chooseUpgrade({ upgrade: 'LINE/1' }, false, others), 'Line/1', 'answers with the route spelling')
  t.equal(chooseUpgrade({ upgrade: 'line/2, line' }, false, others), undefined, 'versions must match exactly')
  t.equal(chooseUpgrade({ upgrade: 'echo, line/1' }, true, others), 'echo', 'client preference order')
  t.equal(chooseUpgrade({ upgrade: 'line/1, websocket' }, true, others), 'Line/1')
  t.equal(chooseUpgrade({ upgrade: 'websocket, line/1' }, true, others), 'websocket')
  t.equal(chooseUpgrade({ upgrade: ' , echo ,' }, false, others), 'echo', 'empty elements are skipped')
})

t.test('handshake problems: key and version', async (t) => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ=='
  t.equal(webSocketHandshakeProblem({ 'sec-websocket-key': key, 'sec-websocket-version': '13' }), undefined)
  t.equal(webSocketHandshakeProblem({ 'sec-websocket-key': key, 'sec-websocket-version': ' 13 ' }), undefined)
  t.same(webSocketHandshakeProblem({ 'sec-websocket-version': '13' }), { kind: 'malformed', detail: 'missing Sec-WebSocket-Key' })
  t.same(webSocketHandshakeProblem({ 'sec-websocket-key': 'short==', 'sec-websocket-version': '13' }), { kind: 'malformed', detail: 'malformed Sec-WebSocket-Key' })
  t.same(webSocketHandshakeProblem({ 'sec-websocket-key': `${key}, ${key}`, 'sec-websocket-version': '13' }), { kind: 'malformed', detail: 'malformed Sec-WebSocket-Key' })
  t.same(webSocketHandshakeProblem({ 'sec-websocket-key': key }), { kind: 'malformed', detail: 'missing Sec-WebSocket-Version' })
  t.same(webSocketHandshakeProblem({ 'sec-websocket-key': key, 'sec-websocket-version': '8' }), { kind: 'version', detail: '8' })
})
