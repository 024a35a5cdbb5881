// The pure parsers behind negotiation: Sec-WebSocket-Protocol, Sec-WebSocket-Extensions,
// origin checks, and what test/headers.test.ts leaves out of tokenList and protocolName.
// No server: every input is a header value as Node hands it over.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { formatExtensions, parseExtensions } from '../lib/extensions.js'
import { protocolName, tokenList } from '../lib/headers.js'
import { originCheck, type AllowedOrigins } from '../lib/origin.js'
import { parseSubprotocols, selectSubprotocol } from '../lib/subprotocol.js'

// originCheck only hands the request on to a function; nothing else reads it.
const request = { id: 'req-1', query: {} } as unknown as FastifyRequest

t.test('parseSubprotocols', async (t) => {
  t.test('absent or empty: nothing offered', async (t) => {
    t.strictSame(parseSubprotocols(undefined), [])
    t.strictSame(parseSubprotocols(''), [])
    t.strictSame(parseSubprotocols(' \t '), [])
    t.strictSame(parseSubprotocols(','), [])
    t.strictSame(parseSubprotocols(' , ,\t,'), [])
  })

  t.test('the client order is kept, whitespace around elements is dropped', async (t) => {
    t.strictSame(parseSubprotocols('chat'), ['chat'])
    t.strictSame(parseSubprotocols('v2.chat, v1.chat'), ['v2.chat', 'v1.chat'])
    t.strictSame(parseSubprotocols('a,b'), ['a', 'b'])
    t.strictSame(parseSubprotocols('  a  ,   b  '), ['a', 'b'])
    t.strictSame(parseSubprotocols('\ta\t,\tb\t'), ['a', 'b'], 'tabs')
    t.strictSame(parseSubprotocols(' \t a \t , \t b'), ['a', 'b'], 'mixed spaces and tabs')
  })

  t.test('empty list elements are skipped (RFC 9110 section 5.6.1)', async (t) => {
    t.strictSame(parseSubprotocols('a, , b'), ['a', 'b'])
    t.strictSame(parseSubprotocols('a,,b'), ['a', 'b'])
    t.strictSame(parseSubprotocols(', a'), ['a'], 'leading comma')
    t.strictSame(parseSubprotocols('a ,'), ['a'], 'trailing comma')
    t.strictSame(parseSubprotocols(',,a,,b,,'), ['a', 'b'])
  })

  t.test('names are case-sensitive', async (t) => {
    t.strictSame(parseSubprotocols('Chat'), ['Chat'], 'the spelling is kept')
    t.strictSame(parseSubprotocols('Chat, chat, CHAT'), ['Chat', 'chat', 'CHAT'], 'different case is a different protocol, not a duplicate')
  })

  t.test('a duplicated protocol makes the header malformed', async (t) => {
    t.equal(parseSubprotocols('a, a'), undefined)
    t.equal(parseSubprotocols('a, b, a'), undefined)
    t.equal(parseSubprotocols('a,a'), undefined)
    t.equal(parseSubprotocols(' a ,\ta'), undefined, 'whitespace does not hide a duplicate')
    t.equal(parseSubprotocols('a, , a'), undefined, 'nor an empty element between them')
  })

  t.test('every element must be a token', async (t) => {
    for (const value of ['a b', 'a\tb', 'a;b', '"a"', 'a/b', 'a=b', 'a:b', 'a@b', '(a)', '[a]', '{a}', 'a?', 'a\\b', 'é', 'chat, a b', 'a b, chat', 'good, "bad"']) {
      t.equal(parseSubprotocols(value), undefined, JSON.stringify(value))
    }
  })

  t.test('every RFC 9110 token character is allowed', async (t) => {
    const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    t.strictSame(parseSubprotocols(tchars), [tchars])
    t.strictSame(parseSubprotocols('graphql-transport-ws, mqtt, v10.stomp'), ['graphql-transport-ws', 'mqtt', 'v10.stomp'])
  })
})

t.test('selectSubprotocol', async (t) => {
  t.test('the server preference order wins over the client order', async (t) => {
    t.equal(selectSubprotocol(['v1', 'v2'], ['v2', 'v1']), 'v2')
    t.equal(selectSubprotocol(['v2', 'v1'], ['v1', 'v2']), 'v1')
    t.equal(selectSubprotocol(['a', 'b', 'c'], ['x', 'c', 'b']), 'c', 'the first supported one that was offered')
    t.equal(selectSubprotocol(['only'], ['other', 'only']), 'only')
  })

  t.test('no overlap: nothing selected', async (t) => {
    t.equal(selectSubprotocol(['a', 'b'], ['c', 'd']), undefined)
    t.equal(selectSubprotocol([], ['a']), undefined, 'nothing offered')
    t.equal(selectSubprotocol(['a'], []), undefined, 'nothing supported')
    t.equal(selectSubprotocol([], []), undefined)
  })

  t.test('matching is case-sensitive', async (t) => {
    t.equal(selectSubprotocol(['Chat'], ['chat']), undefined)
    t.equal(selectSubprotocol(['chat', 'Chat'], ['Chat']), 'Chat')
  })

  t.test('works on what parseSubprotocols returns', async (t) => {
    const offered = parseSubprotocols('v1.chat, \t v3.chat ,, v2.chat')
    t.strictSame(offered, ['v1.chat', 'v3.chat', 'v2.chat'])
    t.equal(selectSubprotocol(offered ?? [], ['v3.chat', 'v2.chat']), 'v3.chat')
  })
})

t.test('parseExtensions', async (t) => {
  t.test('absent or empty: no offers', async (t) => {
    t.strictSame(parseExtensions(undefined), [])
    t.strictSame(parseExtensions(''), [])
    t.strictSame(parseExtensions(' \t '), [])
    t.strictSame(parseExtensions(','), [])
    t.strictSame(parseExtensions(' , ,'), [])
  })

  t.test('bare extensions, in order; the same extension may be offered twice', async (t) => {
    t.strictSame(parseExtensions('permessage-deflate'), [{ name: 'permessage-deflate', params: [] }])
    t.strictSame(parseExtensions('x-foo, x-bar'), [{ name: 'x-foo', params: [] }, { name: 'x-bar', params: [] }])
    t.strictSame(parseExtensions('Permessage-Deflate'), [{ name: 'Permessage-Deflate', params: [] }], 'the spelling is kept')
    t.strictSame(parseExtensions('permessage-deflate; client_max_window_bits=10, permessage-deflate'), [
      { name: 'permessage-deflate', params: [['client_max_window_bits', '10']] },
      { name: 'permessage-deflate', params: [] }
    ], 'alternative configurations of one extension (RFC 7692 section 5)')
  })

  t.test('bare params are true, valued params keep their value', async (t) => {
    t.strictSame(parseExtensions('permessage-deflate; client_max_window_bits'), [
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] }
    ])
    t.strictSame(parseExtensions('permessage-deflate;client_max_window_bits=15'), [
      { name: 'permessage-deflate', params: [['client_max_window_bits', '15']] }
    ])
    t.strictSame(parseExtensions('x; a=1; b; a=2'), [
      { name: 'x', params: [['a', '1'], ['b', true], ['a', '2']] }
    ], 'params keep their order, repeats included (judging them is the extension\'s job)')
    t.strictSame(parseExtensions("x; v=!#$%&'*+-.^_`|~09azAZ"), [
      { name: 'x', params: [['v', "!#$%&'*+-.^_`|~09azAZ"]] }
    ], 'every token character in a value')
  })

  t.test('several extensions with several params', async (t) => {
    t.strictSame(parseExtensions('permessage-deflate; client_max_window_bits; server_no_context_takeover, x-foo; a=1'), [
      { name: 'permessage-deflate', params: [['client_max_window_bits', true], ['server_no_context_takeover', true]] },
      { name: 'x-foo', params: [['a', '1']] }
    ])
    t.strictSame(parseExtensions('a; b="1"; c, d; e; f=2, g'), [
      { name: 'a', params: [['b', '1'], ['c', true]] },
      { name: 'd', params: [['e', true], ['f', '2']] },
      { name: 'g', params: [] }
    ])
  })

  t.test('spaces and tabs around separators', async (t) => {
    const expected = [
      { name: 'permessage-deflate', params: [['client_max_window_bits', '10']] },
      { name: 'x', params: [['y', true]] }
    ]
    t.strictSame(parseExtensions('permessage-deflate ; client_max_window_bits=10 , x ; y'), expected, 'spaces')
    t.strictSame(parseExtensions('permessage-deflate\t;\tclient_max_window_bits=10\t,\tx\t;\ty'), expected, 'tabs')
    t.strictSame(parseExtensions(' \tpermessage-deflate \t; \tclient_max_window_bits \t= \t"10" \t, \t x;y \t'), expected, 'both, around "=" too')
  })

  t.test('empty list elements are skipped', async (t) => {
    const ab = [{ name: 'a', params: [] }, { name: 'b', params: [] }]
    t.strictSame(parseExtensions('a,,b'), ab)
    t.strictSame(parseExtensions('a, , b'), ab)
    t.strictSame(parseExtensions(', a, b'), ab, 'leading comma')
    t.strictSame(parseExtensions('a, b ,'), ab, 'trailing comma')
    t.strictSame(parseExtensions('a; p=1,, b'), [{ name: 'a', params: [['p', '1']] }, { name: 'b', params: [] }], 'after params')
  })

  t.test('quoted-string values: unescaped, and then they must be tokens', async (t) => {
    t.strictSame(parseExtensions('x; a="10"'), [{ name: 'x', params: [['a', '10']] }])
    t.strictSame(parseExtensions('x; a="1\\0"'), [{ name: 'x', params: [['a', '10']] }], 'a quoted-pair of a token character')
    t.strictSame(parseExtensions('x; a="\\a\\b"'), [{ name: 'x', params: [['a', 'ab']] }])
    t.strictSame(parseExtensions('x; a="1", y; b="2"'), [
      { name: 'x', params: [['a', '1']] },
      { name: 'y', params: [['b', '2']] }
    ])
    t.equal(parseExtensions('x; a="a b"'), undefined, 'a space inside: not a token once unescaped')
    t.equal(parseExtensions('x; a="a\tb"'), undefined, 'a tab inside')
    t.equal(parseExtensions('x; a="a,b"'), undefined, 'a comma inside')
    t.equal(parseExtensions('x; a="a;b"'), undefined, 'a semicolon inside')
    t.equal(parseExtensions('x; a="\\"a"'), undefined, 'an escaped quote unescapes to a non-token')
    t.equal(parseExtensions('x; a="a\\\\"'), undefined, 'an escaped backslash unescapes to a non-token')
    t.equal(parseExtensions('x; a=""'), undefined, 'empty: not a token')
    t.equal(parseExtensions('x; a="10'), undefined, 'unterminated')
    t.equal(parseExtensions('x; a="10, y'), undefined, 'unterminated, the rest swallowed')
    t.equal(parseExtensions('x; a="10\\'), undefined, 'a backslash as the very last character')
    t.equal(parseExtensions('x; a="10\\"'), undefined, 'the closing quote escaped away')
    t.equal(parseExtensions('x; a="'), undefined, 'a lone opening quote')
    t.equal(parseExtensions('x; a="1"2'), undefined, 'text right after the closing quote')
    t.equal(parseExtensions('x; a="1" 2'), undefined)
    t.equal(parseExtensions('x; a=1"2"'), undefined, 'a quote inside a token value')
  })

  t.test('malformed headers', async (t) => {
    const malformed = [
      ';a', // no extension name
      'a;', // no param after ";"
      'a; ', // the same, with whitespace
      'a;;b', // empty param
      'a;=1', // value without a param name
      'a; b=', // name and "=" without a value
      'a; b= ,c',
      'a; b=1;', // trailing ";"
      'a b', // two tokens in one element
      'a; b c', // two tokens in one param
      'a; b=1 2', // two tokens in one value
      'a; b=1=2',
      'a=1', // a value at extension level
      '=a',
      '"a"', // a quoted extension name
      'a; "b"', // a quoted param name
      'a/b', // not a token character
      'a; b/c',
      'a; b=c/d',
      'é',
      'a, b c'
    ]
    for (const value of malformed) t.equal(parseExtensions(value), undefined, JSON.stringify(value))
  })
})

t.test('formatExtensions writes parsed offers back in the one form ws parses', async (t) => {
  t.equal(formatExtensions([]), '')
  const canonical = 'permessage-deflate; client_max_window_bits; server_no_context_takeover, x-foo; a=1'
  const offers = parseExtensions(canonical) ?? []
  t.equal(formatExtensions(offers), canonical, 'canonical input comes back unchanged')
  t.strictSame(parseExtensions(formatExtensions(offers)), offers, 'and parses to the same offers')
  const sloppy = parseExtensions(' , permessage-deflate\t;client_max_window_bits = "10" ,, x ;y , ') ?? []
  t.equal(formatExtensions(sloppy), 'permessage-deflate; client_max_window_bits=10, x; y', 'no empty elements, no quotes, one space after each separator')
  t.equal(formatExtensions([{ name: 'a', params: [] }, { name: 'a', params: [] }]), 'a, a')
})

t.test('originCheck', async (t) => {
  t.test('a list: exact origins, scheme and host case-insensitive', async (t) => {
    const check = originCheck(['https://app.example', 'http://localhost:3000'], 'allowedOrigins')
    t.ok(check('https://app.example', request))
    t.ok(check('http://localhost:3000', request))
    t.ok(check('HTTPS://APP.EXAMPLE', request), 'upper-case scheme and host')
    t.ok(check('https://App.Example', request))
    t.notOk(check('https://app.example/', request), 'a trailing slash is not the same origin')
    t.notOk(check('http://app.example', request), 'another scheme')
    t.notOk(check('https://app.example:8443', request), 'another port')
    t.notOk(check('http://localhost', request), 'the port is part of the origin')
    t.notOk(check('https://evil.example', request))
    t.notOk(check('https://app.example.evil', request), 'no prefix matching')
    t.notOk(check('https://sub.app.example', request), 'no subdomain matching')
    t.notOk(check('null', request), 'the opaque origin "null" unless listed')
    t.notOk(check('', request))
    t.ok(check(undefined, request), 'no Origin header: not a browser, passes')
  })

  t.test('the allowed origins themselves may use any case', async (t) => {
    const check = originCheck(['HTTPS://App.Example'], 'allowedOrigins')
    t.ok(check('https://app.example', request))
    t.ok(check('https://APP.example', request))
  })

  t.test('an empty list refuses every browser', async (t) => {
    const check = originCheck([], 'allowedOrigins')
    t.notOk(check('https://app.example', request))
    t.ok(check(undefined, request))
  })

  t.test('a single string is a list of one', async (t) => {
    const check = originCheck('https://app.example', 'allowedOrigins')
    t.ok(check('https://app.example', request))
    t.ok(check('https://APP.example', request))
    t.notOk(check('https://app.example/', request))
    t.notOk(check('https://other.example', request))
    t.ok(check(undefined, request))
  })

  t.test('a RegExp is tested against the Origin header as sent', async (t) => {
    const check = originCheck(/^https:\/\/([a-z]+\.)?trusted\.example$/, 'allowedOrigins')
    t.ok(check('https://trusted.example', request))
    t.ok(check('https://a.trusted.example', request))
    t.notOk(check('https://trusted.example.evil', request))
    t.notOk(check('http://trusted.example', request))
    t.notOk(check('https://A.trusted.example', request), 'case is the pattern\'s business')
    t.ok(check(undefined, request))
    t.ok(originCheck(/^https:\/\/trusted\.example$/i, 'allowedOrigins')('HTTPS://TRUSTED.EXAMPLE', request), 'with the i flag')
  })

  t.test('a global or sticky RegExp answers the same every time', async (t) => {
    // RegExp#test on such a pattern carries lastIndex over between calls, which would
    // refuse every other handshake from an allowed origin.
    for (const pattern of [/^https:\/\/app\.example$/g, /https:\/\/app\.example/y, /^https:\/\/app\.example$/giy]) {
      const check = originCheck(pattern, 'allowedOrigins')
      const answers = [1, 2, 3, 4].map(() => check('https://app.example', request))
      t.strictSame(answers, [true, true, true, true], String(pattern))
      t.equal(pattern.lastIndex, 0, 'the caller\'s RegExp is left alone')
    }
    t.ok(originCheck(/^https:\/\/app\.example$/gi, 'allowedOrigins')('HTTPS://APP.EXAMPLE', request), 'other flags are kept')
  })

  t.test('a function gets the origin and the request', async (t) => {
    const calls: Array<[string, FastifyRequest]> = []
    const check = originCheck((origin, received) => {
      calls.push([origin, received])
      return origin.endsWith('.trusted.example')
    }, 'allowedOrigins')
    t.ok(check('https://a.trusted.example', request))
    t.notOk(check('https://evil.example', request))
    t.equal(calls.length, 2)
    t.equal(calls[0]?.[0], 'https://a.trusted.example')
    t.equal(calls[0]?.[1], request, 'the very request object')
    t.equal(calls[1]?.[0], 'https://evil.example', 'the origin as sent, not lower-cased')
    t.ok(check(undefined, request), 'no Origin header passes')
    t.equal(calls.length, 2, 'without an Origin the function is not called')
  })

  t.test('a function that allows nothing still lets non-browser clients through', async (t) => {
    const check = originCheck(() => false, 'allowedOrigins')
    t.notOk(check('https://app.example', request))
    t.ok(check(undefined, request))
  })

  t.test('anything else is refused at registration', async (t) => {
    const invalid: unknown[] = [42, true, null, {}, { origin: 'https://a' }, ['https://a', 1], ['https://a', null], [/a/], [['https://a']]]
    for (const value of invalid) {
      t.throws(() => originCheck(value as AllowedOrigins, 'allowedOrigins (route /ws)'), {
        code: 'FST_UPGRADE_INVALID_OPTION',
        statusCode: 500,
        message: /allowedOrigins \(route \/ws\)/
      }, String(JSON.stringify(value) ?? value))
    }
    let error: unknown
    try { originCheck(42 as unknown as AllowedOrigins, 'x') } catch (caught) { error = caught }
    t.type(error, TypeError, 'a TypeError, like the plugin\'s other registration errors')
  })
})

t.test('tokenList: what headers.test.ts does not cover', async (t) => {
  t.strictSame(tokenList('\tUpgrade\t'), ['upgrade'], 'tabs are whitespace too')
  t.strictSame(tokenList('keep-alive,\tUpgrade'), ['keep-alive', 'upgrade'])
  t.strictSame(tokenList(',Upgrade'), ['upgrade'], 'leading comma')
  t.strictSame(tokenList(',,,'), [], 'only empty elements')
  t.strictSame(tokenList([]), [], 'no header lines')
  t.strictSame(tokenList(['', ' ', '\t']), [], 'only empty header lines')
  t.strictSame(tokenList(['Upgrade', '', 'Keep-Alive']), ['upgrade', 'keep-alive'], 'an empty line among others')
  t.strictSame(tokenList('UPGRADE, Upgrade, upgrade'), ['upgrade', 'upgrade', 'upgrade'], 'case-insensitive, repeats kept')
  t.strictSame(tokenList('WebSocket/13, H2C, Line/1'), ['websocket/13', 'h2c', 'line/1'], 'Upgrade tokens keep their version, lower-cased')
  // Elements are not checked for token syntax: a malformed one simply matches nothing.
  t.strictSame(tokenList('up grade, upgrade'), ['up grade', 'upgrade'])
})

t.test('protocolName: what headers.test.ts does not cover', async (t) => {
  t.equal(protocolName('line/1'), 'line')
  t.equal(protocolName('websocket/'), 'websocket', 'an empty version')
  t.equal(protocolName('/13'), '', 'no name')
  t.equal(protocolName('a/b/c'), 'a', 'up to the first slash')
  t.equal(protocolName('WebSocket/13'), 'WebSocket', 'no case change: tokenList lower-cases first')
  t.equal(protocolName(''), '')
  t.strictSame(tokenList('WebSocket/13, websocket').map(protocolName), ['websocket', 'websocket'])
})
