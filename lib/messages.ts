// Message schemas: compiled once per route, then used per message to decode (JSON.parse +
// check) and per send to check outgoing data. TypeBox 0.34 schemas (@sinclair/typebox) are
// compiled with its TypeCompiler; any other schema object (TypeBox 1.x, plain JSON Schema:
// both are JSON Schema) with ajv, as Fastify compiles HTTP schemas.
import { Kind, KindGuard, Type, TypeGuard, type TObject, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, TypeCompilerTypeGuardError, type TypeCheck } from '@sinclair/typebox/compiler'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import { Ajv, type ErrorObject, type Options as AjvOptions, type ValidateFunction } from 'ajv'
import ajvFormats from 'ajv-formats'
import secureJson from 'secure-json-parse'
import { CloseCode } from './close-codes.js'
import { InvalidOptionError } from './errors.js'
import type { FastifySchema } from 'fastify'
// The FastifySchema augmentation (message, messages, discriminator, send).
import type {} from '../types/index.js'

/** Why an incoming message was refused; what `onInvalidMessage` receives. */
export class InvalidMessage {
  constructor (
    /** `FST_UPGRADE_INVALID_JSON`, `FST_UPGRADE_BINARY_NOT_ACCEPTED`, `FST_UPGRADE_UNKNOWN_MESSAGE_TYPE` or `FST_UPGRADE_INVALID_MESSAGE`. */
    readonly code: InvalidMessageCode,
    /** JSON pointer to the first failing location ('' for the whole message). */
    readonly path: string,
    /** What is wrong, in the schema's terms; never contains the peer's data. */
    readonly message: string,
    /** The close code the 'close' policy uses: 1007 for undecodable data, 1008 for schema violations. */
    readonly closeCode: typeof CloseCode.InvalidPayload | typeof CloseCode.PolicyViolation
  ) {}
}

export type InvalidMessageCode =
  | 'FST_UPGRADE_INVALID_JSON'
  | 'FST_UPGRADE_BINARY_NOT_ACCEPTED'
  | 'FST_UPGRADE_UNKNOWN_MESSAGE_TYPE'
  | 'FST_UPGRADE_INVALID_MESSAGE'

/**
 * The message-related part of a route's `schema`. Each schema is a TypeBox 0.34 schema, a
 * TypeBox 1.x schema or a plain JSON Schema object; anything else is refused at registration.
 */
/**
 * The message schemas of a route, as types/index.ts declares them on FastifySchema (one
 * declaration). JavaScript callers may put anything there: each value is still checked.
 */
export type MessageSchemas = Pick<FastifySchema, 'message' | 'messages' | 'discriminator' | 'send'>

// Events the socket emits itself; a message type may not take one of these names.
const reservedEvents = new Set(['message', 'close', 'error', 'ping', 'pong', 'newListener', 'removeListener'])

const invalidJson = new InvalidMessage('FST_UPGRADE_INVALID_JSON', '', 'message is not valid JSON', CloseCode.InvalidPayload)
const binaryRefused = new InvalidMessage('FST_UPGRADE_BINARY_NOT_ACCEPTED', '', 'binary messages are not accepted', CloseCode.InvalidPayload)
const prototypeKey = new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', '', 'forbidden __proto__ or constructor.prototype key', CloseCode.PolicyViolation)

/**
 * How deeply a message may nest on a route whose schema refers to itself (Type.Recursive,
 * Type.Cyclic, $ref) or asks for unique items (`uniqueItems` compares items by deep
 * equality). Checking such a schema recurses as deep as the message; past this depth the
 * message is refused before it is parsed.
 */
export const maxNesting = 64
const tooDeep = new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', '', `nested deeper than ${maxNesting} levels`, CloseCode.PolicyViolation)

/**
 * A message may not carry its own `__proto__` or `constructor.prototype` key, whatever
 * the schema says: code that later merges it into another object would otherwise
 * change that object's prototype. The check (secure-json-parse's, as Fastify uses for
 * bodies) walks the message only when its text could spell such a key.
 */
function hasPrototypeKey (text: string, value: object): boolean {
  if (!text.includes('__proto__') && !text.includes('constructor') && !text.includes('\\u')) return false
  return secureJson.scan(value, { safe: true }) === null
}

/** Whether brackets outside strings nest deeper than `limit`; one linear pass, no parsing. */
function nestsDeeper (text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (inString) {
      if (char === 0x5c) i++ // backslash: skip the escaped character
      else if (char === 0x22) inString = false
    } else if (char === 0x22) {
      inString = true
    } else if (char === 0x7b || char === 0x5b) {
      if (++depth > limit) return true
    } else if (char === 0x7d || char === 0x5d) {
      depth--
    }
  }
  return false
}

/**
 * Whether checking a schema can recurse as deep as the message: it refers to another
 * schema (or itself), or compares items for uniqueness (TypeBox hashes them, ajv compares
 * them, both recursively). Any other schema is checked only as deep as it is written.
 */
function checksToAnyDepth (schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false
  if ('$ref' in schema || (schema as { uniqueItems?: unknown }).uniqueItems === true) return true
  return Object.values(schema).some(checksToAnyDepth)
}

// ajv as Fastify configures it for HTTP schemas, less what would change a message (no type
// coercion, no defaults, no removal of extra properties): a check, nothing else. Unknown
// keywords and formats stay errors (strict), so a typo fails registration instead of
// silently checking less; strictTypes and strictTuples are only lints, and would log.
const ajvOptions: AjvOptions = {
  allErrors: false,
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
  strictTypes: false,
  strictTuples: false
}
const addFormats = ajvFormats.default
// Checks schemas against the JSON Schema meta-schema, which it compiles once, when the
// first route with such a schema is registered. Each schema is then compiled by an ajv
// of its own without the meta-schema: ajv keeps every schema it compiled, and its `$id`s,
// for the life of the instance, so a shared one would grow with every route ever
// registered and refuse two schemas that reuse an `$id` (TypeBox 1.x's Type.Cyclic names
// its definitions).
let metaChecker: Ajv | undefined

function compileJsonSchema (schema: object): ValidateFunction {
  if (metaChecker === undefined) {
    metaChecker = new Ajv(ajvOptions)
    addFormats(metaChecker)
  }
  if (!metaChecker.validateSchema(schema)) throw new Error(`schema is invalid: ${metaChecker.errorsText(metaChecker.errors, { dataVar: 'schema' })}`)
  // An `$async` schema compiles to a function returning a promise, which Check() would
  // take for a pass (and whose rejection nobody would handle): messages are checked in step.
  if ((schema as { $async?: unknown }).$async === true) throw new Error('$async schemas are not supported: each message is checked as it arrives')
  const ajv = new Ajv({ ...ajvOptions, meta: false, validateSchema: false })
  addFormats(ajv)
  return ajv.compile(schema)
}

/**
 * A schema compiled by ajv, with TypeCheck's shape where the codec uses it. JSON Schema
 * describes JSON: bytes (a Uint8Array given to `send`) never match.
 */
class JsonSchemaCheck {
  readonly #validate: ValidateFunction
  constructor (validate: ValidateFunction) {
    this.#validate = validate
  }

  Check (value: unknown): boolean {
    return !(value instanceof Uint8Array) && this.#validate(value)
  }

  /** Why `value` failed Check(). */
  explain (value: unknown): InvalidMessage {
    if (value instanceof Uint8Array) return new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', '', 'binary data does not match a JSON schema', CloseCode.PolicyViolation)
    this.#validate(value)
    return describeAjv((this.#validate.errors as ErrorObject[]).at(-1) as ErrorObject)
  }
}

type CompiledSchema = TypeCheck<TSchema> | JsonSchemaCheck

/**
 * Compiles one schema of a route, once. A TypeBox 0.34 schema goes to its TypeCompiler
 * unless it holds parts TypeCompiler does not know (a TypeBox 1.x schema inside a 0.34
 * Type.Object, say); those, TypeBox 1.x and plain JSON Schema go to ajv. Whatever fails
 * to compile is a registration error naming the route and the key.
 */
function compileSchema (schema: unknown, where: string): CompiledSchema {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new InvalidOptionError(where, 'must be a schema object: TypeBox (@sinclair/typebox 0.34 or typebox 1.x) or JSON Schema')
  }
  try {
    if (Kind in schema) {
      try {
        return TypeCompiler.Compile(schema as TSchema)
      } catch (error) {
        if (!(error instanceof TypeCompilerTypeGuardError)) throw error
      }
    }
    return new JsonSchemaCheck(compileJsonSchema(schema))
  } catch (error) {
    throw new InvalidOptionError(where, `the schema does not compile: ${(error as Error).message}`)
  }
}

/**
 * Decodes and checks messages for one route. Built once at registration; `decode` and
 * `checkSend` are the only per-message work.
 */
export class MessageCodec {
  /** The tag field for `schema.messages` routes, undefined otherwise. */
  readonly discriminator: string | undefined
  readonly #message: CompiledSchema | undefined
  readonly #members: Map<string, CompiledSchema> | undefined
  readonly #acceptsBinary: boolean
  readonly #send: CompiledSchema | undefined
  /** Checking can recurse as deep as the message: cap the nesting of incoming messages. */
  readonly #capsNesting: boolean

  /**
   * `where` names a schema in registration errors: by default `schema.send (route /chat)`;
   * a topic's codec (`MessageCodec.forTopic`) names its `websocketTopic()` call instead.
   */
  constructor (schemas: MessageSchemas, url: string, where: (key: string) => string = (key) => `${key} (route ${url})`) {
    if (schemas.message !== undefined && schemas.messages !== undefined) {
      throw new InvalidOptionError(`schema (route ${url})`, 'give either schema.message or schema.messages, not both')
    }
    this.#message = schemas.message === undefined ? undefined : compileSchema(schemas.message, where('schema.message'))
    this.#acceptsBinary = schemas.message !== undefined && acceptsBinary(schemas.message)
    if (schemas.messages !== undefined) {
      const discriminator = schemas.discriminator ?? 'type'
      this.discriminator = discriminator
      this.#members = new Map()
      for (const [name, member] of Object.entries(schemas.messages)) {
        if (reservedEvents.has(name)) {
          throw new InvalidOptionError(`schema.messages.${name} (route ${url})`, 'this name is a socket event of its own')
        }
        this.#members.set(name, compileSchema(tagged(member, discriminator, name, url), where(`schema.messages.${name}`)))
      }
    }
    this.#send = schemas.send === undefined ? undefined : compileSchema(schemas.send, where('schema.send'))
    this.#capsNesting = checksToAnyDepth(schemas.message) || checksToAnyDepth(schemas.messages)
  }

  /**
   * A codec that only checks values, for a topic declared with `websocketTopic(pattern,
   * schema)`: its `checkSend` checks each publish once, as `schema.send` checks a send.
   */
  static forTopic (schema: unknown, pattern: string): MessageCodec {
    return new MessageCodec({ send: schema as object }, pattern, () => `websocketTopic('${pattern}')`)
  }

  /** True when the route declares incoming message schemas (and messages are decoded). */
  get decodes (): boolean {
    return this.#message !== undefined || this.#members !== undefined
  }

  /** The decoded, valid message, or why it is refused. */
  decode (data: Buffer, isBinary: boolean): unknown {
    if (isBinary) {
      if (!this.#acceptsBinary) return binaryRefused
      return this.#check(this.#message as CompiledSchema, data)
    }
    const text = data.toString()
    if (this.#capsNesting && nestsDeeper(text, maxNesting)) return tooDeep
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return invalidJson
    }
    if (typeof value === 'object' && value !== null && hasPrototypeKey(text, value)) return prototypeKey
    if (this.#members === undefined) return this.#check(this.#message as CompiledSchema, value)
    // Any JSON value but null can be indexed; a non-object simply has no tag.
    const tag = (value as Record<string, unknown> | null)?.[this.discriminator as string]
    const member = typeof tag === 'string' ? this.#members.get(tag) : undefined
    if (member === undefined) {
      return new InvalidMessage('FST_UPGRADE_UNKNOWN_MESSAGE_TYPE', `/${this.discriminator as string}`, 'unknown message type', CloseCode.PolicyViolation)
    }
    return this.#check(member, value)
  }

  /** Why `value` may not be sent, or undefined when it may. Only for routes with schema.send. */
  checkSend (value: unknown): InvalidMessage | undefined {
    const result = this.#check(this.#send as CompiledSchema, value)
    return result instanceof InvalidMessage ? result : undefined
  }

  #check (check: CompiledSchema, value: unknown): unknown {
    if (check.Check(value)) return value
    return check instanceof JsonSchemaCheck ? check.explain(value) : describe(check.Errors(value).First())
  }
}

/**
 * A member of `schema.messages` with its tag field added: `{ type: 'say', ...member }`, as
 * a copy (the route's schema is left as it was). A member must be an object schema: a
 * Type.Object() of either TypeBox line, or JSON Schema with `type: 'object'`. The AsyncAPI
 * document (lib/asyncapi.ts) shows each member as this returns it: what the route checks.
 */
export function tagged (member: unknown, discriminator: string, name: string, url: string): object {
  if (KindGuard.IsObject(member)) return withTag(member, discriminator, name)
  if (typeof member !== 'object' || member === null || (member as { type?: unknown }).type !== 'object') {
    throw new InvalidOptionError(`schema.messages.${name} (route ${url})`, "each message type must be a Type.Object() (TypeBox 0.34 or 1.x) or a JSON Schema with type 'object'")
  }
  return withJsonTag(member as JsonObjectSchema, discriminator, name)
}

/** A TypeBox 0.34 Type.Object() with the tag field. */
function withTag (member: TObject, discriminator: string, name: string): TObject {
  const { properties, [Kind]: _kind, type: _type, required: _required, ...options } = member
  return Type.Object({ ...properties, [discriminator]: Type.Literal(name) }, options)
}

interface JsonObjectSchema { properties?: object, required?: unknown }

/** A JSON object schema (TypeBox 1.x or plain) with the tag field: a required `const` property. */
function withJsonTag (member: JsonObjectSchema, discriminator: string, name: string): object {
  const required = Array.isArray(member.required) ? member.required.filter((field) => field !== discriminator) : []
  return { ...member, properties: { ...member.properties, [discriminator]: { const: name } }, required: [...required, discriminator] }
}

/** Whether a TypeBox 0.34 schema allows Type.Uint8Array(); JSON Schema has no bytes. */
function acceptsBinary (schema: unknown): boolean {
  return framesOf(schema).binary.length > 0
}

/**
 * A message schema split by the frames that carry it: its Type.Uint8Array() members, alone or
 * in (nested) unions, go in binary frames; the rest, if any, is JSON in text frames. Only
 * TypeBox 0.34 has bytes: any other schema is all text.
 */
export function framesOf (schema: unknown): { text: unknown, binary: TSchema[] } {
  if (TypeGuard.IsUint8Array(schema)) return { text: undefined, binary: [schema] }
  if (!TypeGuard.IsUnion(schema)) return { text: schema, binary: [] }
  const members = schema.anyOf.map(framesOf)
  const binary = members.flatMap((member) => member.binary)
  if (binary.length === 0) return { text: schema, binary }
  const text = members.flatMap((member) => member.text === undefined ? [] : [member.text as TSchema])
  const { anyOf: _anyOf, [Kind]: _kind, ...options } = schema
  return { text: text.length === 0 ? undefined : text.length === 1 ? text[0] : Type.Union(text, options), binary }
}

/**
 * The first failing location in schema terms. An unexpected property's path would be the
 * peer's own key, so it is reported at its parent instead: nothing the peer sent is echoed.
 */
function describe (error: ValueError | undefined): InvalidMessage {
  /* c8 ignore next -- Check() failed, so Errors() has at least one entry */
  if (error === undefined) return new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', '', 'invalid message', CloseCode.PolicyViolation)
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const path = error.path.slice(0, error.path.lastIndexOf('/'))
    return new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', path, 'unexpected property', CloseCode.PolicyViolation)
  }
  return new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', error.path, error.message, CloseCode.PolicyViolation)
}

/**
 * describe() for ajv: its last error is the failing keyword that stopped the check (an
 * `anyOf` after its branches' errors, as TypeBox reports a union). A missing property is
 * reported at its own path, as TypeBox does; an unexpected one at its parent.
 */
function describeAjv (error: ErrorObject): InvalidMessage {
  if (error.keyword === 'additionalProperties') {
    return new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', error.instancePath, 'unexpected property', CloseCode.PolicyViolation)
  }
  if (error.keyword === 'required') {
    const property = String(error.params.missingProperty).replaceAll('~', '~0').replaceAll('/', '~1')
    return new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', `${error.instancePath}/${property}`, 'must have required property', CloseCode.PolicyViolation)
  }
  /* c8 ignore next -- ajv gives every error of a compiled schema a message */
  return new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', error.instancePath, error.message ?? 'invalid message', CloseCode.PolicyViolation)
}

// RFC 6455 section 5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
const maxCloseReasonBytes = 123

/** The close reason for an invalid message: names the failing path, fits in 123 bytes. */
export function closeReason (invalid: InvalidMessage): string {
  const reason = invalid.path === '' ? invalid.message : `${invalid.message} at ${invalid.path}`
  if (Buffer.byteLength(reason) <= maxCloseReasonBytes) return reason
  let cut = reason.slice(0, maxCloseReasonBytes)
  while (Buffer.byteLength(cut) > maxCloseReasonBytes - 3) cut = cut.slice(0, -1)
  return `${cut}...`
}

/** The socket side of an invalid-message policy. */
export interface PolicySocket {
  close: (code: number, reason: string) => void
  sendRaw: (data: string) => void
}

/** What a route does with an invalid message, once logged. */
export type InvalidMessageHandler<Socket = PolicySocket, Request = unknown> =
  (invalid: InvalidMessage, socket: Socket, request: Request) => void

/** The error message the 'reply' policy sends: `{ "error": { "code", "path", "message" } }`. */
export interface InvalidMessageReply {
  error: { code: InvalidMessageCode, path: string, message: string }
}

const closeOnInvalid: InvalidMessageHandler = (invalid, socket) => {
  socket.close(invalid.closeCode, closeReason(invalid))
}

const replyOnInvalid: InvalidMessageHandler = (invalid, socket) => {
  const reply: InvalidMessageReply = { error: { code: invalid.code, path: invalid.path, message: invalid.message } }
  socket.sendRaw(JSON.stringify(reply))
}

const ignoreInvalid: InvalidMessageHandler = () => {}

/** A built-in `onInvalidMessage` policy, as the function a connection calls. */
export function builtinInvalidPolicy (policy: 'close' | 'reply' | 'ignore'): InvalidMessageHandler {
  return policy === 'close' ? closeOnInvalid : policy === 'reply' ? replyOnInvalid : ignoreInvalid
}
