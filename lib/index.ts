// The plugin: reads options, wires the pieces together, decorates the instance.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { serveAsyncApi } from './asyncapi.js'
import { injectWS } from './inject.js'
import { resolvePluginOptions, type FastifyUpgradeOptions } from './options.js'
import { isWebSocketRequest, wrapRoute } from './route.js'
import { createRouteContext } from './route-context.js'
import { acceptExtendedConnect } from './http2.js'
import { HandshakeDeadlines } from './handshake-deadlines.js'
import { runPreClose } from './pre-close.js'
import type { PublishOptions } from './topics.js'
import { createUpgradeListener, rememberReply, serveNonUpgradesAsRequests } from './upgrade-listener.js'
import '../types/index.js'

async function fastifyUpgrade (app: FastifyInstance, pluginOptions: FastifyUpgradeOptions): Promise<void> {
  const options = resolvePluginOptions(pluginOptions)
  const context = createRouteContext(options)

  app.decorate('websocketServer', context.handshake.server)
  app.decorate('injectWS', injectWS)
  app.decorate('websocketStats', () => context.lifecycle.stats.snapshot(context.topics.snapshot()))
  const topics = context.topics
  app.decorate('websocketPublish', (topic: string, message: unknown, publishOptions?: PublishOptions) => topics.publish(topic, message, publishOptions))
  app.decorate('websocketTopic', function (this: FastifyInstance, pattern: string, schema: unknown) {
    topics.declare(pattern, schema)
    context.asyncapi.declareTopic(pattern, schema)
    return this
  })
  topics.start(app.log)
  app.decorate('asyncapi', () => context.asyncapi.document())
  // A getter on the request prototype: right in hooks added before the plugin too, and
  // nothing stored per request.
  app.decorateRequest('ws', { getter: isWebSocketRequest })
  app.addHook('onRoute', function (route) { wrapRoute(route, context, this) })
  app.addHook('onReady', function (done) {
    context.asyncapi.ready()
    done()
  })
  if (options.asyncapi.path !== undefined) await serveAsyncApi(app, context.asyncapi, options.asyncapi.path)

  app.addHook('onRequest', rememberReply)

  const handshakeDeadlines = new HandshakeDeadlines(options.handshakeTimeout)
  const deadlines = { handshake: handshakeDeadlines, refusalLinger: options.refusalLinger }
  const onUpgrade = createUpgradeListener(app, context.lifecycle, deadlines)
  app.server.on('upgrade', onUpgrade)
  const restoreUpgradeDecision = serveNonUpgradesAsRequests(app)
  // HTTP/2 apps: WebSockets as extended CONNECT streams, through the same route path.
  const stopExtendedConnect = options.extendedConnect ? acceptExtendedConnect(app, context.lifecycle, deadlines) : noop

  // preClose runs before the HTTP server closes; the server would otherwise wait
  // forever for upgraded sockets, which it no longer manages.
  // closeTimeout bounds the user's preClose and the built-in shutdown together.
  app.addHook('preClose', async () => {
    const deadline = Date.now() + options.closeTimeout
    context.lifecycle.closing = true
    if (options.preClose !== undefined) await runPreClose(app, options.preClose, options.closeTimeout)
    await context.lifecycle.shutdown(Math.max(0, deadline - Date.now()))
  })
  app.addHook('onClose', async () => {
    app.server.removeListener('upgrade', onUpgrade)
    restoreUpgradeDecision()
    stopExtendedConnect()
    context.lifecycle.timer.stop()
    handshakeDeadlines.stop()
    context.handshake.close()
    // Every connection has closed and left its topics: the adapter ends its connections.
    await topics.close()
  })
}

function noop (): void {}

export default fp(fastifyUpgrade, { fastify: '5.x', name: 'fastify-upgrade' })

export { CloseCode } from './close-codes.js'
export { upgradeRequired } from './route.js'
export type { WebSocketStats, TopicStats, TopicTotals } from './stats.js'
export type { PubSubAdapter } from './pubsub.js'
export type { PublishOptions, PublishResult } from './topics.js'
export type { RateLimit } from './rate-limit.js'
export type { AllowedOrigins } from './origin.js'
export { WebSocketConnection } from './connection.js'
export type { AnyWebSocketConnection, RawMessage, RawSendData, ConnectionEvents, SendOptions } from './connection.js'
export { InvalidMessage } from './messages.js'
export type { InvalidMessageCode, InvalidMessageReply } from './messages.js'
export type { FastifyUpgradeOptions, WebSocketRouteOptions, WebSocketErrorHandler, WsServerOptions, InvalidMessagePolicy, SelectProtocol, Heartbeat, OperationalOptions } from './options.js'
export type { InjectWSOptions, InjectWSHooks, InjectRejection } from './inject.js'
export type { AsyncApiOptions, AsyncApiDocument, AsyncApiInfo, AsyncApiServer, AsyncApiExtraFields, AsyncApiChannel, AsyncApiMessage, AsyncApiOperation, AsyncApiParameter, AsyncApiWebSocketBinding, AsyncApiReference, AsyncApiTag, AsyncApiExternalDocs, AsyncApiComponents, JsonSchema } from './asyncapi.js'
export type * from '../types/index.js'
