// The `preClose` option: the application's own step at `app.close()` (a goodbye message,
// say), run before the built-in shutdown and never allowed to stop it.
import type { FastifyInstance } from 'fastify'
import type { FastifyUpgradeOptions } from './options.js'

type PreClose = NonNullable<FastifyUpgradeOptions['preClose']>

/**
 * Runs `preClose` (async, or calling `done`, like a Fastify preClose hook) for at most
 * `timeout` ms. Its error is logged and a late one is waited for no longer: either way
 * the shutdown goes on.
 */
export async function runPreClose (app: FastifyInstance, preClose: PreClose, timeout: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const finished = new Promise<boolean>((resolve, reject) => {
    const done = (error?: Error): void => { if (error == null) resolve(true); else reject(error) }
    const result = preClose.call(app, done)
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      (result as PromiseLike<unknown>).then(() => { resolve(true) }, reject)
    } else if (preClose.length === 0) {
      resolve(true)
    }
  })
  const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, timeout, false) })
  try {
    if (!await Promise.race([finished, timedOut])) {
      app.log.warn({ closeTimeout: timeout }, 'fastify-upgrade preClose did not finish within closeTimeout: shutting down anyway')
    }
  } catch (error) {
    app.log.error({ err: error }, 'fastify-upgrade preClose failed')
  } finally {
    clearTimeout(timer)
  }
}
