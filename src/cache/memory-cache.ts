import { EventEmitter } from 'node:events'
import { SingleFlight, type Cache } from './cache.js'

interface Entry {
  value: string
  expiresAt: number | undefined
}

/** In-process cache for the embedded default; state lives and dies with this process. */
export function createMemoryCache(options: { maxEntries?: number } = {}): Cache {
  const maxEntries = options.maxEntries ?? 100_000
  const entries = new Map<string, Entry>()
  const bus = new EventEmitter().setMaxListeners(0)
  const flights = new SingleFlight()

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      entries.delete(key)
      return undefined
    }
    return entry
  }
  const store = (key: string, value: unknown, ttlSeconds?: number) => {
    // Map keeps insertion order, so the first key is the oldest: a cheap bound on memory.
    if (entries.size >= maxEntries && !entries.has(key)) entries.delete(entries.keys().next().value as string)
    entries.set(key, { value: JSON.stringify(value), expiresAt: ttlSeconds ? Date.now() + ttlSeconds * 1000 : undefined })
  }
  const sweep = setInterval(() => {
    for (const key of entries.keys()) live(key)
  }, 60_000).unref()

  const cache: Cache = {
    kind: 'memory',
    async get<T>(key: string) {
      const entry = live(key)
      return entry === undefined ? undefined : (JSON.parse(entry.value) as T)
    },
    async set(key, value, ttlSeconds) {
      store(key, value, ttlSeconds)
    },
    async delete(key) {
      flights.forget(key)
      entries.delete(key)
    },
    async deleteByPrefix(prefix) {
      flights.forgetPrefix(prefix)
      let removed = 0
      for (const key of [...entries.keys()]) {
        if (key.startsWith(prefix)) {
          entries.delete(key)
          removed += 1
        }
      }
      return removed
    },
    async increment(key, ttlSeconds) {
      const entry = live(key)
      const next = (entry ? Number(JSON.parse(entry.value)) : 0) + 1
      entries.set(key, { value: String(next), expiresAt: entry?.expiresAt ?? Date.now() + ttlSeconds * 1000 })
      return next
    },
    async decrement(key) {
      const entry = live(key)
      if (entry) entries.set(key, { value: String(Number(JSON.parse(entry.value)) - 1), expiresAt: entry.expiresAt })
    },
    async ttl(key) {
      const entry = live(key)
      if (!entry) return -2
      return entry.expiresAt === undefined ? -1 : Math.ceil((entry.expiresAt - Date.now()) / 1000)
    },
    getOrSet<T>(key: string, ttlSeconds: number, load: () => Promise<T>) {
      const entry = live(key)
      if (entry) return Promise.resolve(JSON.parse(entry.value) as T)
      return flights.run(key, async (stale) => {
        const value = await load()
        if (value !== undefined && !stale()) store(key, value, ttlSeconds)
        return value
      })
    },
    async publish(channel, message) {
      // Serialise like Redis does, so subscribers never share mutable objects with the publisher.
      const payload = JSON.stringify(message)
      queueMicrotask(() => bus.emit(channel, JSON.parse(payload)))
    },
    async subscribe(channel, handler) {
      bus.on(channel, handler)
      return async () => {
        bus.off(channel, handler)
      }
    },
    async ping() {
      return 0
    },
    async close() {
      clearInterval(sweep)
      entries.clear()
      bus.removeAllListeners()
    },
  }
  return cache
}
