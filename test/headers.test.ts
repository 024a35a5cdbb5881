// Pure token-list parsing: no server needed.
import t from 'tap'
import { connectionRequestsUpgrade, protocolName, tokenList, upgradeOffersWebSocket, webSocketHandshakeProblem } from '../lib/headers.js'

t.test('tokenList splits, trims, lower-cases and drops empty elements', async (t) => {
  t.same(tokenList(undefined), [])
  t.same(tokenList(''), [])
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

t.test('Upgrade must offer websocket, with or without a version', async (t) => {
  t.ok(upgradeOffersWebSocket({ upgrade: 'websocket' }))
  t.ok(upgradeOffersWebSocket({ upgrade: 'WebSocket' }))
  t.ok(upgradeOffersWebSocket({ upgrade: 'foo/2, websocket/13' }))
  t.notOk(upgradeOffersWebSocket({ upgrade: 'h2c' }))
  t.notOk(upgradeOffersWebSocket({ upgrade: 'websockets' }))
  t.notOk(upgradeOffersWebSocket({}))
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
