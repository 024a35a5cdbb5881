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
import type { Static, TObject, TSchema } from '@sinclair/typebox'
import type { RawMessage, RawSendData, WebSocketConnection } from '../lib/connection.js'
import type { InjectWSOptions } from '../lib/inject.js'
import type { WebSocketStats } from '../lib/stats.js'
import type { WebSocketRouteOptions } from '../lib/options.js'

type Simplify<T> = { [Key in keyof T]: T[Key] } & {}

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
export type TaggedMessages<Schema> = Schema extends { messages: infer Members extends Record<string, TSchema> }
  ? { [Type in keyof Members & string]: Simplify<{ [Field in DiscriminatorOf<Schema>]: Type } & Static<Members[Type]>> }
  : Record<never, never>

/** The arguments of the socket's 'message' event for a route's schema. */
export type IncomingMessageArgs<Schema> = Schema extends { messages: Record<string, TSchema> }
  ? [message: TaggedMessages<Schema>[keyof TaggedMessages<Schema>]]
  : Schema extends { message: infer Message extends TSchema }
    ? [message: Static<Message>]
    : RawMessage

/** What `socket.send` accepts for a route's schema. */
export type OutgoingMessage<Schema> = Schema extends { send: infer Send extends TSchema } ? Static<Send> : RawSendData

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

declare module 'fastify' {
  interface FastifySchema {
    /** WebSocket routes: what the client may send, a TypeBox schema (JSON text, or binary with Type.Uint8Array()). */
    message?: TSchema
    /** WebSocket routes: a tagged union as a map from message type to its Type.Object() (tag field excluded). */
    messages?: Record<string, TObject>
    /** The tag field of `messages`. Default 'type'. */
    discriminator?: string
    /** WebSocket routes: what the server may send, a TypeBox schema. */
    send?: TSchema
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
    /** Connects a ws client in memory, through the whole upgrade path; rejects with the HTTP status when refused. */
    injectWS: (path?: string, options?: InjectWSOptions) => Promise<WebSocket>
    /** Counters of WebSocket connections: open by route, messages, bytes, closes by code, refused upgrades by reason. */
    websocketStats: () => WebSocketStats

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
