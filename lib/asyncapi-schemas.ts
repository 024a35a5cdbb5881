// Schemas for the AsyncAPI document (lib/asyncapi.ts): any schema the plugin or Fastify
// accepts (TypeBox 0.34, TypeBox 1.x, plain JSON Schema) copied as plain JSON Schema.
// TypeBox's symbols and `~` keys are left behind, JavaScript-only types (Uint8Array, Date,
// bigint...) are marked, and every `$ref` becomes a pointer into the document, so that the
// document's own reference resolution (AsyncAPI tools resolve `$ref` against the document,
// not against a schema's `$id`) finds what the schema's checker found. The `$id`s are then
// dropped: nothing refers to them any more, and a JSON Schema reader would otherwise resolve
// those pointers against them.

/** A JSON Schema as it appears in the document. */
export type JsonSchema = boolean | { [keyword: string]: unknown }

/** Where a schema's references may lead outside of it. */
export interface SchemaScope {
  /** A schema shared with `app.addSchema()`, by `$id`, as the route's instance knows it. */
  shared: (id: string) => unknown
  /** Puts a shared schema in the document once and returns its location (path segments). */
  place: (schema: object, id: string) => string[]
}

const jsonTypes: ReadonlySet<unknown> = new Set(['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'])

// Keywords whose value is a schema, a list of schemas, or a map of names to schemas (draft-07,
// and the later drafts' names TypeBox 1.x or a user may write). Any other keyword's value is
// data (const, enum, default, examples, vendor keywords): copied as JSON, never walked.
const schemaValued = new Set(['additionalItems', 'additionalProperties', 'contains', 'contentSchema', 'else', 'if', 'items', 'not', 'propertyNames', 'then', 'unevaluatedItems', 'unevaluatedProperties'])
const schemaListed = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'])
const schemaMapped = new Set(['$defs', 'definitions', 'dependencies', 'dependentSchemas', 'patternProperties', 'properties'])

/** The base every schema's own `$id`s and `$ref`s are resolved against (never fetched). */
const rootUri = 'https://fastify-upgrade.invalid/schema'

/**
 * The schema as plain JSON Schema, placed at `location` in the document (its path
 * segments, e.g. ['channels', 'chat', 'messages', 'say', 'payload']).
 */
export function toJsonSchema (schema: unknown, location: readonly string[], scope: SchemaScope): JsonSchema {
  const copy = plainSchema(schema)
  const targets = new Targets()
  targets.index(copy, rootUri, [])
  return rewrite(copy, rootUri, location, targets, scope)
}

/**
 * A schema as plain JSON: only enumerable string keys, none starting with `~` (TypeBox 1.x
 * keeps its own markers there), no functions; a type JSON cannot carry (TypeBox's
 * Uint8Array, Date, bigint, undefined...) becomes `{ 'x-js-type': <the type> }`, which any
 * value matches, with its title and description.
 */
function plainSchema (schema: unknown): JsonSchema {
  if (typeof schema === 'boolean') return schema
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return {}
  const source = schema as Record<string, unknown>
  const type = source.type
  if ((Array.isArray(type) ? type : type === undefined ? [] : [type]).some((name) => !jsonTypes.has(name))) {
    return { 'x-js-type': Array.isArray(type) ? type.join(',') : String(type), ...annotations(source) }
  }
  const copy: Record<string, unknown> = {}
  for (const [keyword, value] of Object.entries(source)) {
    if (keyword.startsWith('~') || typeof value === 'function' || typeof value === 'symbol' || value === undefined) continue
    if (schemaListed.has(keyword) && Array.isArray(value)) copy[keyword] = value.map(plainSchema)
    else if (schemaValued.has(keyword)) copy[keyword] = plainSchema(value)
    else if (schemaMapped.has(keyword) && typeof value === 'object' && value !== null) {
      // `dependencies` may also map a property to the list of properties it requires: data.
      copy[keyword] = Object.fromEntries(Object.entries(value).map(([name, member]) => [name, Array.isArray(member) ? plainJson(member) : plainSchema(member)]))
    } else {
      copy[keyword] = plainJson(value)
    }
  }
  return copy
}

/** The title and description of a schema, where they are strings. */
export function annotations (schema: Record<string, unknown>): { title?: string, description?: string } {
  const { title, description } = schema
  return {
    ...(typeof title === 'string' ? { title } : {}),
    ...(typeof description === 'string' ? { description } : {})
  }
}

/** A data value as JSON (what JSON.stringify makes of it; a bigint as its digits). */
function plainJson (value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, member: unknown) => typeof member === 'bigint' ? member.toString() : member) as string)
}

/** Each subschema of a plain schema, with the path segments that lead to it. */
function * subschemas (schema: Record<string, unknown>): Generator<[string[], JsonSchema]> {
  for (const [keyword, value] of Object.entries(schema)) {
    if (schemaListed.has(keyword) && Array.isArray(value)) {
      for (const [index, member] of value.entries()) yield [[keyword, String(index)], member as JsonSchema]
    } else if (schemaValued.has(keyword)) {
      yield [[keyword], value as JsonSchema]
    } else if (schemaMapped.has(keyword) && typeof value === 'object' && value !== null) {
      for (const [name, member] of Object.entries(value)) {
        if (!Array.isArray(member)) yield [[keyword, name], member as JsonSchema]
      }
    }
  }
}

/** The places a `$ref` of the schema can lead to: its resources (by `$id`) and anchors. */
class Targets {
  readonly #resources = new Map<string, string[]>()
  readonly #anchors = new Map<string, string[]>()

  index (schema: JsonSchema, base: string, path: string[]): void {
    if (typeof schema === 'boolean') return
    let here = base
    const id = schema.$id
    if (typeof id === 'string') {
      // draft-07: an `$id` that is only a fragment names an anchor, and keeps the base.
      if (id.startsWith('#')) this.#anchors.set(resolve(id, base), path)
      else here = resolve(id, base)
    }
    if (typeof schema.$anchor === 'string') this.#anchors.set(`${withoutFragment(here)}#${schema.$anchor}`, path)
    if (!this.#resources.has(withoutFragment(here))) this.#resources.set(withoutFragment(here), path)
    for (const [segments, member] of subschemas(schema)) this.index(member, here, [...path, ...segments])
  }

  /** The path within the schema a resolved reference leads to, if it leads inside it. */
  find (uri: string): string[] | undefined {
    const hash = uri.indexOf('#')
    const fragment = hash === -1 ? '' : decodeFragment(uri.slice(hash + 1))
    if (fragment !== '' && !fragment.startsWith('/')) return this.#anchors.get(uri)
    const resource = this.#resources.get(withoutFragment(uri))
    return resource === undefined ? undefined : [...resource, ...pointerSegments(fragment)]
  }
}

/** The plain schema with its `$id`s and `$anchor`s dropped and its `$ref`s made document pointers. */
function rewrite (schema: JsonSchema, base: string, location: readonly string[], targets: Targets, scope: SchemaScope, path: string[] = []): JsonSchema {
  if (typeof schema === 'boolean') return schema
  const { $id: id, $anchor: _anchor, ...rest } = schema
  const here = typeof id === 'string' && !id.startsWith('#') ? resolve(id, base) : base
  if (typeof rest.$ref === 'string') rest.$ref = pointerTo(rest.$ref, here, location, targets, scope)
  for (const [segments, member] of subschemas(rest)) {
    const rewritten = rewrite(member, here, location, targets, scope, [...path, ...segments])
    const [keyword, index] = segments as [string, string | undefined]
    if (index === undefined) rest[keyword] = rewritten
    else (rest[keyword] as Record<string, JsonSchema>)[index] = rewritten
  }
  return rest
}

/**
 * Where a `$ref` leads, as a pointer into the document: inside its own schema, or to a schema
 * shared with `app.addSchema()` (placed in components.schemas). A reference that leads to
 * neither stays as written (a schema's checker would have refused it at registration).
 */
function pointerTo (ref: string, base: string, location: readonly string[], targets: Targets, scope: SchemaScope): string {
  const uri = resolve(ref, base)
  const inside = targets.find(uri)
  if (inside !== undefined) return pointer([...location, ...inside])
  const hash = ref.indexOf('#')
  const fragment = hash === -1 ? '' : decodeFragment(ref.slice(hash + 1))
  // Shared schemas are found by `$id` as given to addSchema(), as written or as resolved;
  // a plain-name fragment (an anchor) into one is left as written.
  if (fragment !== '' && !fragment.startsWith('/')) return ref
  for (const id of new Set([hash === -1 ? ref : ref.slice(0, hash), withoutFragment(uri)])) {
    const shared = scope.shared(id)
    if (typeof shared === 'object' && shared !== null) return pointer([...scope.place(shared, id), ...pointerSegments(fragment)])
  }
  return ref
}

/** Resolves a reference against a base URI; one that URL cannot resolve stays as written. */
function resolve (reference: string, base: string): string {
  try {
    return new URL(reference, base).href
  } catch {
    return reference
  }
}

function withoutFragment (uri: string): string {
  const hash = uri.indexOf('#')
  return hash === -1 ? uri : uri.slice(0, hash)
}

function decodeFragment (fragment: string): string {
  try {
    return decodeURIComponent(fragment)
  } catch {
    return fragment
  }
}

/** A JSON pointer's segments (RFC 6901), '' being the whole document. */
function pointerSegments (fragment: string): string[] {
  if (fragment === '') return []
  return fragment.slice(1).split('/').map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
}

/**
 * A URI fragment holding the JSON pointer to `segments` (RFC 6901, sections 4 and 6): `~`
 * and `/` escaped, then any character a fragment may not hold percent-encoded (`$`, `:`,
 * `@` and the other sub-delimiters stay readable).
 */
export function pointer (segments: readonly string[]): string {
  return `#${segments.map((segment) => `/${encodeSegment(segment.replaceAll('~', '~0').replaceAll('/', '~1'))}`).join('')}`
}

function encodeSegment (segment: string): string {
  return encodeURIComponent(segment).replace(/%(24|26|2B|2C|3A|3B|3D|40)/g, (escaped) => decodeURIComponent(escaped))
}
