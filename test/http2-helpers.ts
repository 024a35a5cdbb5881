// HTTP/2 test plumbing: TLS and cleartext HTTP/2 apps, sessions, and WebSocket clients
// over RFC 8441 extended CONNECT streams. Node has no such client: ws runs in client mode
// over the stream, through the same socket hand-over (setSocket) the server side uses.
import { readFileSync } from 'node:fs'
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import * as wsModule from 'ws'
import { WebSocket } from 'ws'
import fastifyUpgrade, { type FastifyUpgradeOptions } from '../lib/index.js'
import { track, within } from './helpers.js'

// A self-signed certificate for CN=localhost (SAN DNS:localhost, IP:127.0.0.1), made once
// with openssl for these tests only. It protects nothing: never use it outside the tests.
export const key = readFileSync(new URL('./fixtures/localhost-key.pem', import.meta.url))
export const cert = readFileSync(new URL('./fixtures/localhost-cert.pem', import.meta.url))

/** The subtest type (the last overload of t.test is `(cb)`). */
export type Test = Parameters<Parameters<typeof t.test>[0]>[0]

export interface Http2App { app: FastifyInstance, port: number, origin: string }

/**
 * An HTTP/2 app with the plugin, routes from `setup`, listening on 127.0.0.1: over TLS
 * (`tls`, with allowHTTP1 unless `fastifyOptions.https` says otherwise) or cleartext.
 * The instance type is the HTTP/1 one so that route options type-check as everywhere else.
 */
export async function listenHttp2 (
  setup: (app: FastifyInstance) => void | Promise<void>,
  { tls = true, options = {}, fastifyOptions = {} }: { tls?: boolean, options?: FastifyUpgradeOptions, fastifyOptions?: Record<string, unknown> } = {}
): Promise<Http2App> {
  const serverOptions = tls ? { http2: true, https: { allowHTTP1: true, key, cert }, ...fastifyOptions } : { http2: true, ...fastifyOptions }
  const app = Fastify(serverOptions as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance
  await app.register(fastifyUpgrade, options)
  await setup(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { app, port, origin: `${tls ? 'https' : 'http'}://127.0.0.1:${port}` }
}

/** Opens an HTTP/2 session (its remote settings received), closed (or destroyed) in teardown. */
export async function h2connect (t: Test, origin: string, options: http2.SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  const session = http2.connect(origin, { rejectUnauthorized: false, ...options })
  t.teardown(async () => { await closeSession(session) })
  session.on('error', () => {}) // a test that resets the session reads the outcome elsewhere
  await within(new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => { resolve() })
    session.once('error', reject)
  }), 3000, `HTTP/2 settings from ${origin}`)
  return session
}

export async function closeSession (session: ClientHttp2Session): Promise<void> {
  if (session.destroyed) return
  try {
    await within(new Promise<void>((resolve) => { session.close(resolve) }), 1000, 'HTTP/2 session close')
  } catch {
    session.destroy()
  }
}

export type ResponseHeaders = IncomingHttpHeaders & IncomingHttpStatusHeader

export interface H2Response { status: number, headers: ResponseHeaders, body: string }

/**
 * Reads an answer's body to its end, then closes the client's side of the stream. A
 * CONNECT stream's side stays open after the server's answer; on Node 20, a client whose
 * stream is closed that way by the server later spins forever in nghttp2 when it resets
 * another stream of the session (Node 22 and 24 do not): the client closes it first.
 */
async function refusalBody (stream: ClientHttp2Stream, what: string): Promise<string> {
  let body = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => { body += chunk })
  await within(new Promise<void>((resolve) => {
    if (stream.readableEnded) resolve()
    else stream.once('end', resolve)
  }), 3000, what)
  if (!stream.closed) stream.close()
  return body
}

/** One request over a session, its whole answer, bounded in time. */
export async function h2request (session: ClientHttp2Session, headers: OutgoingHttpHeaders, ms = 3000): Promise<H2Response> {
  const stream = session.request(headers, { endStream: headers[':method'] !== 'CONNECT' })
  stream.on('error', () => {})
  const received = await within(new Promise<ResponseHeaders>((resolve, reject) => {
    stream.once('response', resolve)
    stream.once('close', () => { reject(new Error(`stream closed before a response (rstCode ${stream.rstCode})`)) })
  }), ms, `HTTP/2 ${String(headers[':method'] ?? 'GET')} ${String(headers[':path'])}`)
  const body = await refusalBody(stream, `the body of ${String(headers[':path'])}`)
  return { status: Number(received[':status']), headers: received, body }
}

export async function h2get (session: ClientHttp2Session, path: string): Promise<H2Response> {
  return await h2request(session, { ':method': 'GET', ':path': path })
}

/** The headers of an extended CONNECT for a WebSocket at `path` (RFC 8441 section 5). */
export function connectHeaders (session: ClientHttp2Session, path: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': session.encrypted === true ? 'https' : 'http',
    ':path': path,
    ':authority': `localhost:${(session.socket.remotePort as number)}`,
    'sec-websocket-version': '13',
    ...extra
  }
}

interface Deflate {
  offer: () => Record<string, unknown>
  accept: (response: unknown[]) => Record<string, unknown>
}
const { PerMessageDeflate, extension } = wsModule as unknown as {
  PerMessageDeflate: new (options: object) => Deflate
  extension: { parse: (header: string) => Record<string, unknown[]>, format: (extensions: Record<string, unknown[]>) => string }
}

export interface H2WebSocketOptions {
  protocols?: string[]
  /** Offer permessage-deflate (with these client options). */
  deflate?: boolean
  headers?: OutgoingHttpHeaders
}

/** An open WebSocket over a CONNECT stream, or the HTTP/2 answer that refused it. */
export type H2Outcome =
  | { status: 200, headers: ResponseHeaders, ws: WebSocket, stream: ClientHttp2Stream }
  | { status: number, headers: ResponseHeaders, body: string, stream: ClientHttp2Stream }

/**
 * Opens a WebSocket at `path` as an extended CONNECT stream on `session`: on :status 200,
 * a ws WebSocket in client mode (it masks its frames) runs over the stream; otherwise the
 * answer's status, headers and body.
 */
export async function h2WebSocket (session: ClientHttp2Session, path: string, options: H2WebSocketOptions = {}): Promise<H2Outcome> {
  const headers = connectHeaders(session, path, options.headers)
  if (options.protocols !== undefined) headers['sec-websocket-protocol'] = options.protocols.join(', ')
  const deflate = options.deflate === true ? new PerMessageDeflate({ isServer: false, maxPayload: 0 }) : undefined
  if (deflate !== undefined) headers['sec-websocket-extensions'] = extension.format({ 'permessage-deflate': [deflate.offer()] })
  const stream = session.request(headers, { endStream: false })
  stream.on('error', () => {}) // resets are read from the outcome and rstCode
  const response = await within(new Promise<ResponseHeaders>((resolve, reject) => {
    stream.once('response', resolve)
    stream.once('close', () => { reject(new Error(`stream closed before a response (rstCode ${stream.rstCode})`)) })
  }), 3000, `the answer to CONNECT ${path}`)
  const status = Number(response[':status'])
  if (status !== 200) {
    const body = await refusalBody(stream, `the refusal of CONNECT ${path}`)
    return { status, headers: response, body, stream }
  }
  // ws' server-side constructor (address null) reads these two options; the client-side ones are set below.
  const ws = track(new WebSocket(null as unknown as string, undefined, { autoPong: true, closeTimeout: 5000 } as object))
  const internals = ws as unknown as { _isServer: boolean, _protocol: string, _extensions: Record<string, unknown>, setSocket: (socket: unknown, head: Buffer, options: object) => void }
  internals._isServer = false
  const protocol = response['sec-websocket-protocol']
  if (typeof protocol === 'string') internals._protocol = protocol
  const accepted = response['sec-websocket-extensions']
  if (deflate !== undefined && typeof accepted === 'string') {
    deflate.accept(extension.parse(accepted)['permessage-deflate'] as unknown[])
    internals._extensions = { 'permessage-deflate': deflate }
  }
  internals.setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload: 0 })
  return { status, headers: response, ws, stream }
}

/** h2WebSocket, failing unless the WebSocket opened. */
export async function openH2WebSocket (session: ClientHttp2Session, path: string, options: H2WebSocketOptions = {}): Promise<{ ws: WebSocket, stream: ClientHttp2Stream, headers: ResponseHeaders }> {
  const outcome = await h2WebSocket(session, path, options)
  if (!('ws' in outcome)) throw new Error(`CONNECT ${path} refused with ${outcome.status}: ${outcome.body}`)
  return outcome
}
