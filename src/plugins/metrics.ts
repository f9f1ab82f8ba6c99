import underPressure from '@fastify/under-pressure'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { RequestHistogram } from '../observability/request-histogram.js'
import { safeEqual, sha256 } from '../lib/secrets.js'

export interface AppMetrics {
  registry: Registry
  loginAttempts: Counter<'result'>
  twoFactorFailures: Counter
  rateLimitRejections: Counter<'limiter'>
  wsMessages: Counter<'direction'>
  /** Rows deleted by housekeeping, by table. */
  housekeepingRowsRemoved: Counter<'table'>
  /** Housekeeping runs on this instance, by result (success, failure). */
  housekeepingRuns: Counter<'result'>
  /**
   * The realtime module hands its live figures in here; `ws_connections` and `ws_rooms` read them at
   * each scrape. A setter on this root-level object, not a decoration of the realtime plugin's own
   * (encapsulated) instance, which this plugin could not see: the gauges stayed at 0.
   */
  observeRealtime(source: () => RealtimeFigures): void
}

export interface RealtimeFigures {
  connections: number
  rooms: number
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: AppMetrics
  }
  interface FastifyReply {
    /** Which limiter refused the request, for the rejection counter. */
    limiter?: string
  }
}

const NO_PRESSURE_PATHS = ['/api/v1/health/live', '/metrics']

/**
 * Prometheus metrics and load shedding. /metrics is off the public surface: on METRICS_PORT, or on
 * the main port behind METRICS_TOKEN (open without a token only in DEBUG, for development).
 */
export default fp(
  async function metricsPlugin(app: FastifyInstance) {
    const { config } = app
    const registry = new Registry()
    registry.setDefaultLabels({ app: config.projectName })
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })

    const duration = new RequestHistogram(
      'http_request_duration_seconds',
      'HTTP request duration by route pattern, method and status',
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registry,
    )
    const inFlight = new Gauge({ name: 'http_requests_in_flight', help: 'Requests being handled now', registers: [registry] })
    // Until the realtime module reports (or in an app without it) there is no socket to count.
    let realtime: () => RealtimeFigures = () => ({ connections: 0, rooms: 0 })
    const metrics: AppMetrics = {
      registry,
      loginAttempts: new Counter({ name: 'auth_login_attempts_total', help: 'Logins by result', labelNames: ['result'] as const, registers: [registry] }),
      twoFactorFailures: new Counter({ name: 'auth_2fa_failures_total', help: 'Wrong 2FA codes', registers: [registry] }),
      rateLimitRejections: new Counter({
        name: 'rate_limit_rejections_total',
        help: 'Requests refused by a limiter (429) or by load shedding (503), by limiter',
        labelNames: ['limiter'] as const,
        registers: [registry],
      }),
      wsMessages: new Counter({ name: 'ws_messages_total', help: 'WebSocket frames by direction', labelNames: ['direction'] as const, registers: [registry] }),
      housekeepingRowsRemoved: new Counter({
        name: 'housekeeping_rows_removed_total',
        help: 'Rows deleted by housekeeping, by table',
        labelNames: ['table'] as const,
        registers: [registry],
      }),
      housekeepingRuns: new Counter({
        name: 'housekeeping_runs_total',
        help: 'Housekeeping runs on this instance, by result',
        labelNames: ['result'] as const,
        registers: [registry],
      }),
      observeRealtime(source) {
        realtime = source
      },
    }
    new Gauge({
      name: 'ws_connections',
      help: 'Open WebSocket connections on this instance',
      registers: [registry],
      collect() {
        this.set(realtime().connections)
      },
    })
    new Gauge({
      name: 'ws_rooms',
      help: 'Rooms with members',
      registers: [registry],
      collect() {
        this.set(realtime().rooms)
      },
    })
    new Gauge({
      name: 'mail_queue',
      help: 'Mail counters since start: queued, sent, failed, retried',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const stats = app.mailer.stats()
        for (const [state, value] of Object.entries(stats)) this.set({ state }, value)
      },
    })
    new Gauge({
      name: 'cache_up',
      help: '1 when the cache (Redis or in-process) answers a ping',
      registers: [registry],
      async collect() {
        this.set(
          await app.cache.ping(500).then(
            () => 1,
            () => 0,
          ),
        )
      },
    })
    new Gauge({
      name: 'database_up',
      help: '1 when the database answers a ping',
      registers: [registry],
      async collect() {
        this.set(
          await app.database.ping(1000).then(
            () => 1,
            () => 0,
          ),
        )
      },
    })
    app.decorate('metrics', metrics)

    // WebSocket upgrades never get an onResponse, so they are not counted as requests in flight.
    // An aborted request may still see onResponse later: each one is taken off exactly once.
    const active = new WeakSet<FastifyRequest>()
    const finish = (request: FastifyRequest) => {
      if (active.delete(request)) inFlight.dec()
    }
    // Callback hooks, not async ones: they run on every request, and a promise each is measurable.
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.headers.upgrade?.toLowerCase() !== 'websocket') {
        active.add(request)
        inFlight.inc()
      }
      done()
    })
    app.addHook('onRequestAbort', (request, done) => {
      finish(request)
      done()
    })
    app.addHook('onResponse', (request, reply, done) => {
      finish(request)
      const route = request.routeOptions.url ?? 'unmatched'
      duration.observe(request.method, route, reply.statusCode, reply.elapsedTime / 1000)
      if (reply.statusCode === 429) metrics.rateLimitRejections.inc({ limiter: reply.limiter ?? 'global' })
      done()
    })

    await app.register(underPressure, {
      maxEventLoopDelay: config.maxEventLoopDelayMs,
      maxHeapUsedBytes: config.maxHeapUsedBytes,
      // Long enough that a lone slow tick does not count as pressure, short enough to react within a second.
      sampleInterval: 500,
      retryAfter: 10,
      // Returning a body makes under-pressure send it; returning nothing lets the request through.
      pressureHandler: ((request: FastifyRequest, reply: FastifyReply) => {
        // Probes and scrapes go through: killing a busy instance for being busy only makes it worse.
        if (NO_PRESSURE_PATHS.some((path) => request.url.startsWith(path))) return undefined
        metrics.rateLimitRejections.inc({ limiter: 'load_shedding' })
        reply.code(503).header('retry-after', '10')
        return { detail: 'Server is under heavy load; retry shortly', code: 'service_unavailable' }
      }) as unknown as () => void,
    })

    const tokenHash = config.metricsToken ? sha256(config.metricsToken) : undefined
    const serve = async (request: FastifyRequest, reply: FastifyReply, requireToken: boolean) => {
      if (requireToken) {
        const presented = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1]
        if (!tokenHash || !presented || !safeEqual(sha256(presented), tokenHash)) {
          return reply.code(401).header('www-authenticate', 'Bearer').send({ detail: 'Metrics need the METRICS_TOKEN bearer token', code: 'not_authenticated' })
        }
      }
      return reply.type(registry.contentType).send(await registry.metrics())
    }

    if (config.metricsPort !== undefined) {
      // A separate listener, for a port the balancer does not expose.
      const server = Fastify({ logger: false })
      server.get('/metrics', (request, reply) => serve(request, reply, tokenHash !== undefined))
      app.addHook('onReady', async () => {
        await server.listen({ host: config.host, port: config.metricsPort! })
      })
      app.addHook('onClose', () => server.close())
    } else if (tokenHash || config.debug) {
      app.get('/metrics', { schema: { hide: true } }, (request, reply) => serve(request, reply, tokenHash !== undefined))
    }
  },
  { name: 'metrics', dependencies: ['cache', 'database', 'mail'] },
)
