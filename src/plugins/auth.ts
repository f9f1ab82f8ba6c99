import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { Role, UserRow } from '../db/schema.js'
import { Errors } from '../lib/errors.js'
import { hasPermission, roleAtLeast, type Permission } from '../modules/auth/permissions.js'
import { createAccessTokens, type AccessTokens } from '../modules/auth/tokens.js'

/** The user as authentication sees it: the row without secret columns, safe to keep in a cache. */
export type Principal = Omit<UserRow, 'passwordHash' | 'totpSecret' | 'totpPendingSecret' | 'totpLastStep'>

export type ApiKeyScope = 'read' | 'write'

export interface AuthContext {
  method: 'jwt' | 'api_key'
  /** Refresh-token family of the session (JWT only). */
  sessionId?: string
  /** Access token expiry in seconds since epoch (JWT only). */
  expiresAt?: number
  apiKeyId?: number
  scopes: readonly ApiKeyScope[]
}

declare module 'fastify' {
  interface FastifyInstance {
    accessTokens: AccessTokens
    /** onRequest hook: requires a valid access token or API key and sets request.user. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Resolves credentials without a reply (WebSocket handshakes use it); undefined when absent or bad. */
    resolveCredentials: (request: FastifyRequest, queryToken?: string) => Promise<{ user: Principal; auth: AuthContext } | undefined>
    requirePermission: (permission: Permission) => preHandlerAsyncHookHandler
    requireRole: (role: Role) => preHandlerAsyncHookHandler
    /** Rejects API-key callers: for routes that must be reached with a real session (passwords, keys, 2FA). */
    requireSession: preHandlerAsyncHookHandler
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

export function toPrincipal(row: UserRow): Principal {
  const { passwordHash: _p, totpSecret: _t, totpPendingSecret: _s, totpLastStep: _l, ...principal } = row
  return principal
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

function unauthorized(): Error {
  return new Errors.InvalidToken()
}

export interface AuthPluginOptions {
  verifyApiKey: (presented: string) => Promise<{ userId: number; keyId: number; scopes: ApiKeyScope[] } | undefined>
}

/**
 * Authentication for HTTP and WebSocket: a Bearer JWT or an `X-API-Key`. The user behind a token is
 * looked up on every request (through the cache), so deactivation, deletion, role changes and
 * revocations apply to tokens already issued, at once.
 */
export default fp(
  async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
    const tokens = createAccessTokens(app.config, app.now)
    app.decorate('accessTokens', tokens)
    app.decorateRequest('user', null as unknown as Principal)
    app.decorateRequest('auth', null as unknown as AuthContext)

    const loadPrincipal = (userId: number) =>
      app.cache.getOrSet(userCacheKey(userId), USER_CACHE_TTL_SECONDS, async () => {
        const row = await app.repositories.users.findById(userId)
        return row ? toPrincipal(row) : undefined
      })
    app.decorate('loadPrincipal', loadPrincipal)
    const dropCachedUser = (userId: number) =>
      app.cache.delete(userCacheKey(userId)).catch((error: unknown) => app.log.warn({ err: error }, 'user cache invalidation failed'))
    app.decorate('invalidateUser', async (userId: number) => {
      await dropCachedUser(userId)
      // A load that read the old row just before the change may write it back after this delete;
      // a second delete, once any such load has finished, removes that stale copy.
      setTimeout(() => void dropCachedUser(userId), 1000).unref()
    })

    const fromBearer = async (token: string) => {
      const claims = tokens.verify(token)
      if (!claims) return undefined
      const user = await loadPrincipal(Number(claims.sub))
      if (!user || !user.isActive || user.tokenVersion !== claims.ver) return undefined
      const auth: AuthContext = { method: 'jwt', sessionId: claims.sid, expiresAt: claims.exp, scopes: ['read', 'write'] }
      return { user, auth }
    }

    const fromApiKey = async (presented: string) => {
      const key = await options.verifyApiKey(presented)
      if (!key) return undefined
      const user = await loadPrincipal(key.userId)
      if (!user || !user.isActive) return undefined
      const auth: AuthContext = { method: 'api_key', apiKeyId: key.keyId, scopes: key.scopes }
      return { user, auth }
    }

    // Browsers cannot set headers on a WebSocket handshake, so sockets may pass the token as ?token=.
    const resolveCredentials = async (request: FastifyRequest, queryToken?: string) => {
      const header = request.headers.authorization
      if (typeof header === 'string' && header.length > 0) {
        const [scheme, token] = header.split(' ', 2)
        if (scheme?.toLowerCase() !== 'bearer' || !token) return undefined
        return fromBearer(token.trim())
      }
      const apiKey = request.headers['x-api-key']
      if (typeof apiKey === 'string' && apiKey.length > 0) return fromApiKey(apiKey)
      if (queryToken) return fromBearer(queryToken)
      return undefined
    }
    app.decorate('resolveCredentials', resolveCredentials)

    app.decorate('authenticate', async (request: FastifyRequest, reply: FastifyReply) => {
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
        throw unauthorized()
      }
      if (!SAFE_METHODS.has(request.method) && !resolved.auth.scopes.includes('write')) {
        throw new Errors.Forbidden('This API key is read-only')
      }
      request.user = resolved.user
      request.auth = resolved.auth
    })

    app.decorate('requirePermission', (permission: Permission): preHandlerAsyncHookHandler => async (request) => {
      if (!hasPermission(request.user.role, permission)) throw new Errors.Forbidden('Not enough permissions')
    })
    app.decorate('requireRole', (role: Role): preHandlerAsyncHookHandler => async (request) => {
      if (!roleAtLeast(request.user.role, role)) throw new Errors.Forbidden('Not enough permissions')
    })
    app.decorate('requireSession', async (request: FastifyRequest) => {
      if (request.auth.method !== 'jwt') throw new Errors.Forbidden('This action needs a signed-in session, not an API key')
    })
  },
  { name: 'auth', dependencies: ['cache', 'rate-limit'] },
)
