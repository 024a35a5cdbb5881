// Every error this plugin raises, named once. Codes follow Fastify's convention so
// they serialise like core errors ({ statusCode, code, error, message }).
import createError from '@fastify/error'

/** A plain HTTP request reached a route that only speaks an upgraded protocol. */
export const UpgradeRequiredError = createError<[string]>(
  'FST_UPGRADE_REQUIRED',
  'This route requires a protocol upgrade to %s',
  426
)

/** The WebSocket handshake headers are missing or malformed (RFC 6455 section 4.2.1). */
export const BadHandshakeError = createError<[string]>(
  'FST_UPGRADE_BAD_HANDSHAKE',
  'Invalid WebSocket handshake: %s',
  400
)

/** Sec-WebSocket-Version is not 13 (RFC 6455 section 4.4: answer 426 naming the versions spoken). */
export const UnsupportedVersionError = createError<[string]>(
  'FST_UPGRADE_UNSUPPORTED_VERSION',
  'Unsupported Sec-WebSocket-Version "%s", this server speaks 13',
  426
)

/** The server is shutting down and takes no new upgrades. */
export const ServerClosingError = createError(
  'FST_UPGRADE_CLOSING',
  'The server is shutting down',
  503
)

/** Sent with every 503 refusal: when the client may try again, in seconds. */
export const retryLater = ['retry-after', '5'] as const

/** A limit refuses the upgrade for now (maxConnections, handshakeTimeout). */
export const ServiceUnavailableError = createError<[string]>(
  'FST_UPGRADE_UNAVAILABLE',
  'Cannot accept the upgrade now: %s',
  503
)

/** Registration-time misuse: a websocket route with another method than GET. */
export const InvalidRouteMethodError = createError<[string, string]>(
  'FST_UPGRADE_INVALID_METHOD',
  'WebSocket route "%s" must use GET, not %s',
  500,
  TypeError
)

/** Registration-time misuse: an option the plugin cannot honour. */
export const InvalidOptionError = createError<[string, string]>(
  'FST_UPGRADE_INVALID_OPTION',
  'Invalid fastify-upgrade option "%s": %s',
  500,
  TypeError
)

/** injectWS: the server answered the handshake with an HTTP response instead of 101. */
export const InjectRejectedError = createError<[number]>(
  'FST_UPGRADE_INJECT_REJECTED',
  'The upgrade was refused with HTTP status %s',
  500
)

/** socket.send() was given data that does not match the route's schema.send (a programming error). */
export const InvalidSendError = createError<[string, string]>(
  'FST_UPGRADE_INVALID_SEND',
  'Refused to send a message that does not match schema.send: %s at "%s"',
  500,
  TypeError
)

/** The Origin header names a site that may not open connections (Cross-Site WebSocket Hijacking). */
export const OriginRefusedError = createError(
  'FST_UPGRADE_ORIGIN_REFUSED',
  'Origin not allowed',
  403
)

/** None of the subprotocols the client offers is one the route speaks. */
export const UnsupportedProtocolError = createError<[string]>(
  'FST_UPGRADE_UNSUPPORTED_PROTOCOL',
  'None of the offered subprotocols is supported; this route speaks: %s',
  400
)

/** The route requires a subprotocol and the client offered none. */
export const ProtocolRequiredError = createError<[string]>(
  'FST_UPGRADE_PROTOCOL_REQUIRED',
  'This route requires a subprotocol (Sec-WebSocket-Protocol): %s',
  400
)

/**
 * A plain HTTP/2 request reached a route that only speaks upgraded protocols: HTTP/2 has
 * no Upgrade (RFC 9113 section 8.2.2). The message says how the route can be reached.
 */
export const Http2UnsupportedError = createError<[string]>(
  'FST_UPGRADE_HTTP2_UNSUPPORTED',
  'This route only switches protocols, which a plain HTTP/2 request cannot do: %s',
  505
)

/** An HTTP/2 CONNECT the server cannot serve: no :protocol (a tunnel), or a :protocol other than websocket. */
export const ConnectUnsupportedError = createError<[string]>(
  'FST_UPGRADE_CONNECT_UNSUPPORTED',
  'This server does not support %s; WebSocket clients send an extended CONNECT with :protocol websocket (RFC 8441)',
  501
)

/** An HTTP/2 extended CONNECT for a WebSocket reached a route that does not speak WebSocket. */
export const ConnectNotAllowedError = createError<[string]>(
  'FST_UPGRADE_CONNECT_NOT_ALLOWED',
  'Route %s does not accept WebSocket connections',
  405
)

/** An upgrade request reached a route declared before the plugin loaded, whose upgrade options were never seen. */
export const RouteBeforePluginError = createError<[string, string]>(
  'FST_UPGRADE_ROUTE_BEFORE_PLUGIN',
  'Route %s %s was declared before fastify-upgrade finished loading, so its websocket/upgrade options were never applied: await app.register(fastifyUpgrade) before declaring it',
  500
)

/** app.asyncapi() before the app is ready: the routes of plugins not loaded yet would be missing. */
export const AsyncApiNotReadyError = createError(
  'FST_UPGRADE_ASYNCAPI_NOT_READY',
  'app.asyncapi() describes the routes of a ready app: call it after await app.ready() (or app.listen())',
  500
)

/** The `asyncapi` option asks for the viewer page and @asyncapi/react-component is not installed. */
export const AsyncApiViewerMissingError = createError<[string]>(
  'FST_UPGRADE_ASYNCAPI_VIEWER_MISSING',
  'The AsyncAPI viewer page needs @asyncapi/react-component, an optional peer dependency: install it (npm install @asyncapi/react-component), or set asyncapi.viewer to false to serve the document only (%s)',
  500
)

/** A topic name that is not a non-empty string of at most `maxTopicLength` characters (subscribe or publish). */
export const InvalidTopicError = createError<[string]>(
  'FST_UPGRADE_INVALID_TOPIC',
  'Invalid topic name: %s',
  400,
  TypeError
)

/** A socket asked to join one topic more than `maxTopicsPerSocket` allows. */
export const TooManyTopicsError = createError<[number]>(
  'FST_UPGRADE_TOO_MANY_TOPICS',
  'A socket may subscribe to at most %s topics',
  400,
  RangeError
)

/** websocketPublish() was given a message that fails its topic's schema, or that cannot be encoded; nothing is sent. */
export const InvalidPublishError = createError<[string, string]>(
  'FST_UPGRADE_INVALID_PUBLISH',
  'Refused to publish to topic "%s": %s',
  500,
  TypeError
)

/** The pub/sub adapter refused a publish at once: too many bytes already wait for the broker. */
export const PubSubOverloadedError = createError<[number]>(
  'FST_UPGRADE_PUBSUB_OVERLOADED',
  'More than %s bytes of publishes wait for the broker',
  503
)
