import { randomUUID } from 'node:crypto'
import type { RedisOptions } from 'ioredis'
import { SingleFlight, type Cache } from './cache.js'
import { createRedisClient, scanTargets, type RedisClient } from './redis-client.js'

// Every script and command here touches one key, so the cache works unchanged on a Redis Cluster:
// no hash tags are needed, and keys spread over all the masters.
// INCR and EXPIRE in one step: a crash between the two would leave a counter that never expires.
// A tombstone (see below) counts as a missing key.
const INCREMENT_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current and string.byte(current, 1) == 0 then redis.call('DEL', KEYS[1]) end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count`

// DECR on an expired key would create a counter without expiry: only touch a key that still exists.
const DECREMENT_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current and string.byte(current, 1) ~= 0 then return redis.call('DECR', KEYS[1]) end
return 0`

// A delete leaves a tombstone, not an empty key, and a load's write-back only lands if the key still
// holds what the load saw before it started (nothing, or the same tombstone). So a load that read the
// old row before a delete on any instance cannot store it after that delete: the compare is in Redis,
// not in one process. Tombstones start with a NUL byte, which no JSON value does.
const TOMBSTONE_MARK = '\u0000deleted:'
// Longer than any load takes: a load still running when its tombstone expires could store what it read.
const TOMBSTONE_TTL_SECONDS = 60
const STORE_IF_UNCHANGED_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0`

export interface RedisCacheOptions {
  url: string
  /** Seed nodes of a Redis Cluster; `url` then supplies credentials and TLS only. */
  clusterNodes?: readonly string[] | undefined
  /** Prepended to every key and channel, so several apps (or test files) can share one Redis. */
  keyPrefix: string
  /** How long one command may take before it fails; keeps requests fast while Redis is away. */
  commandTimeoutMs?: number
  onError?: (error: Error) => void
}

export function redisConnectionOptions(commandTimeoutMs: number): RedisOptions {
  return {
    // While disconnected, fail commands at once rather than queueing them behind the outage.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    // Keep trying forever with a short ceiling, so the app heals by itself when Redis returns.
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    lazyConnect: true,
  }
}

export async function createRedisCache(options: RedisCacheOptions): Promise<Cache> {
  const prefix = options.keyPrefix
  const target = { url: options.url, clusterNodes: options.clusterNodes }
  const connectionOptions = redisConnectionOptions(options.commandTimeoutMs ?? 1000)
  const client = createRedisClient(target, connectionOptions)
  let subscriber: RedisClient | undefined
  const handlers = new Map<string, Set<(message: unknown) => void>>()
  const flights = new SingleFlight()
  const reportError = options.onError ?? (() => {})
  client.on('error', reportError)

  try {
    await client.connect()
  } catch (error) {
    // Boot anyway: ioredis keeps reconnecting, and health/cache reports the outage meanwhile.
    reportError(error as Error)
  }

  const ensureSubscriber = async (): Promise<RedisClient> => {
    if (subscriber) return subscriber
    // In a cluster PUBLISH reaches every node, so one subscription on any node hears all of it.
    subscriber = createRedisClient(target, { ...connectionOptions, enableOfflineQueue: true, commandTimeout: undefined })
    subscriber.on('error', reportError)
    subscriber.on('messageBuffer', (channelBuffer: Buffer, payload: Buffer) => {
      const channel = channelBuffer.toString().slice(prefix.length)
      const listeners = handlers.get(channel)
      if (!listeners) return
      let message: unknown
      try {
        message = JSON.parse(payload.toString())
      } catch {
        return
      }
      for (const listener of listeners) listener(message)
    })
    if (subscriber.status === 'wait') await subscriber.connect().catch(reportError)
    return subscriber
  }

  const readJson = <T>(raw: string | null): T | undefined => (raw === null || raw.startsWith(TOMBSTONE_MARK) ? undefined : (JSON.parse(raw) as T))
  const write = async (key: string, value: unknown, ttlSeconds?: number) => {
    const payload = JSON.stringify(value)
    if (ttlSeconds) await client.set(prefix + key, payload, 'EX', ttlSeconds)
    else await client.set(prefix + key, payload)
  }

  return {
    kind: 'redis',
    async get<T>(key: string) {
      return readJson<T>(await client.get(prefix + key))
    },
    set: write,
    async delete(key) {
      flights.forget(key)
      await client.set(prefix + key, TOMBSTONE_MARK + randomUUID(), 'EX', TOMBSTONE_TTL_SECONDS)
    },
    async deleteByPrefix(keyPrefix) {
      flights.forgetPrefix(keyPrefix)
      let removed = 0
      // A cluster's keys are spread over its masters, and SCAN walks one node: walk each.
      for (const node of scanTargets(client)) {
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(prefix + keyPrefix)}*`, 'COUNT', 500)
          cursor = next
          if (keys.length === 0) continue
          // Keys of one node still sit in many slots, and a multi-key UNLINK across slots is refused there.
          if (node === client) removed += await client.unlink(...keys)
          else removed += (await Promise.all(keys.map((key) => client.unlink(key)))).reduce((sum, count) => sum + count, 0)
        } while (cursor !== '0')
      }
      return removed
    },
    async increment(key, ttlSeconds) {
      return Number(await client.eval(INCREMENT_SCRIPT, 1, prefix + key, ttlSeconds))
    },
    async decrement(key) {
      await client.eval(DECREMENT_SCRIPT, 1, prefix + key)
    },
    async ttl(key) {
      // Not tombstone-aware: only counters (which are never deleted) ask for their TTL.
      return client.ttl(prefix + key)
    },
    async getOrSet<T>(key: string, ttlSeconds: number, load: () => Promise<T>) {
      let raw: string | null
      try {
        raw = await client.get(prefix + key)
      } catch (error) {
        // Redis away: serve from the source of truth rather than failing the request.
        reportError(error as Error)
        return load()
      }
      const cached = readJson<T>(raw)
      if (cached !== undefined) return cached
      return flights.run(key, async (stale) => {
        const value = await load()
        if (value !== undefined && !stale()) {
          await client.eval(STORE_IF_UNCHANGED_SCRIPT, 1, prefix + key, raw ?? '', JSON.stringify(value), ttlSeconds).catch(reportError)
        }
        return value
      })
    },
    async publish(channel, message) {
      await client.publish(prefix + channel, JSON.stringify(message))
    },
    async subscribe(channel, handler) {
      const connection = await ensureSubscriber()
      let listeners = handlers.get(channel)
      if (!listeners) {
        listeners = new Set()
        handlers.set(channel, listeners)
        await connection.subscribe(prefix + channel)
      }
      listeners.add(handler)
      return async () => {
        listeners.delete(handler)
        if (listeners.size === 0) {
          handlers.delete(channel)
          // Offline, there is nothing to unsubscribe from, and a queued command would wait for Redis forever.
          if (connection.status === 'ready') await connection.unsubscribe(prefix + channel).catch(reportError)
        }
      }
    },
    async ping(timeoutMs) {
      const started = performance.now()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis did not answer within ${timeoutMs} ms`)), timeoutMs)
        }),
      ]).finally(() => clearTimeout(timer))
      return Math.round((performance.now() - started) * 100) / 100
    },
    async close() {
      // QUIT only a live connection, and not for long: during an outage it would wait for Redis forever.
      const quit = (connection: RedisClient | undefined) =>
        connection?.status === 'ready' ? Promise.race([connection.quit(), new Promise((resolve) => setTimeout(resolve, 1000))]) : undefined
      await Promise.allSettled([quit(client), quit(subscriber)])
      client.disconnect()
      subscriber?.disconnect()
    },
  }
}

function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, '\\$&')
}
