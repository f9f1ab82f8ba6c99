import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'

/** Security headers and CORS; the allowed origins come from ALLOWED_ORIGINS only. */
export default fp(
  async function securityPlugin(app: FastifyInstance, { config }: { config: Config }) {
    await app.register(helmet, {
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
        },
      },
      hsts: !config.debug,
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
