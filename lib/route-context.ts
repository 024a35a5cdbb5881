// What every upgrade route of one plugin instance shares: its resolved options, its ws
// handshake servers, its lifecycle, its topics and its AsyncAPI catalog. Declared and built
// here, passed to each route.
import { AsyncApiCatalog } from './asyncapi.js'
import { Handshake } from './handshake.js'
import { Lifecycle } from './lifecycle.js'
import type { ResolvedOptions } from './options.js'
import { Topics } from './topics.js'

export interface RouteContext {
  options: ResolvedOptions
  handshake: Handshake
  lifecycle: Lifecycle
  /** What the routes declare, for app.asyncapi(). */
  asyncapi: AsyncApiCatalog
  topics: Topics
}

export function createRouteContext (options: ResolvedOptions): RouteContext {
  return {
    options,
    handshake: new Handshake(options.ws, options.operations.maxPayload),
    lifecycle: new Lifecycle(options.clock),
    asyncapi: new AsyncApiCatalog(options.asyncapi),
    topics: new Topics(options, options.pubsub)
  }
}
