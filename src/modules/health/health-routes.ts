import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const PROBE_TIMEOUT_MS = 1500

const Healthy = Type.Object({
  status: Type.String({ examples: ['healthy'] }),
  version: Type.String(),
  uptime_seconds: Type.Number(),
  timestamp: Type.String({ format: 'date-time' }),
})
const DependencyHealthy = Type.Object({
  status: Type.String({ examples: ['healthy'] }),
  backend: Type.String({ examples: ['postgresql', 'pglite', 'redis', 'memory'] }),
  latency_ms: Type.Number(),
})
const DependencyDown = Type.Object({ status: Type.String({ examples: ['unhealthy'] }), backend: Type.String(), detail: Type.String() })

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Liveness and dependency checks. Each probe is bounded so a dead dependency answers 503, never hangs. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const startedAt = Date.now()

  app.get(
    '/',
    { config: { access: 'public' }, schema: { operationId: 'getHealth', tags: ['health'], summary: 'Basic health check', response: { 200: Healthy } } },
    // Synchronous: the answer is sent at once, without a promise and a turn of the microtask queue.
    () => ({
      status: 'healthy',
      version: app.config.version,
      uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
      timestamp: new Date().toISOString(),
    }),
  )

  app.get(
    '/live',
    { config: { access: 'public' }, schema: { operationId: 'getLiveness', tags: ['health'], summary: 'Liveness probe: the process is up', response: { 200: Type.Object({ status: Type.String() }) } } },
    () => ({ status: 'alive' }),
  )

  app.get(
    '/db',
    { config: { access: 'public' }, schema: { operationId: 'getDatabaseHealth', tags: ['health'], summary: 'Database connectivity', response: { 200: DependencyHealthy, 503: DependencyDown } } },
    async (_request, reply) => {
      const backend = app.database.kind
      try {
        return { status: 'healthy', backend, latency_ms: await app.database.ping(PROBE_TIMEOUT_MS) }
      } catch (error) {
        return reply.code(503).send({ status: 'unhealthy', backend, detail: `database unreachable: ${errorMessage(error)}` })
      }
    },
  )

  app.get(
    '/cache',
    { config: { access: 'public' }, schema: { operationId: 'getCacheHealth', tags: ['health'], summary: 'Cache connectivity', response: { 200: DependencyHealthy, 503: DependencyDown } } },
    async (_request, reply) => {
      const backend = app.cache.kind
      try {
        return { status: 'healthy', backend, latency_ms: await app.cache.ping(PROBE_TIMEOUT_MS) }
      } catch (error) {
        return reply.code(503).send({ status: 'unhealthy', backend, detail: `cache unreachable: ${errorMessage(error)}` })
      }
    },
  )

  app.get(
    '/ready',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'Readiness probe: database and cache reachable',
        response: { 200: Type.Object({ status: Type.String() }), 503: Type.Object({ status: Type.String(), detail: Type.String() }) },
      },
    },
    async (_request, reply) => {
      const checks = await Promise.allSettled([app.database.ping(PROBE_TIMEOUT_MS), app.cache.ping(PROBE_TIMEOUT_MS)])
      const failed = checks.flatMap((check, index) => (check.status === 'rejected' ? [index === 0 ? 'database' : 'cache'] : []))
      if (failed.length > 0) return reply.code(503).send({ status: 'not_ready', detail: `unreachable: ${failed.join(', ')}` })
      return { status: 'ready' }
    },
  )
}

export default healthRoutes
