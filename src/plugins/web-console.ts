import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Where `npm run build` puts the console; the same path from src/ (tsx) and dist/ (node). */
export const DEFAULT_WEB_ROOT = resolve(import.meta.dirname, '../../dist/web')

/**
 * The console's client-side routes. A reload or a mailed link (/verify-email, /reset-password)
 * lands on one of these and gets the page; anything else outside /api stays a JSON 404.
 */
export const CONSOLE_ROUTES = [
  '/',
  '/login',
  '/register',
  '/two-factor',
  '/forgot-password',
  '/reset-password',
  '/verify-email',
  '/profile',
  '/security',
  '/admin/users',
  '/admin/audit',
  '/live',
  '/status',
] as const

/**
 * Serves the built web console at `/`. Hashed assets are cached for a year; the page itself is
 * revalidated on every load so a deploy shows up at once. When the console was not built (API-only
 * deployments) nothing is registered.
 */
export default fp(
  async function webConsolePlugin(app: FastifyInstance, { root }: { root: string }) {
    const indexPath = join(root, 'index.html')
    if (!existsSync(indexPath)) {
      app.log.debug({ root }, 'web console not built; serving the API only')
      return
    }
    const page = await readFile(indexPath)

    await app.register(fastifyStatic, {
      root: join(root, 'assets'),
      prefix: '/assets/',
      index: false,
      wildcard: true,
      immutable: true,
      maxAge: '365d',
      schemaHide: true,
    })
    for (const url of CONSOLE_ROUTES) {
      app.get(url, { schema: { hide: true } }, async (_request, reply) =>
        reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page),
      )
    }
    for (const file of ['favicon.svg', 'robots.txt']) {
      if (!existsSync(join(root, file))) continue
      const body = await readFile(join(root, file))
      app.get(`/${file}`, { schema: { hide: true } }, async (_request, reply) =>
        reply.type(file.endsWith('.svg') ? 'image/svg+xml' : 'text/plain; charset=utf-8').header('cache-control', 'public, max-age=86400').send(body),
      )
    }
  },
  { name: 'web-console' },
)
