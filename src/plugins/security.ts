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
          // Would break the docs pages when served over plain HTTP on a LAN address; HSTS covers production.
          upgradeInsecureRequests: null,
        },
      },
      hsts: !config.debug,
    })
    app.addHook('onRequest', async (_request, reply) => {
      reply.headers(headers)
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
