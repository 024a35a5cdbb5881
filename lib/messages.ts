// Message schemas: compiled once per route with TypeBox's TypeCompiler, then used per
// message to decode (JSON.parse + check) and per send to check outgoing data.
import { Kind, Type, TypeGuard, type TObject, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import secureJson from 'secure-json-parse'
import { CloseCode } from './close-codes.js'
import { InvalidOptionError } from './errors.js'

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

/** The message-related part of a route's `schema`. */
export interface MessageSchemas {
  message?: TSchema
  messages?: Record<string, TSchema>
  discriminator?: string
  send?: TSchema
}

// Events the socket emits itself; a message type may not take one of these names.
const reservedEvents = new Set(['message', 'close', 'error', 'ping', 'pong', 'newListener', 'removeListener'])

const invalidJson = new InvalidMessage('FST_UPGRADE_INVALID_JSON', '', 'message is not valid JSON', CloseCode.InvalidPayload)
const binaryRefused = new InvalidMessage('FST_UPGRADE_BINARY_NOT_ACCEPTED', '', 'binary messages are not accepted', CloseCode.InvalidPayload)
const prototypeKey = new InvalidMessage('FST_UPGRADE_INVALID_MESSAGE', '', 'forbidden __proto__ or constructor.prototype key', CloseCode.PolicyViolation)

/**
 * How deeply a message may nest on a route whose schema refers to itself (Type.Recursive,
 * $ref). Checking such a schema recurses as deep as the message; past this depth the
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

/** Whether a schema refers to another (or itself): only such schemas can be checked to any depth. */
function refersToSchemas (schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false
  if ('$ref' in schema) return true
  return Object.values(schema).some(refersToSchemas)
}

/**
 * Decodes and checks messages for one route. Built once at registration; `decode` and
 * `checkSend` are the only per-message work.
 */
export class MessageCodec {
  /** The tag field for `schema.messages` routes, undefined otherwise. */
  readonly discriminator: string | undefined
  readonly #message: TypeCheck<TSchema> | undefined
  readonly #members: Map<string, TypeCheck<TSchema>> | undefined
  readonly #acceptsBinary: boolean
  readonly #send: TypeCheck<TSchema> | undefined
  /** The schema can recurse: cap the nesting of incoming messages. */
  readonly #capsNesting: boolean

  constructor (schemas: MessageSchemas, url: string) {
    if (schemas.message !== undefined && schemas.messages !== undefined) {
      throw new InvalidOptionError(`schema (route ${url})`, 'give either schema.message or schema.messages, not both')
    }
    this.#message = schemas.message === undefined ? undefined : TypeCompiler.Compile(schemas.message)
    this.#acceptsBinary = schemas.message !== undefined && acceptsBinary(schemas.message)
    if (schemas.messages !== undefined) {
      const discriminator = schemas.discriminator ?? 'type'
      this.discriminator = discriminator
      this.#members = new Map()
      for (const [name, member] of Object.entries(schemas.messages)) {
        if (reservedEvents.has(name)) {
          throw new InvalidOptionError(`schema.messages.${name} (route ${url})`, 'this name is a socket event of its own')
        }
        if (!TypeGuard.IsObject(member)) {
          throw new InvalidOptionError(`schema.messages.${name} (route ${url})`, 'each message type must be a Type.Object()')
        }
        this.#members.set(name, TypeCompiler.Compile(withTag(member, discriminator, name)))
      }
    }
    this.#send = schemas.send === undefined ? undefined : TypeCompiler.Compile(schemas.send)
    this.#capsNesting = refersToSchemas(schemas.message) || refersToSchemas(schemas.messages)
  }

  /** True when the route declares incoming message schemas (and messages are decoded). */
  get decodes (): boolean {
    return this.#message !== undefined || this.#members !== undefined
  }

  /** The decoded, valid message, or why it is refused. */
  decode (data: Buffer, isBinary: boolean): unknown {
    if (isBinary) {
      if (!this.#acceptsBinary) return binaryRefused
      return this.#check(this.#message as TypeCheck<TSchema>, data)
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
    if (this.#members === undefined) return this.#check(this.#message as TypeCheck<TSchema>, value)
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
    const result = this.#check(this.#send as TypeCheck<TSchema>, value)
    return result instanceof InvalidMessage ? result : undefined
  }

  #check (check: TypeCheck<TSchema>, value: unknown): unknown {
    if (check.Check(value)) return value
    return describe(check.Errors(value).First())
  }
}

/** A member of `schema.messages` with its tag field added: `{ type: 'say', ...member }`. */
function withTag (member: TObject, discriminator: string, name: string): TObject {
  const { properties, [Kind]: _kind, type: _type, required: _required, ...options } = member
  return Type.Object({ ...properties, [discriminator]: Type.Literal(name) }, options)
}

function acceptsBinary (schema: TSchema): boolean {
  if (TypeGuard.IsUint8Array(schema)) return true
  return TypeGuard.IsUnion(schema) && schema.anyOf.some(acceptsBinary)
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

/** Turns the `onInvalidMessage` option into the function a connection calls. */
export function invalidMessageHandler<Socket, Request> (
  policy: 'close' | 'reply' | 'ignore' | InvalidMessageHandler<Socket, Request>
): InvalidMessageHandler<Socket, Request> {
  if (typeof policy === 'function') return policy
  const handler = policy === 'close' ? closeOnInvalid : policy === 'reply' ? replyOnInvalid : ignoreInvalid
  return handler as unknown as InvalidMessageHandler<Socket, Request>
}
