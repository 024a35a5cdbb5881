// Context of the docs' `<!-- fragment: app -->` snippets: an app with the plugin already
// registered, before any route. A snippet imports from here the names it uses.
import Fastify from 'fastify'
import fastifyUpgrade from '../../../lib/index.js'

export const app = Fastify()
await app.register(fastifyUpgrade)
