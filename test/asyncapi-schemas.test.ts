// Schemas as the AsyncAPI document holds them (lib/asyncapi-schemas.ts): plain JSON, and every
// reference a pointer into the document. The routes' documents are in test/asyncapi.test.ts;
// here, the corners a route rarely reaches.
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { pointer, toJsonSchema, type SchemaScope } from '../lib/asyncapi-schemas.js'

/** Shared schemas by `$id`, placed at components/schemas/<id> (the document builder's job). */
function scope (shared: Record<string, object> = {}): SchemaScope & { placed: string[] } {
  const placed: string[] = []
  return {
    placed,
    shared: (id) => shared[id],
    place: (_schema, id) => {
      placed.push(id)
      return ['components', 'schemas', id]
    }
  }
}

const at = ['channels', 'c', 'messages', 'm', 'payload']
const here = (path: string): { $ref: string } => ({ $ref: `#/channels/c/messages/m/payload${path}` })

t.test('plain JSON: no symbols, ~ keys, functions or undefined; data copied as JSON', async (t) => {
  const schema = Object.assign(Type.Object({ a: Type.String() }, { default: { n: 10n, when: new Date(0) }, examples: [{ a: 'x' }] }), {
    '~kind': 'Object',
    check: () => true,
    marker: Symbol('marker'),
    missing: undefined,
    'x-vendor': { nested: [1, 'two'] }
  })
  t.same(toJsonSchema(schema, at, scope()), {
    default: { n: '10', when: '1970-01-01T00:00:00.000Z' },
    examples: [{ a: 'x' }],
    type: 'object',
    required: ['a'],
    properties: { a: { type: 'string' } },
    'x-vendor': { nested: [1, 'two'] }
  })
  t.equal(toJsonSchema(true, at, scope()), true, 'a boolean schema as it is')
  t.same(toJsonSchema('string', at, scope()), {}, 'a non-schema: anything')
  t.same(toJsonSchema(null, at, scope()), {})
})

t.test('types JSON cannot carry are marked, with their title and description', async (t) => {
  t.same(toJsonSchema({
    type: 'object',
    properties: {
      when: Type.Date({ description: 'A date' }),
      bytes: Type.Uint8Array({ title: 'Bytes' }),
      either: { type: ['string', 'bigint'] },
      nothing: null
    }
  }, at, scope()), {
    type: 'object',
    properties: {
      when: { 'x-js-type': 'Date', description: 'A date' },
      bytes: { 'x-js-type': 'Uint8Array', title: 'Bytes' },
      either: { 'x-js-type': 'string,bigint' },
      nothing: {}
    }
  })
})

t.test('subschemas in lists, maps and single keywords; data that looks like schemas left alone', async (t) => {
  t.same(toJsonSchema({
    type: 'array',
    items: [{ type: 'string' }, true],
    additionalItems: { $ref: '#/items/0' },
    dependencies: { a: ['b'], c: { required: ['d'], properties: { d: { $ref: '#' } } } },
    properties: 'not a map',
    const: { $ref: '#/items/0', $id: 'data' },
    'x-schema-like': { $ref: 'kept' }
  }, at, scope()), {
    type: 'array',
    items: [{ type: 'string' }, true],
    additionalItems: here('/items/0'),
    dependencies: { a: ['b'], c: { required: ['d'], properties: { d: here('') } } },
    properties: 'not a map',
    const: { $ref: '#/items/0', $id: 'data' },
    'x-schema-like': { $ref: 'kept' }
  })
})

t.test('references by $id, anchor and pointer become pointers into the document; $id and $anchor go', async (t) => {
  const shared = scope()
  t.same(toJsonSchema({
    $id: 'https://example.com/root.json',
    definitions: {
      item: { $id: 'item.json', type: 'object', properties: { parent: { $ref: 'root.json' }, self: { $ref: '#' }, sibling: { $ref: '#/properties/parent' } } },
      again: { $id: 'item.json', type: 'null' },
      anchored: { $id: '#old-style', type: 'string' },
      named: { $anchor: 'new-style', type: 'number' }
    },
    properties: {
      item: { $ref: 'item.json' },
      byOldAnchor: { $ref: '#old-style' },
      byNewAnchor: { $ref: 'root.json#new-style' },
      escaped: { $ref: '#/properties/a~1b%20c' },
      'a/b c': { type: 'boolean' },
      noSuchAnchor: { $ref: '#nowhere' },
      badEscape: { $ref: '#/definitions/%zz' },
      elsewhere: { $ref: 'https://example.org/other.json' }
    }
  }, at, shared), {
    definitions: {
      item: { type: 'object', properties: { parent: here(''), self: here('/definitions/item'), sibling: here('/definitions/item/properties/parent') } },
      again: { type: 'null' },
      anchored: { type: 'string' },
      named: { type: 'number' }
    },
    properties: {
      item: here('/definitions/item'),
      byOldAnchor: here('/definitions/anchored'),
      byNewAnchor: here('/definitions/named'),
      escaped: here('/properties/a~1b%20c'),
      'a/b c': { type: 'boolean' },
      noSuchAnchor: { $ref: '#nowhere' },
      badEscape: here('/definitions/%25zz'),
      elsewhere: { $ref: 'https://example.org/other.json' }
    }
  }, 'a reference that leads nowhere known stays as written')
  t.same(shared.placed, [])
})

t.test('references to schemas shared with app.addSchema(): placed once each, by the id as written or as resolved', async (t) => {
  const shared = scope({
    paging: { $id: 'paging', type: 'object', properties: { limit: { type: 'integer' } } },
    'https://example.com/api/user.json': { type: 'object' },
    other: { type: 'string' }
  })
  t.same(toJsonSchema({
    $id: 'urn:example:message',
    properties: {
      limit: { $ref: 'paging#/properties/limit' },
      paging: { $ref: 'paging' },
      // A URN cannot be a base: 'other' does not resolve, and is looked up as written.
      other: { $ref: 'other' },
      anchor: { $ref: 'paging#start' },
      nested: { $id: 'https://example.com/api/', properties: { user: { $ref: 'user.json' } } }
    }
  }, at, shared), {
    properties: {
      limit: { $ref: '#/components/schemas/paging/properties/limit' },
      paging: { $ref: '#/components/schemas/paging' },
      other: { $ref: '#/components/schemas/other' },
      anchor: { $ref: 'paging#start' },
      nested: { properties: { user: { $ref: '#/components/schemas/https:~1~1example.com~1api~1user.json' } } }
    }
  }, 'an anchor into a shared schema stays as written')
  t.same(shared.placed, ['paging', 'paging', 'other', 'https://example.com/api/user.json'], 'the builder is asked to place each; it keeps one copy per schema')
})

t.test('pointers: ~ and / escaped, characters a fragment cannot hold percent-encoded', async (t) => {
  t.equal(pointer(['a/b', 'c~d', 'e f', '$defs', 'x:y@z', 'ü']), '#/a~1b/c~0d/e%20f/$defs/x:y@z/%C3%BC')
  t.equal(pointer([]), '#')
})
