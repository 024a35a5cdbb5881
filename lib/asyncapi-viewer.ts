// The AsyncAPI viewer page (the `asyncapi` option's `path`, viewer on): a page at <path> that
// renders <path>.json with @asyncapi/react-component's standalone bundle, the bundle and its
// stylesheet served from the installed package (an optional peer dependency) at
// <path>/standalone.js and <path>/default.min.css. Nothing is fetched from anywhere else,
// and Node never loads the bundle: it only runs in the browser. lib/asyncapi.ts imports
// this file only when the viewer is asked for.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import type { FastifyInstance, FastifySchema } from 'fastify'
import { AsyncApiViewerMissingError } from './errors.js'

/** Finds a file of an installed package, as require.resolve does; throws when it is missing. */
export type Resolve = (specifier: string) => string

const assets = [
  { name: 'standalone.js', file: '@asyncapi/react-component/browser/standalone/index.js', type: 'text/javascript; charset=utf-8' },
  { name: 'default.min.css', file: '@asyncapi/react-component/styles/default.min.css', type: 'text/css; charset=utf-8' }
] as const

// Renders the document named by the container's data-document, with the sidebar (shown on
// wide screens) listing operations by their channel's address rather than their id. A file
// of its own rather than inline, so that a Content-Security-Policy without 'unsafe-inline'
// scripts allows it.
const startScript = `'use strict'
const root = document.getElementById('asyncapi')
AsyncApiStandalone.render({
  schema: { url: root.dataset.document, requestOptions: { method: 'GET' } },
  config: { show: { sidebar: true }, sidebar: { useChannelAddressAsIdentifier: true } }
}, root)
`

const hidden: FastifySchema = { hide: true }

/**
 * Registers the viewer's routes. `resolve` finds the package's files (injected by tests);
 * throws FST_UPGRADE_ASYNCAPI_VIEWER_MISSING when they are not installed.
 */
export function serveViewer (app: FastifyInstance, path: string, title: string, resolve: Resolve = createRequire(import.meta.url).resolve): void {
  let files: Array<{ name: string, path: string, type: string }>
  try {
    files = assets.map(({ name, file, type }) => ({ name, path: resolve(file), type }))
  } catch (error) {
    throw new AsyncApiViewerMissingError(String((error as Error).message).split('\n')[0] as string)
  }
  // The page's links are relative to it (<path> is checked to be plain segments), so they
  // keep working behind a proxy that mounts the app under a prefix.
  const base = path.slice(path.lastIndexOf('/') + 1)
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}/default.min.css">
</head>
<body>
<div id="asyncapi" data-document="${base}.json"></div>
<script src="${base}/standalone.js"></script>
<script src="${base}/start.js"></script>
</body>
</html>
`
  app.get(path, { schema: hidden }, (_request, reply) => {
    reply.type('text/html; charset=utf-8').send(page)
  })
  app.get(`${path}/start.js`, { schema: hidden }, (_request, reply) => {
    reply.type('text/javascript; charset=utf-8').send(startScript)
  })
  for (const file of files) {
    app.get(`${path}/${file.name}`, { schema: hidden }, (_request, reply) => {
      reply.type(file.type).send(fs.createReadStream(file.path))
    })
  }
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}
