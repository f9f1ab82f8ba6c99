import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Cache } from '../cache/cache.js'
import { createMemoryCache } from '../cache/memory-cache.js'
import type { Config } from '../config/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    cache: Cache
  }
}

export default fp(
  async function cachePlugin(app: FastifyInstance, { config }: { config: Config }) {
    let lastErrorLog = 0
    // ioredis is loaded only by an app that uses Redis.
    const cache = config.redisUrl
      ? await (await import('../cache/redis-cache.js')).createRedisCache({
          url: config.redisUrl,
          clusterNodes: config.redisClusterNodes,
          keyPrefix: config.redisKeyPrefix,
          onError: (error) => {
            // ioredis reports every reconnect attempt; one line every few seconds is enough.
            const now = Date.now()
            if (now - lastErrorLog < 5000) return
            lastErrorLog = now
            app.log.warn({ err: { message: error.message } }, 'redis unavailable')
          },
        })
      : createMemoryCache()
    app.decorate('cache', cache)
    app.addHook('onClose', () => cache.close())
  },
  { name: 'cache' },
)
