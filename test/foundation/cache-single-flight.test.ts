import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryCache } from '../../src/cache/memory-cache.js'
import { createRedisCache } from '../../src/cache/redis-cache.js'
import type { Cache } from '../../src/cache/cache.js'
import { TEST_REDIS_URL } from '../helpers/test-context.js'

const caches: Cache[] = []
afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.close()))
})

async function cacheUnderTest(): Promise<Cache> {
  const cache = TEST_REDIS_URL
    ? await createRedisCache({ url: TEST_REDIS_URL, keyPrefix: `test:flight:${Date.now()}:`, onError: () => {} })
    : createMemoryCache()
  caches.push(cache)
  return cache
}

describe('getOrSet with a delete while a load is in flight', () => {
  it('starts a new load for later callers and never stores what the earlier load read', async () => {
    const cache = await cacheUnderTest()
    let release: () => void = () => {}
    let started: () => void = () => {}
    const loading = new Promise<void>((done) => {
      started = done
    })
    const slowOld = cache.getOrSet(
      'user:1',
      60,
      () =>
        new Promise<string>((done) => {
          release = () => done('old')
          started()
        }),
    )
    // The value changes and is invalidated while the first load is still reading the old one.
    await loading
    await cache.delete('user:1')
    const fresh = await cache.getOrSet('user:1', 60, async () => 'new')
    expect(fresh).toBe('new')
    release()
    expect(await slowOld).toBe('old')
    // The late, stale load did not overwrite the fresh value.
    expect(await cache.get('user:1')).toBe('new')
  })
})
