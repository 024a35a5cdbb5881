// What every upgrade route of one plugin instance shares: its resolved options, its ws
// handshake servers and its lifecycle. Declared and built here, passed to each route.
import { Handshake } from './handshake.js'
import { Lifecycle } from './lifecycle.js'
import type { ResolvedOptions } from './options.js'

export interface RouteContext {
  options: ResolvedOptions
  handshake: Handshake
  lifecycle: Lifecycle
}

export function createRouteContext (options: ResolvedOptions): RouteContext {
  return {
    options,
    handshake: new Handshake(options.ws, options.operations.maxPayload),
    lifecycle: new Lifecycle(options.clock)
  }
}
