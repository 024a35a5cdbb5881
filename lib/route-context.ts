// What every upgrade route of one plugin instance shares: its resolved options, its ws
// handshake servers, its lifecycle and its topics. Declared and built here, passed to each route.
import { Handshake } from './handshake.js'
import { Lifecycle } from './lifecycle.js'
import type { ResolvedOptions } from './options.js'
import { Topics } from './topics.js'

export interface RouteContext {
  options: ResolvedOptions
  handshake: Handshake
  lifecycle: Lifecycle
  topics: Topics
}

export function createRouteContext (options: ResolvedOptions): RouteContext {
  return {
    options,
    handshake: new Handshake(options.ws, options.operations.maxPayload),
    lifecycle: new Lifecycle(),
    topics: new Topics(options, options.pubsub)
  }
}
