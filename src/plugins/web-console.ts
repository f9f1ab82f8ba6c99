import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Where `npm run build` puts the console; the same path from src/ (tsx) and dist/ (node). */
export const DEFAULT_WEB_ROOT = resolve(import.meta.dirname, '../../dist/web')

/** Only plain absolute paths outside the API, so a tampered manifest cannot shadow a route. */
const CLIENT_PATH = /^\/(?:[a-z0-9-]+(?:\/[a-z0-9-]+)*)?$/

/**
 * The console's client-side paths, from the routes.json its build writes (web/src/routes.ts). A
 * reload or a mailed link (/verify-email, /reset-password) lands on one of them and gets the page;
 * anything else outside the API stays a JSON 404.
 */
async function readClientPaths(root: string): Promise<string[]> {
  const manifest = join(root, 'routes.json')
  if (!existsSync(manifest)) return ['/']
  const paths = JSON.parse(await readFile(manifest, 'utf8')) as unknown
  if (!Array.isArray(paths)) throw new Error(`${manifest} must hold an array of paths`)
  return paths.filter((path): path is string => typeof path === 'string' && CLIENT_PATH.test(path) && !/^\/(api|ws|assets)(\/|$)/.test(path))
}

/**
 * Serves the built web console at `/`. Hashed assets are cached for a year; the page itself is
 * revalidated on every load (an ETag makes that a 304) so a deploy shows up at once. When the
 * console was not built (API-only deployments) nothing is registered.
 */
export default fp(
  async function webConsolePlugin(app: FastifyInstance, { root }: { root: string }) {
    const indexPath = join(root, 'index.html')
    if (!existsSync(indexPath)) {
      app.log.debug({ root }, 'web console not built; serving the API only')
      return
    }
    const page = await readFile(indexPath)
    const etag = `"${createHash('sha256').update(page).digest('base64url').slice(0, 27)}"`

    await app.register(fastifyStatic, {
      root: join(root, 'assets'),
      prefix: '/assets/',
      index: false,
      dotfiles: 'deny',
      wildcard: true,
      immutable: true,
      maxAge: '365d',
      schemaHide: true,
    })
    for (const url of await readClientPaths(root)) {
      app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
        reply.header('cache-control', 'no-cache').header('etag', etag)
        if (request.headers['if-none-match'] === etag) return reply.code(304).send()
        return reply.type('text/html; charset=utf-8').send(page)
      })
    }
    if (existsSync(join(root, 'favicon.svg'))) {
      const icon = await readFile(join(root, 'favicon.svg'))
      app.get('/favicon.svg', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
        reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(icon),
      )
    }
  },
  { name: 'web-console' },
)
