import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'
import { addPreflightRoute, corsStep } from './cors.js'

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

/** Headers a JSON answer keeps from helmet's set (the CSP is replaced by a strict one). */
const API_HEADER_NAMES = ['cross-origin-resource-policy', 'referrer-policy', 'strict-transport-security', 'x-content-type-options', 'x-frame-options']
/** Pages a browser renders under /api: the docs. Everything else under /api/ answers JSON. */
const API_PAGES = ['/api/docs', '/api/redoc']

function isApiAnswer(url: string): boolean {
  if (!url.startsWith('/api/')) return false
  for (const page of API_PAGES) if (url.startsWith(page)) return false
  return true
}

function pick(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.filter((name) => name in headers).map((name) => [name, headers[name] as string]))
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
    // A JSON answer is never rendered, so it needs only what stops it being sniffed, framed or cached
    // (OWASP REST Security: nosniff, frame-ancestors, no-store): a third of the full set's bytes, and
    // fewer headers to write on the hottest routes. The console and the docs pages keep the full set.
    const apiHeaders = pick(headers, API_HEADER_NAMES)
    apiHeaders['content-security-policy'] = "default-src 'none'; frame-ancestors 'none'"
    const cors = corsStep({
      allowedOrigins: config.allowedOrigins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-API-Key', 'X-Request-ID'],
      exposedHeaders: ['X-Request-ID', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      maxAgeSeconds: 600,
    })
    // One callback hook for headers and CORS, not an async one: no promise per request on every route.
    app.addHook('onRequest', (request, reply, done) => {
      const url = request.url
      reply.headers(isApiAnswer(url) ? apiHeaders : headers)
      // The matched route, not the raw URL: a percent-encoded path (`/api/v1/%75sers/me`) routes to the
      // same handler. Unmatched paths (404) fall back to the URL.
      if (needsNoStore(request.routeOptions.url ?? url)) reply.header('cache-control', 'no-store')
      cors(request, reply, done)
    })
    addPreflightRoute(app)
  },
  { name: 'security' },
)
