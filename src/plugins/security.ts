import cors from '@fastify/cors'
import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'

/**
 * helmet's headers do not change between requests, so they are computed once here rather than by
 * running the middleware (and re-serialising the CSP) on every request as @fastify/helmet does.
 */
function staticHelmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string | number | string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value)
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    },
  } as unknown as ServerResponse
  helmet(options)({} as IncomingMessage, response, () => {})
  return headers
}

/**
 * Answers under these paths carry tokens, codes, API keys or personal data: no browser or shared cache
 * may keep them (RFC 6749 §5.1), error answers included. Each is followed by `/`, `?` or nothing, so
 * `/api/v1/users` (the list, via ignoreTrailingSlash) counts and a future `/api/v1/usersettings` does not.
 */
const NO_STORE_PREFIXES = ['/api/v1/auth', '/api/v1/users', '/api/v1/api-keys']
const SLASH = 47
const QUESTION_MARK = 63

/** A few string comparisons rather than a regex: this runs on every request. */
function needsNoStore(path: string): boolean {
  if (!path.startsWith('/api/v1/')) return false
  for (const prefix of NO_STORE_PREFIXES) {
    if (!path.startsWith(prefix)) continue
    const next = path.charCodeAt(prefix.length)
    if (Number.isNaN(next) || next === SLASH || next === QUESTION_MARK) return true
  }
  return false
}

/** Security headers and CORS; the allowed origins come from ALLOWED_ORIGINS only. */
export default fp(
  async function securityPlugin(app: FastifyInstance, { config }: { config: Config }) {
    const headers = staticHelmetHeaders({
      // Swagger UI and ReDoc need inline styles and blob workers; the JSON API is unaffected.
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:', 'blob:', 'https:'],
          workerSrc: ["'self'", 'blob:'],
          connectSrc: ["'self'", 'ws:', 'wss:'],
          fontSrc: ["'self'", 'data:'],
          // Neither the API nor the console is ever shown inside another page: no clickjacking of the console.
          frameAncestors: ["'none'"],
          // Would break the docs pages when served over plain HTTP on a LAN address; HSTS covers production.
          upgradeInsecureRequests: null,
        },
      },
      hsts: !config.debug,
      // The CSP's frame-ancestors says the same to current browsers; this header is for older ones.
      xFrameOptions: { action: 'deny' },
    })
    app.addHook('onRequest', async (request, reply) => {
      reply.headers(headers)
      // The matched route, not the raw URL: a percent-encoded path (`/api/v1/%75sers/me`) routes to the
      // same handler. Unmatched paths (404) fall back to the URL.
      if (needsNoStore(request.routeOptions.url ?? request.url)) reply.header('cache-control', 'no-store')
    })
    const wildcard = config.allowedOrigins.includes('*')
    await app.register(cors, {
      origin: wildcard ? true : [...config.allowedOrigins],
      // Credentials with a wildcard origin would let any site act as the user.
      credentials: !wildcard,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-API-Key', 'X-Request-ID'],
      exposedHeaders: ['X-Request-ID', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      maxAge: 600,
    })
  },
  { name: 'security' },
)
