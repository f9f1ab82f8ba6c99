import { describe, expect, it } from 'vitest'
import { createPrincipalCache } from '../../src/modules/auth/principal-cache.js'
import type { Principal } from '../../src/modules/auth/principal.js'
import { PRINCIPAL_NEAR_TTL_MS } from '../../src/plugins/auth.js'
import { setUserColumns, signedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

describe('the hottest routes do no avoidable work', () => {
  it('answers the API with the short header set and the docs and console pages with the full one', async () => {
    const app = await context.buildApp()
    const api = await app.inject({ url: '/api/v1/health/' })
    expect(api.statusCode).toBe(200)
    expect(api.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'")
    expect(api.headers['x-content-type-options']).toBe('nosniff')
    expect(api.headers['x-frame-options']).toBe('DENY')
    expect(api.headers['referrer-policy']).toBe('no-referrer')
    expect(api.headers['x-dns-prefetch-control']).toBeUndefined()
    expect(api.headers['cross-origin-opener-policy']).toBeUndefined()
    const docs = await app.inject({ url: '/api/docs' })
    expect(String(docs.headers['content-security-policy'])).toContain("script-src 'self'")
    expect(docs.headers['cross-origin-opener-policy']).toBe('same-origin')
  })

  it('sends CORS headers only to a cross-origin request from an allowed origin, and always Vary: Origin', async () => {
    const app = await context.buildApp({ ALLOWED_ORIGINS: 'http://good.example' })
    const plain = await app.inject({ url: '/api/v1/health/' })
    expect(plain.headers.vary).toContain('Origin')
    expect(Object.keys(plain.headers).filter((name) => name.startsWith('access-control-'))).toEqual([])
    const allowed = await app.inject({ url: '/api/v1/health/', headers: { origin: 'http://good.example' } })
    expect(allowed.headers['access-control-allow-origin']).toBe('http://good.example')
    expect(allowed.headers['access-control-allow-credentials']).toBe('true')
    expect(String(allowed.headers['access-control-expose-headers'])).toContain('X-Request-ID')
    const denied = await app.inject({ url: '/api/v1/health/', headers: { origin: 'http://evil.example' } })
    expect(Object.keys(denied.headers).filter((name) => name.startsWith('access-control-'))).toEqual([])
 
    // Preflights are answered before authentication and rate limits, and are their own route (`*`),
    // not an unknown path: the metrics count them apart from 404s.
    const preflight = await app.inject({ method: 'OPTIONS', url: '/api/v1/auth/login', headers: { origin: 'http://good.example', 'access-control-request-method': 'POST' } })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['cache-control']).toBeUndefined()
    const unknown = await app.inject({ method: 'OPTIONS', url: '/api/v1/auth/login', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } })
    expect(unknown.statusCode).toBe(404)
    const metrics = await app.inject({ url: '/metrics' })
    expect(metrics.body).toMatch(/^http_request_duration_seconds_count\{[^}]*method="OPTIONS",route="\*",status_code="204"[^}]*\} 1$/m)
  })

  it('serves GET /users/me from the in-process copy: one shared-cache load for a burst, a fresh one after a change', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const loads: string[] = []
    const getOrSet = app.cache.getOrSet.bind(app.cache)
    app.cache.getOrSet = ((key: string, ttl: number, load: () => Promise<unknown>) => {
      loads.push(key)
      return getOrSet(key, ttl, load)
    }) as typeof app.cache.getOrSet

    for (let index = 0; index < 50; index += 1) {
      const response = await app.inject({ url: '/api/v1/users/me', headers: user.headers })
      expect(response.statusCode).toBe(200)
    }
    expect(loads.filter((key) => key === `user:${user.id}`).length).toBeLessThanOrEqual(1)

    // A change goes through invalidateUser: the very next request sees it.
    await setUserColumns(app, user.id, { firstName: 'Changed' })
    const after = await app.inject({ url: '/api/v1/users/me', headers: user.headers })
    expect(after.json().first_name).toBe('Changed')
    await setUserColumns(app, user.id, { isActive: false })
    expect((await app.inject({ url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(401)
  })
})

describe('principal cache', () => {
  const principal = (id: number) => ({ id, username: `u${id}` }) as unknown as Principal

  it('expires entries after its lifetime and drops the oldest beyond its size', () => {
    let clock = 1_000
    const cache = createPrincipalCache({ ttlMs: PRINCIPAL_NEAR_TTL_MS, maxEntries: 2, now: () => clock })
    cache.set(1, principal(1), cache.epoch())
    cache.set(2, principal(2), cache.epoch())
    cache.set(3, principal(3), cache.epoch())
    expect(cache.get(1)).toBeUndefined()
    expect(cache.get(3)?.username).toBe('u3')
    clock += PRINCIPAL_NEAR_TTL_MS
    expect(cache.get(3)).toBeUndefined()
  })

  it('refuses to store what a load read before an invalidation, and freezes what it stores', () => {
    const cache = createPrincipalCache({ ttlMs: 60_000, maxEntries: 10 })
    const startedBefore = cache.epoch()
    cache.delete(7)
    cache.set(7, principal(7), startedBefore)
    expect(cache.get(7)).toBeUndefined()
    cache.set(7, principal(7), cache.epoch())
    const stored = cache.get(7) as Principal
    expect(Object.isFrozen(stored)).toBe(true)
  })
})
