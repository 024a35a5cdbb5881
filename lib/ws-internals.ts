// The few places where the plugin relies on ws beyond its documented API, gathered here
// so that a change in ws breaks one file (test/ws-internals.test.ts checks each of them
// on the installed ws). They complete a handshake that did not come through an HTTP/1.1
// socket (an HTTP/2 extended CONNECT stream): ws' WebSocketServer.completeUpgrade does
// the same steps, less the 101 it writes onto the socket.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import * as ws from 'ws'
import type { PerMessageDeflateOptions, ServerOptions, WebSocket, WebSocketServer } from 'ws'

/** The options a ws server was built with, defaults filled in (ws keeps them as `server.options`). */
interface ServerInternals {
  options: Required<Pick<ServerOptions, 'allowSynchronousEvents' | 'maxPayload' | 'skipUTF8Validation'>> & {
    WebSocket: new (address: null, protocols: undefined, options: object) => WebSocket
    perMessageDeflate: false | PerMessageDeflateOptions
    handleProtocols: (offered: Set<string>, request: IncomingMessage) => string | false
    maxBufferedChunks?: number
    maxFragments?: number
  }
  clients?: Set<WebSocket>
}

/** A server-side ws socket before it has a transport. */
interface SocketInternals {
  _protocol: string
  _extensions: Record<string, unknown>
  setSocket: (socket: Duplex, head: Buffer, options: object) => void
}

/** ws' permessage-deflate negotiator. */
interface Deflate {
  accept: (offers: unknown[]) => Record<string, unknown>
  params: Record<string, unknown>
}

/** What ws exports beside its documented classes, and @types/ws does not declare. */
interface WsExtras {
  PerMessageDeflate: new (options: object) => Deflate
  extension: {
    parse: (header: string) => Record<string, unknown[]>
    format: (extensions: Record<string, unknown[]>) => string
  }
}
const { PerMessageDeflate, extension } = ws as unknown as WsExtras
const extensionName = 'permessage-deflate'

/** What a handshake negotiated with ws' rules: the socket's extensions, and the response header naming them. */
export interface NegotiatedExtensions {
  extensions: Record<string, unknown>
  /** The Sec-WebSocket-Extensions response value; undefined when none was accepted. */
  header: string | undefined
}

// Most handshakes negotiate nothing: one answer for all of them (ws gives each socket a fresh map, below).
const noExtensions: NegotiatedExtensions = Object.freeze({ extensions: Object.freeze({}), header: undefined })

/**
 * permessage-deflate as ws' server negotiates it, with the server's options: the
 * extension to give the socket and the response header. `offer` is the client's
 * Sec-WebSocket-Extensions as normalised by negotiate.ts.
 * @throws when the offer's parameters are unacceptable (ws answers such an HTTP/1.1 handshake with 400)
 */
export function negotiateExtensions (server: WebSocketServer, offer: string | undefined): NegotiatedExtensions {
  const options = (server as unknown as ServerInternals).options
  if (options.perMessageDeflate === false || offer === undefined) return noExtensions
  const offers = extension.parse(offer)[extensionName]
  if (offers === undefined) return noExtensions
  const deflate = new PerMessageDeflate({ ...options.perMessageDeflate, isServer: true, maxPayload: options.maxPayload })
  deflate.accept(offers)
  return { extensions: { [extensionName]: deflate }, header: extension.format({ [extensionName]: [deflate.params] }) }
}

/**
 * The subprotocol ws' server picks among `offered` (its handleProtocols option, which
 * the plugin sets: see handshake.ts); '' for none.
 */
export function chooseProtocol (server: WebSocketServer, offered: string[], request: IncomingMessage): string {
  if (offered.length === 0) return ''
  const chosen = (server as unknown as ServerInternals).options.handleProtocols(new Set(offered), request)
  return typeof chosen === 'string' ? chosen : ''
}

/**
 * Creates the server's socket as ws' completeUpgrade does: its WebSocket class with all
 * of its options (the closing handshake's timeout, autoPong...), the chosen subprotocol
 * and extensions, then runs it over `transport` with the server's receiver options
 * (maxPayload, fragments, UTF-8 validation) and tracks it among the server's clients.
 * Must run inside connection.ts' `accepting()`, like handleUpgrade.
 */
export function openSocket (server: WebSocketServer, transport: Duplex, protocol: string, negotiated: NegotiatedExtensions): WebSocket {
  const { options, clients } = server as unknown as ServerInternals
  const socket = new options.WebSocket(null, undefined, options)
  const internals = socket as unknown as SocketInternals
  internals._protocol = protocol
  if (negotiated.header !== undefined) internals._extensions = negotiated.extensions
  if (clients !== undefined) {
    clients.add(socket)
    socket.once('close', () => { clients.delete(socket) })
  }
  internals.setSocket(transport, emptyHead, {
    allowSynchronousEvents: options.allowSynchronousEvents,
    maxBufferedChunks: options.maxBufferedChunks,
    maxFragments: options.maxFragments,
    maxPayload: options.maxPayload,
    skipUTF8Validation: options.skipUTF8Validation
  })
  return socket
}

const emptyHead = Buffer.alloc(0)
