import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { Cache } from '../cache/cache.js'
import { createMemoryCache } from '../cache/memory-cache.js'
import { redisTarget, type RedisTarget } from '../cache/redis-target.js'
import { Errors } from '../lib/errors.js'
import type { Counters } from '../modules/auth/attempt-limits.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-IP limit for one sensitive route (login, register, 2FA, password reset). */
    authLimitHook: (name: string) => preHandlerAsyncHookHandler
    /** Shared counters for the per-account limits that services enforce (modules/auth/attempt-limits.ts). */
    limitCounters: Counters
    /** Counts a failed API-key check for the per-address guessing limit. */
    countAuthFailure: (kind: 'api_key', key: string) => Promise<void>
    /** Whether API-key failures from this IP are over the limit. */
    apiKeyFailuresExceeded: (ip: string) => Promise<boolean>
  }
}

const WINDOW_SECONDS = 60

/** The global limit's own Redis connection; ioredis is loaded only by an app that uses Redis. */
async function connectStore(target: RedisTarget) {
  const [{ redisConnectionOptions }, { createRedisClient }] = await Promise.all([import('../cache/redis-cache.js'), import('../cache/redis-client.js')])
  return createRedisClient(target, { ...redisConnectionOptions(500), lazyConnect: false })
}

/**
 * Counters for the limits that protect credentials. They use the shared cache (Redis) so a limit
 * holds across instances, and fall back to this process's memory when Redis fails: brute-force
 * protection never switches off, it only becomes per-instance for a while.
 */
function createCounters(shared: Cache, onFallback: (error: unknown) => void): Counters & { close(): Promise<void> } {
  const local = createMemoryCache({ maxEntries: 50_000 })
  const withFallback = async <T>(work: (cache: Cache) => Promise<T>): Promise<T> => {
    try {
      return await work(shared)
    } catch (error) {
      onFallback(error)
      return work(local)
    }
  }
  return {
    hit: (key: string, windowSeconds: number) =>
      withFallback(async (cache) => ({ count: await cache.increment(key, windowSeconds), ttl: await cache.ttl(key) })),
    release: (key: string) => withFallback((cache) => cache.decrement(key)),
    peek: (key: string) => withFallback(async (cache) => ({ count: (await cache.get<number>(key)) ?? 0, ttl: await cache.ttl(key) })),
    close: () => local.close(),
  }
}

function tooMany(reply: FastifyReply, limit: number, ttl: number, message: string, limiter: string): Error {
  reply.limiter = limiter
  const retryAfter = Math.max(1, ttl)
  reply.header('retry-after', String(retryAfter))
  reply.header('x-ratelimit-limit', String(limit))
  reply.header('x-ratelimit-remaining', '0')
  reply.header('x-ratelimit-reset', String(retryAfter))
  return new Errors.TooManyRequests(message)
}

export default fp(
  async function rateLimitPlugin(app: FastifyInstance) {
    const { config } = app
    const enabled = config.rateLimitEnabled
    let lastWarning = 0
    const warn = (error: unknown, message: string) => {
      if (Date.now() - lastWarning < 10_000) return
      lastWarning = Date.now()
      app.log.warn({ err: { message: error instanceof Error ? error.message : String(error) } }, message)
    }
    const counters = createCounters(app.cache, (error) => warn(error, 'rate-limit store unavailable: auth limits counted per process'))
    app.addHook('onClose', () => counters.close())

    if (enabled) {
      // @fastify/rate-limit's store runs one single-key Lua script per request, which a cluster accepts as it is.
      const target = redisTarget(config)
      const redis = target ? await connectStore(target) : undefined
      redis?.on('error', (error) => warn(error, 'rate-limit store unavailable: global limit fails open'))
      if (redis) app.addHook('onClose', async () => void redis.disconnect())
      const exempt = config.rateLimitExempt
      await app.register(rateLimit, {
        global: false,
        ...(redis ? { redis, nameSpace: `${config.redisKeyPrefix}rl:` } : {}),
        // The global limit is about fairness, not security: while Redis is away, let traffic through.
        skipOnError: true,
      })
      // A root hook, not a per-route one: it must count requests before authentication can reject them.
      app.addHook(
        'onRequest',
        app.rateLimit({
          max: config.rateLimitPerMinute,
          timeWindow: WINDOW_SECONDS * 1000,
          allowList: (request) => {
            const path = request.url.split('?')[0] ?? ''
            return exempt.some((prefix) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`))
          },
          keyGenerator: (request) => request.ip,
          errorResponseBuilder: (_request, context) => ({
            statusCode: 429,
            detail: `Rate limit exceeded: ${context.max} requests per minute; retry in ${context.after}`,
          }),
        }),
      )
    }

    app.decorate('authLimitHook', (name: string): preHandlerAsyncHookHandler => async (request, reply) => {
      if (!enabled) return
      const limit = config.authRateLimitPerMinute
      const { count, ttl } = await counters.hit(`rl:auth:${name}:${request.ip}`, WINDOW_SECONDS)
      reply.header('x-ratelimit-limit', String(limit))
      reply.header('x-ratelimit-remaining', String(Math.max(0, limit - count)))
      reply.header('x-ratelimit-reset', String(Math.max(0, ttl)))
      if (count > limit) throw tooMany(reply, limit, ttl, `Too many ${name} attempts; try again later`, name)
    })

    app.decorate('limitCounters', counters)

    app.decorate('countAuthFailure', async (_kind: 'api_key', key: string) => {
      if (!enabled) return
      await counters.hit(`rl:api-key-fail:${key}`, WINDOW_SECONDS)
    })

    app.decorate('apiKeyFailuresExceeded', async (ip: string) => {
      if (!enabled) return false
      return (await counters.peek(`rl:api-key-fail:${ip}`)).count >= config.authRateLimitPerMinute
    })
  },
  { name: 'rate-limit', dependencies: ['cache'] },
)
