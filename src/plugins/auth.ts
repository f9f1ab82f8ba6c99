import { randomUUID } from 'node:crypto'
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  RouteOptions,
  onRequestHookHandler,
  preHandlerAsyncHookHandler,
  preHandlerHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import { Errors } from '../lib/errors.js'
import { ErrorDetail, RateLimited } from '../lib/schemas.js'
import { hasPermission } from '../modules/auth/permissions.js'
import { createPrincipalCache } from '../modules/auth/principal-cache.js'
import { toPrincipal, type ApiKeyScope, type AuthContext, type Principal } from '../modules/auth/principal.js'
import { ACCESS_KINDS, securityOf, type RouteAccess } from '../modules/auth/route-access.js'
import { createAccessTokens, type AccessClaims, type AccessTokens } from '../modules/auth/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    accessTokens: AccessTokens
    /** onRequest hook: requires a valid access token or API key and sets request.user. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Resolves credentials without a reply (WebSocket handshakes use it); undefined when absent or bad. */
    resolveCredentials: (request: FastifyRequest, queryToken?: string) => Promise<{ user: Principal; auth: AuthContext } | undefined>
    /**
     * Refuses the request unless the caller proved who they are recently, or proves it now with
     * `password` in the body. Routes declare `fresh: true`; this is for rules that depend on the body.
     */
    requireFreshProof: (request: FastifyRequest) => Promise<void>
    loadPrincipal: (userId: number) => Promise<Principal | undefined>
    invalidateUser: (userId: number) => Promise<void>
  }
  interface FastifyRequest {
    user: Principal
    auth: AuthContext
  }
}

export const USER_CACHE_TTL_SECONDS = 30
export const userCacheKey = (userId: number) => `user:${userId}`
/** How long an instance may answer from its own copy of a user (see principal-cache.ts). */
export const PRINCIPAL_NEAR_TTL_MS = 2000
const INVALIDATION_CHANNEL = 'auth:user-invalidated'
/** How long an invalidation waits to hear its own message before answering anyway (Redis away). */
const DELIVERY_WAIT_MS = 500
const delay = (ms: number) => new Promise<void>((done) => setTimeout(done, ms).unref())

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

type Resolved = { user: Principal; auth: AuthContext }

export interface AuthPluginOptions {
  verifyApiKey: (presented: string) => Promise<{ userId: number; keyId: number; scopes: ApiKeyScope[] } | undefined>
  /** Records that a session was used (throttled by the sessions service). */
  onSessionUse: (sessionId: string, client: { ip: string; userAgent?: string | undefined }) => void
  /** Checks a password given as a proof of identity; throws 400 when wrong and 429 when over the limit. */
  provePassword: (userId: number, password: string, client: { ip: string; userAgent?: string | undefined }) => Promise<void>
}

const AUTHENTICATION_HOOKS = new WeakSet<object>()
const authenticationHook = (hook: onRequestHookHandler) => {
  AUTHENTICATION_HOOKS.add(hook)
  return hook
}
/** Whether a route hook is this plugin's authentication (a route's hooks show what guards it). */
export const isAuthenticationHook = (hook: unknown): boolean => typeof hook === 'function' && AUTHENTICATION_HOOKS.has(hook)

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value])

/** Paths the global rate limit never counts (probes): they cannot answer 429. */
const UNLIMITED_PREFIX = '/api/v1/health'

/**
 * Writes into a route's OpenAPI what its declaration implies: the security requirement, and every
 * error answer it can give (401/403 for signed-in routes, 422 where there is input to validate, 429
 * with its headers wherever a limit applies). Answers a route declares itself are kept.
 */
function documentAccess(route: RouteOptions, rule: RouteAccess): FastifySchema {
  const base = route.schema ?? {}
  if ((base as { hide?: boolean }).hide) return base
  const responses: Record<string, unknown> = {}
  if (rule.access === 'session' || rule.access === 'session-or-key' || rule.fresh) {
    responses['401'] = ErrorDetail
    responses['403'] = ErrorDetail
  }
  if (base.body || base.querystring || base.params) responses['422'] = ErrorDetail
  if (!route.url.startsWith(UNLIMITED_PREFIX)) responses['429'] = RateLimited
  return {
    ...base,
    security: securityOf(rule.fresh ? 'session' : rule.access),
    response: { ...responses, ...(base.response as Record<string, unknown> | undefined) },
  }
}

/**
 * Authentication for HTTP and WebSocket: a Bearer JWT or an `X-API-Key`. The user behind a token is
 * looked up on every request (through the cache), so deactivation, deletion, role changes and
 * revocations apply to tokens already issued, at once.
 *
 * Every route states who may call it in `config` (see modules/auth/route-access.ts); the onRoute hook
 * below turns that one declaration into the guards that run and the OpenAPI that documents them.
 */
export default fp(
  async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
    const { config } = app
    const tokens = createAccessTokens(config, app.now)
    app.decorate('accessTokens', tokens)
    app.decorateRequest('user', null as unknown as Principal)
    app.decorateRequest('auth', null as unknown as AuthContext)

    // The cached principal carries the ids of the user's sessions that ended within an access token's
    // lifetime: their tokens are refused without a lookup per request, on every instance, as soon as
    // the ending drops this cache entry.
    const accessTtlMs = config.accessTokenExpireMinutes * 60_000
    const loadShared = (userId: number) =>
      app.cache.getOrSet(userCacheKey(userId), USER_CACHE_TTL_SECONDS, async () => {
        const row = await app.repositories.users.findById(userId)
        if (!row) return undefined
        const at = app.now()
        const endedSessions = await app.repositories.sessions.endedSince(userId, new Date(at.getTime() - accessTtlMs), at)
        return { ...toPrincipal(row), endedSessions }
      })
    const near = createPrincipalCache({ ttlMs: PRINCIPAL_NEAR_TTL_MS, maxEntries: 10_000 })
    const loadPrincipal = async (userId: number) => {
      const cached = near.get(userId)
      if (cached) return cached
      const loadStartedAt = near.epoch()
      const principal = await loadShared(userId)
      if (principal) near.set(userId, principal, loadStartedAt)
      return principal
    }
    app.decorate('loadPrincipal', loadPrincipal)

    // Every instance drops its near copy when any instance invalidates a user. Until the subscription
    // is live (or while Redis is away) the near copies' short lifetime is the bound on staleness.
    // An invalidation waits until this instance hears its own message: Redis hands a message to every
    // subscriber at once, so by then the other instances have it too, before the caller is answered.
    const instanceTag = randomUUID()
    let sequence = 0
    const delivered = new Map<number, () => void>()
    let unsubscribe: (() => Promise<void>) | undefined
    let listening = false
    const subscribed = app.cache
      .subscribe(INVALIDATION_CHANNEL, (message) => {
        const { user_id: userId, from, seq } = (message ?? {}) as { user_id?: unknown; from?: unknown; seq?: unknown }
        if (typeof userId === 'number') near.delete(userId)
        else near.clear()
        if (from === instanceTag && typeof seq === 'number') delivered.get(seq)?.()
      })
      .then(
        (stop) => {
          unsubscribe = stop
          listening = true
        },
        (error: unknown) => app.log.warn({ err: error }, 'user cache invalidation channel unavailable'),
      )
    app.addHook('onReady', async () => {
      await Promise.race([subscribed, delay(2000)])
    })
    app.addHook('onClose', async () => {
      listening = false
      await unsubscribe?.()
    })
    const publishInvalidation = async (userId: number) => {
      sequence += 1
      const seq = sequence
      const heard = listening ? new Promise<void>((done) => delivered.set(seq, done)) : undefined
      try {
        await app.cache.publish(INVALIDATION_CHANNEL, { user_id: userId, from: instanceTag, seq })
        if (heard) await Promise.race([heard, delay(DELIVERY_WAIT_MS)])
      } finally {
        delivered.delete(seq)
      }
    }

    const dropCachedUser = async (userId: number) => {
      near.delete(userId)
      try {
        await app.cache.delete(userCacheKey(userId))
        await publishInvalidation(userId)
      } catch (error) {
        app.log.warn({ err: error }, 'user cache invalidation failed')
      }
    }
    // A load that read the old row just before the change cannot write it back after this delete, on
    // this instance or another: the cache's delete leaves a tombstone that such a write-back must match.
    app.decorate('invalidateUser', dropCachedUser)

    /** Whether a verified token's user may use it now: active, same token version, session not ended. */
    const acceptBearer = (claims: AccessClaims, user: Principal | undefined, request: FastifyRequest): Resolved | undefined => {
      if (!user?.isActive || user.tokenVersion !== claims.ver) return undefined
      if (user.endedSessions?.includes(claims.sid)) return undefined
      options.onSessionUse(claims.sid, { ip: request.ip, userAgent: request.headers['user-agent'] })
      const auth: AuthContext = { method: 'jwt', sessionId: claims.sid, expiresAt: claims.exp, authTime: claims.auth_time, scopes: ['read', 'write'] }
      return { user, auth }
    }

    const fromBearer = async (token: string, request: FastifyRequest) => {
      const claims = tokens.verify(token)
      if (!claims) return undefined
      return acceptBearer(claims, await loadPrincipal(Number(claims.sub)), request)
    }

    /** The token of an `Authorization: Bearer` header; undefined when the header says something else. */
    const bearerOf = (header: string) => {
      const [scheme, token] = header.split(' ', 2)
      return scheme?.toLowerCase() === 'bearer' && token ? token.trim() : undefined
    }

    const fromApiKey = async (presented: string) => {
      const key = await options.verifyApiKey(presented)
      if (!key) return undefined
      const user = await loadPrincipal(key.userId)
      if (!user?.isActive) return undefined
      const auth: AuthContext = { method: 'api_key', apiKeyId: key.keyId, scopes: key.scopes }
      return { user, auth }
    }

    // Browsers cannot set headers on a WebSocket handshake, so sockets may pass the token as ?token=.
    const resolveCredentials = async (request: FastifyRequest, queryToken?: string) => {
      const header = request.headers.authorization
      if (typeof header === 'string' && header.length > 0) {
        const token = bearerOf(header)
        return token ? fromBearer(token, request) : undefined
      }
      const apiKey = request.headers['x-api-key']
      if (typeof apiKey === 'string' && apiKey.length > 0) return fromApiKey(apiKey)
      if (queryToken) return fromBearer(queryToken, request)
      return undefined
    }
    app.decorate('resolveCredentials', resolveCredentials)

    /**
     * The busiest case, answered without a promise: a valid access token whose user this instance
     * holds (the near copy). Anything else (an API key, a user to load, a bad token) is undefined here
     * and goes the full way, which decides and answers it.
     */
    const resolveNearBearer = (request: FastifyRequest): Resolved | undefined => {
      const header = request.headers.authorization
      const token = typeof header === 'string' ? bearerOf(header) : undefined
      const claims = token ? tokens.verify(token) : undefined
      const user = claims ? near.get(Number(claims.sub)) : undefined
      return claims && user ? acceptBearer(claims, user, request) : undefined
    }

    const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
      // Guessing API keys is throttled per IP like guessing passwords.
      const usesApiKey = !request.headers.authorization && typeof request.headers['x-api-key'] === 'string'
      if (usesApiKey && (await app.apiKeyFailuresExceeded(request.ip))) {
        reply.header('retry-after', '60')
        reply.limiter = 'api_key'
        throw new Errors.TooManyRequests('Too many invalid API keys from this address; try again later')
      }
      const resolved = await resolveCredentials(request)
      if (!resolved) {
        if (usesApiKey) await app.countAuthFailure('api_key', request.ip)
        reply.header('www-authenticate', 'Bearer')
        throw new Errors.InvalidToken()
      }
      request.user = resolved.user
      request.auth = resolved.auth
    }
    app.decorate('authenticate', authenticate)

    const requireSession = (request: FastifyRequest) => {
      // A leaked API key must not be able to mint keys, rebind 2FA or sign the owner out.
      if (request.auth.method !== 'jwt') throw new Errors.SessionRequired()
    }

    const requireFreshProof = async (request: FastifyRequest) => {
      requireSession(request)
      const password = (request.body as { password?: unknown } | null | undefined)?.password
      if (typeof password === 'string') {
        await options.provePassword(request.user.id, password, { ip: request.ip, userAgent: request.headers['user-agent'] })
        return
      }
      // Whole seconds on both sides: auth_time is a NumericDate, so a proof given this second is 0 s old.
      const age = Math.floor(app.now().getTime() / 1000) - (request.auth.authTime ?? 0)
      // 0 turns the window off: every sensitive action then needs the password in its own request.
      if (config.reauthMaxAgeSeconds === 0 || age > config.reauthMaxAgeSeconds) throw new Errors.ReauthenticationRequired()
    }
    app.decorate('requireFreshProof', requireFreshProof)

    /**
     * A route's authentication, then its API-key scope, checked before the body is read: a read-only
     * key learns nothing more. A callback hook, and no promise at all in the common case (see
     * resolveNearBearer): this runs on every signed-in request.
     */
    const authenticateFor = (rule: RouteAccess, method: string): onRequestHookHandler => {
      const scope: ApiKeyScope = rule.scope ?? (SAFE_METHODS.has(method) ? 'read' : 'write')
      const checkScope = (request: FastifyRequest) => (request.auth.scopes.includes(scope) ? undefined : new Errors.ApiKeyReadOnly())
      return authenticationHook((request, reply, done) => {
        const known = resolveNearBearer(request)
        if (known) {
          request.user = known.user
          request.auth = known.auth
          done(checkScope(request))
          return
        }
        // A rejection without an error must still refuse: done(undefined) would let the request through.
        authenticate(request, reply).then(
          () => done(checkScope(request)),
          (error: unknown) => done(error instanceof Error ? error : new Errors.InvalidToken()),
        )
      })
    }

    /** The rest of a route's rule, once the caller is known; undefined when there is nothing left to check. */
    const guardFor = (rule: RouteAccess): preHandlerHookHandler | preHandlerAsyncHookHandler | undefined => {
      const sessionOnly = rule.access === 'session' || rule.fresh === true
      const { permission } = rule
      const check = (request: FastifyRequest) => {
        if (sessionOnly) requireSession(request)
        if (permission && !hasPermission(request.user.role, permission)) throw new Errors.InsufficientPermissions('Not enough permissions')
      }
      if (rule.fresh) {
        return async (request: FastifyRequest) => {
          check(request)
          await requireFreshProof(request)
        }
      }
      if (!sessionOnly && !permission) return undefined
      return (request, _reply, done) => {
        try {
          check(request)
        } catch (error) {
          done(error as Error)
          return
        }
        done()
      }
    }

    app.addHook('onRoute', (route: RouteOptions) => {
      const rule = route.config as Partial<RouteAccess> | undefined
      const access = rule?.access
      if (!access || !ACCESS_KINDS.includes(access)) {
        // Refusing to boot is the point: no route becomes public because someone forgot to say.
        throw new Error(`Route ${String(route.method)} ${route.url} must declare config.access (${ACCESS_KINDS.join(' | ')})`)
      }
      const declared = rule as RouteAccess
      route.schema = documentAccess(route, declared)
      const limit = declared.limit ? [app.authLimitHook(declared.limit)] : []
      if (access === 'public' || access === 'handshake') {
        if (declared.fresh || declared.permission) throw new Error(`Route ${String(route.method)} ${route.url}: a ${access} route cannot need a permission or a fresh proof`)
        route.preHandler = [...limit, ...asArray(route.preHandler)]
        return
      }
      const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method)
      const guard = guardFor(declared)
      route.onRequest = [authenticateFor(declared, method), ...asArray(route.onRequest)]
      route.preHandler = [...limit, ...(guard ? [guard] : []), ...asArray(route.preHandler)]
    })
  },
  { name: 'auth', dependencies: ['cache', 'rate-limit'] },
)
