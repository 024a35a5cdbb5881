// "line/1": a tiny line-based protocol, reached with `Upgrade: line/1` on an HTTP/1.1
// request. The server greets, then answers one line per line received:
//   PING        -> PONG
//   ECHO <text> -> <text>
//   QUIT        -> BYE, and the server ends the stream
//   anything else -> ERR unknown command
import type { Duplex } from 'node:stream'
import { createInterface } from 'node:readline'
import type { FastifyRequest } from 'fastify'

export function lineProtocol (stream: Duplex, request: FastifyRequest): void {
  const user = (request.query as { user?: string }).user ?? 'stranger'
  stream.write(`HELLO ${user}\n`)
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  lines.on('line', (line) => {
    const [command = '', ...rest] = line.split(' ')
    if (command === 'PING') stream.write('PONG\n')
    else if (command === 'ECHO') stream.write(`${rest.join(' ')}\n`)
    else if (command === 'QUIT') stream.end('BYE\n')
    else stream.write('ERR unknown command\n')
  })
}
