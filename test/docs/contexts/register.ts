// Context of the docs' `<!-- fragment: register -->` snippets: an app the plugin is not yet
// registered on, and the plugin, for snippets that show `app.register(fastifyUpgrade, options)`.
import Fastify from 'fastify'
import fastifyUpgrade from '../../../lib/index.js'

export { fastifyUpgrade }
export const app = Fastify()
