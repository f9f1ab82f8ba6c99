import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { useTestContext } from '../helpers/test-context.js'

const CLIENT_PATHS = ['/', '/login', '/verify-email', '/reset-password', '/admin/users']

/** A stand-in build output: the plugin serves whatever Vite wrote, so two files are enough. */
function fakeBuild(): string {
  const root = mkdtempSync(join(tmpdir(), 'carbelsad-web-'))
  mkdirSync(join(root, 'assets'))
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>console</title><script type="module" src="/assets/app-1a2b3c.js"></script>')
  writeFileSync(join(root, 'assets', 'app-1a2b3c.js'), 'console.log("console")')
  writeFileSync(join(root, 'assets', '.env'), 'SECRET=1')
  // The console's build writes its paths here; the last two must never become page routes.
  writeFileSync(join(root, 'routes.json'), JSON.stringify([...CLIENT_PATHS, '/api/v1/users/me', '../etc']))
  return root
}

describe('web console serving', () => {
  const ctx = useTestContext()
  const root = fakeBuild()
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('serves the page at every client route, revalidated on each load, with the CSP', async () => {
    const app = await ctx.buildApp({}, { webRoot: root })
    for (const url of [...CLIENT_PATHS, '/verify-email?token=abc', '/reset-password?token=abc']) {
      const response = await app.inject({ url })
      expect(response.statusCode, url).toBe(200)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(response.headers['cache-control']).toBe('no-cache')
      expect(response.body).toContain('<title>console</title>')
    }
    const first = await app.inject({ url: '/login' })
    const revalidated = await app.inject({ url: '/login', headers: { 'if-none-match': String(first.headers.etag) } })
    expect(revalidated.statusCode).toBe(304)
    expect(revalidated.body).toBe('')
    const csp = String((await app.inject({ url: '/' })).headers['content-security-policy'])
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain('connect-src')
  })

  it('serves hashed assets with a year of caching and keeps the API and unknown paths JSON 404s', async () => {
    const app = await ctx.buildApp({}, { webRoot: root })
    const asset = await app.inject({ url: '/assets/app-1a2b3c.js' })
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['content-type']).toMatch(/javascript/)
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable')

    // The manifest's API path was not taken over by the page.
    expect((await app.inject({ url: '/api/v1/users/me' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/assets/.env' })).body).not.toContain('SECRET')
    for (const url of ['/assets/missing.js', '/api/v1/nothing', '/no-such-page', '/assets/../index.html']) {
      const response = await app.inject({ url })
      expect(response.statusCode, url).toBe(404)
      expect(response.json()).toEqual({ detail: 'Not Found', code: 'not_found' })
    }
    // The console is not part of the API description.
    const paths = Object.keys((await app.inject({ url: '/api/openapi.json' })).json().paths as object)
    expect(paths.every((path) => path.startsWith('/api/'))).toBe(true)
  })

  it('serves the API alone when the console was not built', async () => {
    const app = await ctx.buildApp({}, { webRoot: join(root, 'missing') })
    expect((await app.inject({ url: '/' })).statusCode).toBe(404)
    expect((await app.inject({ url: '/api/v1/health/' })).statusCode).toBe(200)
  })
})
