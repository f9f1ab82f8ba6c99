import { trace } from '@opentelemetry/api'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Names each request's server span after its route pattern (`GET /api/v1/users/get/:user_id`, not
 * one span name per user id) and records the request id, so a log line found by request id leads
 * to its trace and back. The span itself comes from the HTTP instrumentation (src/observability).
 */
export default fp(
  async function tracingPlugin(app: FastifyInstance) {
    app.addHook('onRequest', async (request) => {
      const span = trace.getActiveSpan()
      if (!span) return
      const route = request.routeOptions.url
      if (route) {
        span.updateName(`${request.method} ${route}`)
        span.setAttribute('http.route', route)
      }
      span.setAttribute('app.request_id', request.id)
    })
  },
  { name: 'tracing' },
)
