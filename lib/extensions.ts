// Sec-WebSocket-Extensions (RFC 6455 section 9.1) parsing. Pure. ws negotiates the
// extensions it supports (permessage-deflate); this parser lets a malformed header get a
// clear 400 before the handshake.
//
//   extension-list = 1#extension
//   extension      = extension-token *( ";" extension-param )
//   extension-param = token [ "=" (token | quoted-string) ]
//
// A quoted value must, once unescaped, be a token too (section 9.1).
import { tokenCharPattern, tokenPattern } from './headers.js'

export interface ExtensionOffer {
  name: string
  params: Array<[name: string, value: string | true]>
}

const whitespace = new Set([' ', '\t'])

class Scanner {
  index = 0
  constructor (readonly text: string) {}

  skipWhitespace (): void {
    while (whitespace.has(this.text[this.index] as string)) this.index++
  }

  peek (): string | undefined { return this.text[this.index] }

  token (): string | undefined {
    const start = this.index
    while (this.index < this.text.length && tokenCharPattern.test(this.text[this.index] as string)) this.index++
    return this.index > start ? this.text.slice(start, this.index) : undefined
  }

  quoted (): string | undefined {
    this.index++ // the opening quote
    let value = ''
    while (this.index < this.text.length) {
      const char = this.text[this.index++] as string
      if (char === '"') return value
      if (char === '\\') {
        if (this.index >= this.text.length) return undefined
        value += this.text[this.index++] as string
      } else {
        value += char
      }
    }
    return undefined // no closing quote
  }
}

/** The offers written back as a header value, without empty elements or quotes (values are tokens). */
export function formatExtensions (offers: ExtensionOffer[]): string {
  return offers.map(({ name, params }) =>
    [name, ...params.map(([param, value]) => value === true ? param : `${param}=${value}`)].join('; ')
  ).join(', ')
}

/** The offered extensions in order, or undefined when the header is malformed. */
export function parseExtensions (value: string | undefined): ExtensionOffer[] | undefined {
  if (value === undefined) return []
  const offers: ExtensionOffer[] = []
  const scan = new Scanner(value)
  for (;;) {
    scan.skipWhitespace()
    if (scan.peek() === ',') { scan.index++; continue } // empty list element
    if (scan.peek() === undefined) return offers
    const name = scan.token()
    if (name === undefined) return undefined
    const offer: ExtensionOffer = { name, params: [] }
    offers.push(offer)
    scan.skipWhitespace()
    while (scan.peek() === ';') {
      scan.index++
      scan.skipWhitespace()
      const param = scan.token()
      if (param === undefined) return undefined
      scan.skipWhitespace()
      let paramValue: string | true = true
      if (scan.peek() === '=') {
        scan.index++
        scan.skipWhitespace()
        const raw = scan.peek() === '"' ? scan.quoted() : scan.token()
        if (raw === undefined || !tokenPattern.test(raw)) return undefined
        paramValue = raw
        scan.skipWhitespace()
      }
      offer.params.push([param, paramValue])
    }
    const next = scan.peek()
    if (next !== undefined && next !== ',') return undefined
  }
}
