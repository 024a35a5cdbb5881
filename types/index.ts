// The public type surface: module augmentation of fastify so that `websocket: true`,
// `wsHandler`, the shorthand, options-with-handler and full `route()` forms all type
// the handler as `(socket, request)`, with the request keeping the route's schema types
// from whatever type provider the instance uses.
import type {
  ContextConfigDefault,
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  FastifySchema,
  FastifyTypeProvider,
  FastifyTypeProviderDefault,
  HTTPMethods,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RouteGenericInterface,
  RouteShorthandOptions
} from 'fastify'
import type { Duplex } from 'node:stream'
import type { WebSocket, WebSocketServer } from 'ws'
import type { Static, TSchema } from '@sinclair/typebox'
import type { RawMessage, RawSendData, WebSocketConnection } from '../lib/connection.js'
import type { InjectWSHooks, InjectWSOptions } from '../lib/inject.js'
import type { WebSocketStats } from '../lib/stats.js'
import type { PublishOptions, PublishResult } from '../lib/topics.js'
import type { WebSocketRouteOptions } from '../lib/options.js'
import type { AsyncApiDocument } from '../lib/asyncapi.js'

type Simplify<T> = { [Key in keyof T]: T[Key] } & {}

/**
 * A message schema (`schema.message`, `schema.send`): a TypeBox 0.34 schema
 * (`@sinclair/typebox`), a TypeBox 1.x schema (`typebox`), or a plain JSON Schema object.
 */
export type MessageSchema = TSchema | object

/** A member of `schema.messages`: an object schema, `Type.Object()` of either TypeBox line or `{ type: 'object', ... }`. */
export interface ObjectMessageSchema {
  readonly type: 'object'
}

// typebox (1.x) is an optional peer dependency, for its types only: the runtime never loads
// it, and only a project that writes 1.x schemas has it installed. Elsewhere `typebox` does
// not resolve: the directive below (a JSDoc comment, so that it survives into the emitted
// declarations, where a line comment would not) keeps that from being an error even under
// `skipLibCheck: false`. StaticV1 is then `any`, and unreached: only a 1.x schema, which such
// a project cannot have, leads to it.
/** @ts-ignore -- `typebox` is an optional peer dependency (see above) */
type StaticV1<Schema extends object> = import('typebox').Static<Schema>

/** What marks a TypeBox 1.x schema in its type (1.x schemas carry no symbol, unlike 0.34's). */
type TypeBox1Schema = { readonly '~kind': string } | { readonly '~unsafe': unknown }

/**
 * The values a message schema accepts, as a type: `Static` of the schema's own TypeBox
 * line, `unknown` for plain JSON Schema (checked at run time, but not typed).
 */
export type StaticMessage<Schema> = Schema extends TSchema
  ? Static<Schema>
  : Schema extends TypeBox1Schema ? StaticV1<Schema> : unknown

/** A `schema.messages` member's fields: as StaticMessage, and any JSON object's fields for plain JSON Schema. */
type StaticMember<Schema> = Schema extends TSchema | TypeBox1Schema ? StaticMessage<Schema> : { [field: string]: unknown }

/**
 * The tag field of a `schema.messages` route: `schema.discriminator`, by default 'type'.
 * `never` when the discriminator's type is plain `string` (a schema object declared apart
 * from the route without `as const`): the field's name is then unknown to the types, so
 * the messages are typed without their tag rather than with a string index signature.
 */
export type DiscriminatorOf<Schema> = Schema extends { discriminator: infer Field extends string }
  ? string extends Field ? never : Field
  : 'type'

/** For a `schema.messages` route, each message type's full message (tag field included). */
export type TaggedMessages<Schema> = Schema extends { messages: infer Members extends Record<string, object> }
  ? { [Type in keyof Members & string]: Simplify<{ [Field in DiscriminatorOf<Schema>]: Type } & StaticMember<Members[Type]>> }
  : Record<never, never>

/** The arguments of the socket's 'message' event for a route's schema. */
export type IncomingMessageArgs<Schema> = Schema extends { messages: Record<string, object> }
  ? [message: TaggedMessages<Schema>[keyof TaggedMessages<Schema>]]
  : Schema extends { message: infer Message extends object }
    ? [message: StaticMessage<Message>]
    : RawMessage

/** What `socket.send` accepts for a route's schema. */
export type OutgoingMessage<Schema> = Schema extends { send: infer Send extends object } ? StaticMessage<Send> : RawSendData

/** The socket a route's handler receives, typed from the route's message schemas. */
export type SocketFor<Schema> = WebSocketConnection<IncomingMessageArgs<Schema>, OutgoingMessage<Schema>, TaggedMessages<Schema>>

/** A WebSocket route handler: `(socket, request)`, with `this` the route's encapsulated instance. */
export type WebSocketHandler<
  RawServer extends RawServerBase = RawServerDefault,
  RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
  RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
  RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
  ContextConfig = ContextConfigDefault,
  SchemaCompiler extends FastifySchema = FastifySchema,
  TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
  Logger extends FastifyBaseLogger = FastifyBaseLogger
> = (
  this: FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>,
  socket: SocketFor<SchemaCompiler>,
  request: FastifyRequest<RouteGeneric, RawServer, RawRequest, SchemaCompiler, TypeProvider, ContextConfig, Logger>
) => unknown

/** Serves a non-WebSocket upgraded protocol on the raw stream (the bytes after the 101). */
export type ProtocolUpgradeHandler<
  RawServer extends RawServerBase = RawServerDefault,
  RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
  RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
  RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
  ContextConfig = ContextConfigDefault,
  SchemaCompiler extends FastifySchema = FastifySchema,
  TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
  Logger extends FastifyBaseLogger = FastifyBaseLogger
> = (
  this: FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>,
  stream: Duplex,
  request: FastifyRequest<RouteGeneric, RawServer, RawRequest, SchemaCompiler, TypeProvider, ContextConfig, Logger>
) => unknown

/** Shorthand options of a WebSocket-only route (the handler is the socket handler). */
export type WebSocketShorthandOptions<
  RawServer extends RawServerBase = RawServerDefault,
  RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
  RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
  RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
  ContextConfig = ContextConfigDefault,
  SchemaCompiler extends FastifySchema = FastifySchema,
  TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
  Logger extends FastifyBaseLogger = FastifyBaseLogger
> = Omit<RouteShorthandOptions<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler, TypeProvider, Logger>, 'websocket' | 'wsHandler'> & {
  websocket: true | WebSocketRouteOptions
  wsHandler?: never
}

/** A WebSocket-only route for `app.route()`. */
export type WebSocketRouteDefinition<
  RawServer extends RawServerBase = RawServerDefault,
  RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
  RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
  RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
  ContextConfig = ContextConfigDefault,
  SchemaCompiler extends FastifySchema = FastifySchema,
  TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
  Logger extends FastifyBaseLogger = FastifyBaseLogger
> = WebSocketShorthandOptions<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler, TypeProvider, Logger> & {
  method: HTTPMethods | HTTPMethods[]
  url: string
  handler: WebSocketHandler<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, NoInfer<SchemaCompiler>, TypeProvider, Logger>
}

/**
 * Typed topics, declared once per application by module augmentation: each
 * `app.websocketTopic(pattern, schema)` pattern with the type of its schema. Then
 * `app.websocketPublish()` checks the message's type for every topic name a pattern
 * matches (`*` matches any run of characters), on every instance of the app.
 *
 * ```ts
 * declare module 'fastify-upgrade' {
 *   interface WebSocketTopics { 'room:*': typeof RoomMessage }
 * }
 * app.websocketTopic('room:*', RoomMessage)
 * ```
 */
export interface WebSocketTopics {}

/** A declared pattern as a template literal type: `'room:*'` is `` `room:${string}` ``. */
export type TopicPattern<Pattern extends string> = Pattern extends `${infer Head}*${infer Tail}`
  ? `${Head}${string}${TopicPattern<Tail>}`
  : Pattern

/** The declared patterns (keys of WebSocketTopics) that a topic name matches. */
export type MatchingTopics<Topic extends string> = {
  [Pattern in keyof WebSocketTopics & string]: Topic extends TopicPattern<Pattern> ? Pattern : never
}[keyof WebSocketTopics & string]

/** Each pattern's message type, in a tuple of its own (distributes over the patterns, never over a message union). */
type WrappedMessages<Patterns> = Patterns extends keyof WebSocketTopics ? [StaticMessage<WebSocketTopics[Patterns]>] : never

/** The intersection of a union's members. */
type Intersect<Union> = (Union extends unknown ? (member: Union) => void : never) extends (member: infer Both) => void ? Both : never

/**
 * What `websocketPublish` accepts for a topic name: the static type of the schema of every
 * declared pattern it matches, `unknown` (checked at run time only, if at all) for names
 * no declared pattern matches and for names typed plain `string`.
 */
export type TopicMessage<Topic extends string> = [MatchingTopics<Topic>] extends [never]
  ? unknown
  : (Intersect<WrappedMessages<MatchingTopics<Topic>>> & [unknown])[0]

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * true on a request that is being upgraded to a WebSocket (in every hook and in the
     * handlers), false otherwise (plain requests, HTTP/2, other upgraded protocols).
     */
    ws: boolean
  }

  interface FastifySchema {
    /**
     * WebSocket routes: what the client may send, a TypeBox (0.34 or 1.x) or JSON Schema (JSON
     * text; binary too with TypeBox 0.34's Type.Uint8Array()).
     */
    message?: MessageSchema
    /** WebSocket routes: a tagged union as a map from message type to its object schema (tag field excluded). */
    messages?: Record<string, ObjectMessageSchema>
    /** The tag field of `messages`. Default 'type'. */
    discriminator?: string
    /** WebSocket routes: what the server may send, a TypeBox (0.34 or 1.x) or JSON Schema. */
    send?: MessageSchema
    // The documentation keys @fastify/swagger reads, which the AsyncAPI document reads too.
    // Declared exactly as @fastify/swagger 9 declares them: TypeScript refuses two
    // declarations of one property with different types, and both plugins may be loaded.
    /** Leaves the route out of the AsyncAPI document (and out of @fastify/swagger's). */
    hide?: boolean
    /** The route's channel and operations' tags in the AsyncAPI document. */
    tags?: readonly string[]
    /** The route's channel's description in the AsyncAPI document (CommonMark). */
    description?: string
    /** The route's channel's summary in the AsyncAPI document. */
    summary?: string
  }

  interface FastifyInstance<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault
  > {
    /** The ws server that performs the handshakes (noServer mode). */
    websocketServer: WebSocketServer
    /**
     * Connects a ws client in memory, through the whole upgrade path (routing, hooks,
     * schemas, negotiation), without a listening server.
     * @throws (rejects) an InjectRejection (`statusCode`, `headers`, `body`) when the upgrade is refused with an HTTP response
     */
    injectWS: (path?: string, options?: InjectWSOptions, hooks?: InjectWSHooks) => Promise<WebSocket>
    /** Counters of WebSocket connections: open by route, messages, bytes, closes by code, refused upgrades by reason, topics. */
    websocketStats: () => WebSocketStats
    /**
     * The AsyncAPI 3.1.0 document of the WebSocket and upgrade routes (a copy, yours to change).
     * @throws FST_UPGRADE_ASYNCAPI_NOT_READY before the app is ready (`await app.ready()`)
     */
    asyncapi: () => AsyncApiDocument
    /**
     * Sends a message to every socket subscribed to the topic, on this server and (with a
     * `pubsub` adapter) on every other. A string is sent as text, bytes as binary, anything
     * else JSON-encoded; once, whatever the number of subscribers. Typed topics
     * (`websocketTopic`) check the message first.
     * @throws (rejects) FST_UPGRADE_INVALID_PUBLISH when the message fails its topic's schema or cannot be encoded (nothing is sent); FST_UPGRADE_INVALID_TOPIC for an invalid name
     */
    websocketPublish: <const Topic extends string>(topic: Topic, message: TopicMessage<Topic>, options?: PublishOptions) => Promise<PublishResult>
    /**
     * Declares a topic name, or a pattern where `*` matches any run of characters, with the
     * schema its messages must match (TypeBox 0.34, TypeBox 1.x or JSON Schema): every
     * publish to a matching topic is checked once. Declare it in `WebSocketTopics` too for the types.
     * @throws FST_UPGRADE_INVALID_OPTION for an empty or too long pattern, one declared already, or a schema that does not compile
     */
    websocketTopic: <const Pattern extends string>(
      pattern: Pattern,
      schema: Pattern extends keyof WebSocketTopics ? WebSocketTopics[Pattern] : MessageSchema
    ) => FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>

    route<
      RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
      ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema
    >(opts: WebSocketRouteDefinition<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler, TypeProvider, Logger>):
    FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>
  }

  interface RouteShorthandMethod<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger
  > {
    <RouteGeneric extends RouteGenericInterface = RouteGenericInterface, ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema>(
      path: string,
      opts: WebSocketShorthandOptions<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler, TypeProvider, Logger>,
      handler: WebSocketHandler<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler, TypeProvider, Logger>
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>
    <RouteGeneric extends RouteGenericInterface = RouteGenericInterface, ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema>(
      path: string,
      opts: WebSocketShorthandOptions<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler, TypeProvider, Logger> & {
        handler: WebSocketHandler<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, NoInfer<SchemaCompiler>, TypeProvider, Logger>
      }
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>
  }

  interface RouteShorthandOptions<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
    ContextConfig = ContextConfigDefault,
    SchemaCompiler extends FastifySchema = FastifySchema,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger
  > {
    /** Makes the route accept WebSocket upgrades (`true`, or per-route options). */
    websocket?: boolean | WebSocketRouteOptions
    /** The socket handler of a dual route, whose `handler` keeps serving plain HTTP. */
    wsHandler?: WebSocketHandler<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, NoInfer<SchemaCompiler>, TypeProvider, Logger>
    /** Other protocols this route switches to, by `name/version` token (RFC 9110 section 7.8). */
    upgrade?: Record<string, ProtocolUpgradeHandler<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, NoInfer<SchemaCompiler>, TypeProvider, Logger>>
  }
}
