import type { FastifyInstance, RouteOptions } from 'fastify'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { buildApp, type App } from '../../src/app.js'
import { isAuthenticationHook } from '../../src/plugins/auth.js'
import { authHeader, signedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, createApiKey } from './attacker.js'

// Issue #21: each route states its access once (config.access), and one hook turns that into the
// guards that run and the OpenAPI that documents them. These tests walk every route the real app
// registers and hold the declaration, the documentation and the behaviour against each other.

/**
 * Every route the app registers, as the options object Fastify hands to onRoute hooks. The object is
 * shared with the auth plugin's own hook, so after boot it also shows what that hook attached.
 * buildApp creates its Fastify instance itself; observing it means wrapping the factory it imports.
 * `beforeAuth` marks the routes registered before the auth plugin existed (docs, metrics, console
 * files): the infrastructure tier that src/app.ts serves ahead of the access rule.
 */
const registered = vi.hoisted(() => ({ routes: [] as RouteOptions[], beforeAuth: new Set<RouteOptions>() }))
vi.mock('fastify', async (importOriginal) => {
  const actual = await importOriginal<typeof import('fastify')>()
  const factory = actual.default as unknown as (options: unknown) => FastifyInstance
  const observed = (options: unknown) => {
    const instance = factory(options)
    instance.addHook('onRoute', function (this: FastifyInstance, route) {
      registered.routes.push(route)
      if (!this.hasDecorator('authenticate')) registered.beforeAuth.add(route)
    })
    return instance
  }
  return { ...actual, default: observed, fastify: observed }
})

const context = useTestContext()
let app: App
let routes: RouteOptions[]
let openapi: { paths: Record<string, Record<string, { security?: unknown; responses?: Record<string, unknown> }>> }

const SECURITY = {
  public: [],
  handshake: [],
  session: [{ bearerAuth: [] }],
  'session-or-key': [{ bearerAuth: [] }, { apiKeyAuth: [] }],
} as const
/** Path parameters: valid values that name nothing, so no call below can touch a real record. */
const PARAMS: Record<string, string> = { user_id: '2147483647', id: '2147483647', role: 'user', client_id: 'route-probe', room_id: 'lobby' }

beforeAll(async () => {
  registered.routes.length = 0
  app = await context.buildApp()
  routes = [...registered.routes]
  openapi = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json()
})

const methodsOf = (route: RouteOptions) => (Array.isArray(route.method) ? route.method : [route.method]).map(String)
const isHidden = (route: RouteOptions) => (route.schema as { hide?: boolean } | undefined)?.hide === true
const isInfrastructure = (route: RouteOptions) => registered.beforeAuth.has(route)
const openapiPath = (url: string) => (url.replace(/:(\w+)/g, '{$1}').replace(/\/$/, '') || '/')
const concreteUrl = (url: string) => url.replace(/:(\w+)/g, (_match, name: string) => PARAMS[name] ?? '1').replace(/\*/g, 'x')
const label = (route: RouteOptions) => `${methodsOf(route).join(',')} ${route.url}`
const asArray = (value: unknown) => (value === undefined ? [] : Array.isArray(value) ? value : [value])
const expectedSecurity = (route: RouteOptions) => SECURITY[route.config?.fresh ? 'session' : route.config!.access!]

describe('route declarations', () => {
  it('cover every route served after the auth plugin, each with a known kind of access', () => {
    expect(routes.length).toBeGreaterThan(40)
    expect(routes.filter((route) => !isInfrastructure(route) && route.config?.access === undefined).map(label)).toEqual([])
    for (const route of routes.filter((candidate) => candidate.config?.access !== undefined)) {
      expect(['public', 'session', 'session-or-key', 'handshake'], label(route)).toContain(route.config!.access)
    }
    // The infrastructure tier is narrow: the versioned API is all behind the rule, and none of it is documented.
    const infrastructure = routes.filter(isInfrastructure)
    expect(infrastructure.filter((route) => route.url.startsWith('/api/v1')).map(label)).toEqual([])
    expect(infrastructure.filter((route) => !isHidden(route)).map(label)).toEqual([])
  })

  it('match the OpenAPI security of every documented operation, both ways, with 401/403 (and 429) documented', () => {
    const documented = new Set<string>()
    for (const route of routes) {
      if (route.config?.access === undefined || isHidden(route)) continue
      for (const method of methodsOf(route)) {
        if (method === 'HEAD' || method === 'OPTIONS') continue
        const operation = openapi.paths[openapiPath(route.url)]?.[method.toLowerCase()]
        expect(operation, `${method} ${route.url} is not in the OpenAPI document`).toBeDefined()
        documented.add(`${method.toLowerCase()} ${openapiPath(route.url)}`)
        expect(operation!.security, `${method} ${route.url} security`).toEqual(expectedSecurity(route))
        const responses = Object.keys(operation!.responses ?? {})
        if (route.config!.access !== 'public') expect(responses, `${method} ${route.url} responses`).toEqual(expect.arrayContaining(['401', '403']))
        if (route.config!.fresh || route.config!.limit) expect(responses, `${method} ${route.url} responses`).toContain('429')
      }
    }
    // Nothing is documented that no declaration stands behind.
    const operations = Object.entries(openapi.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`))
    expect(operations.filter((operation) => !documented.has(operation))).toEqual([])
  })

  it('attach the authentication guard exactly to the routes that are not public', () => {
    const declared = routes.filter((route) => route.config?.access !== undefined)
    expect(declared.length).toBeGreaterThan(40)
    for (const route of declared) {
      const guarded = asArray(route.onRequest).some(isAuthenticationHook)
      const needsCredentials = route.config!.access === 'session' || route.config!.access === 'session-or-key'
      expect(guarded, label(route)).toBe(needsCredentials)
    }
  })
})

describe('anonymous callers', () => {
  it('get 401 from every route that is not declared public', async () => {
    const checked: string[] = []
    for (const route of routes) {
      if (isInfrastructure(route) && route.config?.access === undefined) continue
      if (route.config?.access === 'public') continue
      for (const method of methodsOf(route)) {
        const response = await app.inject({ method: method as 'GET', url: concreteUrl(route.url) })
        expect(response.statusCode, `${method} ${route.url}: ${response.body}`).toBe(401)
        // Handshakes answer for themselves; the HTTP API names the scheme to use.
        if (route.config?.access !== 'handshake') expect(response.headers['www-authenticate'], `${method} ${route.url}`).toBe('Bearer')
        checked.push(`${method} ${route.url}`)
      }
    }
    expect(checked.length).toBeGreaterThan(25)
  })

  it('are never asked for credentials by a public route', async () => {
    const publicRoutes = routes.filter((candidate) => candidate.config?.access === 'public')
    expect(publicRoutes.length).toBeGreaterThan(10)
    for (const route of publicRoutes) {
      for (const method of methodsOf(route)) {
        // No body: every public POST refuses it with 422 before doing anything.
        const response = await app.inject({ method: method as 'GET', url: concreteUrl(route.url) })
        expect(response.headers['www-authenticate'], `${method} ${route.url}`).toBeUndefined()
        expect(response.statusCode, `${method} ${route.url}: ${response.body}`).not.toBe(403)
      }
    }
  })
})

describe('API keys against the declarations', () => {
  it('are refused by every session route and accepted by every session-or-key route', async () => {
    // A superadmin's write key: any refusal then comes from the kind of access, not from the role.
    const owner = await signedInUser(app, 'superadmin')
    const { key } = await createApiKey(app, owner.headers, ['read', 'write'])
    const refusedByGuard: string[] = []
    const served: string[] = []
    for (const route of routes) {
      const access = route.config?.access
      if (access !== 'session' && access !== 'session-or-key') continue
      for (const method of methodsOf(route)) {
        const response = await app.inject({ method: method as 'GET', url: concreteUrl(route.url), headers: apiKeyHeader(key) })
        const where = `${method} ${route.url}: ${response.statusCode} ${response.body}`
        expect(response.statusCode, where).not.toBe(401)
        if (access === 'session') {
          // 403 from the guard; 422 when the body is refused first (the guard runs after validation): never served.
          expect([403, 422], where).toContain(response.statusCode)
          if (response.statusCode === 403) refusedByGuard.push(where)
        } else {
          expect(response.statusCode, where).not.toBe(403)
          served.push(where)
        }
      }
    }
    // Most session routes take no body or an optional one, so the guard itself answered them.
    expect(refusedByGuard.length, refusedByGuard.join('\n')).toBeGreaterThanOrEqual(8)
    expect(served.length).toBeGreaterThanOrEqual(10)
    // The same owner's session passes where the key was refused.
    expect((await app.inject({ method: 'GET', url: '/api/v1/api-keys/', headers: authHeader(owner.tokens.access_token) })).statusCode).toBe(200)
  })
})

describe('a signed-in caller answered from the instance\'s copy of the user', () => {
  // The second request of a user skips loading it (the near copy): the route's rule must still hold.
  it('is still refused a permission it lacks, and a read-only key still cannot write', async () => {
    const member = await signedInUser(app)
    for (let round = 0; round < 2; round += 1) {
      expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: member.headers })).statusCode).toBe(200)
      const list = await app.inject({ method: 'GET', url: '/api/v1/users/', headers: member.headers })
      expect(list.statusCode, list.body).toBe(403)
      expect(list.json()).toMatchObject({ code: 'insufficient_permissions' })
    }
    const owner = await signedInUser(app, 'admin')
    const { key } = await createApiKey(app, owner.headers, ['read'])
    for (let round = 0; round < 2; round += 1) {
      expect((await app.inject({ method: 'GET', url: '/api/v1/users/', headers: apiKeyHeader(key) })).statusCode).toBe(200)
      const write = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${owner.id}`, headers: apiKeyHeader(key), payload: { bio: 'x' } })
      expect(write.statusCode, write.body).toBe(403)
      expect(write.json()).toMatchObject({ code: 'api_key_read_only' })
    }
  })
})

describe('a route without a declaration', () => {
  /** Builds the real app, adds one more route module the way src/app.ts adds its own, and boots it. */
  async function bootWith(options: Record<string, unknown>): Promise<unknown> {
    const candidate = await buildApp({ config: context.config(), logger: false, database: context.database })
    // Not awaited: the module loads during ready(), as the app's own route modules would.
    void candidate.register(async (module) => {
      module.get('/api/v1/reports/secret', options, async () => ({ secret: 'for admins only' }))
    })
    try {
      await candidate.ready()
      return undefined
    } catch (error) {
      return error
    } finally {
      await candidate.close().catch(() => {})
    }
  }

  it('stops the app at boot, naming the route', async () => {
    const error = await bootWith({})
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(/GET \/api\/v1\/reports\/secret must declare config\.access/)
  })

  it('stops the app at boot when the access is not a known kind, or public with a permission or a fresh proof', async () => {
    expect(String(await bootWith({ config: { access: 'admins' } }))).toMatch(/must declare config\.access/)
    expect(String(await bootWith({ config: { access: 'public', permission: 'users:read' } }))).toMatch(/cannot need a permission or a fresh proof/)
    expect(String(await bootWith({ config: { access: 'public', fresh: true } }))).toMatch(/cannot need a permission or a fresh proof/)
  })
})

describe('an authentication step that fails with something other than an Error', () => {
  it('refuses the request with 401 instead of letting it through', async () => {
    const isolated = await context.buildApp()
    const owner = await signedInUser(isolated)
    const { key } = await createApiKey(isolated, owner.headers, ['read'])
    expect((await isolated.inject({ method: 'GET', url: '/api/v1/users/me', headers: apiKeyHeader(key) })).statusCode).toBe(200)
    // A dependency that rejects with a bare value: done(undefined) would have meant "authenticated".
    const throttle = isolated as unknown as { apiKeyFailuresExceeded: (ip: string) => Promise<boolean> }
    throttle.apiKeyFailuresExceeded = () => Promise.reject('limiter unavailable')
    const refused = await isolated.inject({ method: 'GET', url: '/api/v1/users/me', headers: apiKeyHeader(key) })
    expect(refused.statusCode, refused.body).toBe(401)
    expect(refused.json()).toMatchObject({ code: 'not_authenticated' })
  })
})
