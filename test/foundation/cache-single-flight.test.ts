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

describe.runIf(TEST_REDIS_URL)('getOrSet with a delete on another instance while a load is in flight', () => {
  it('does not store what the load read before the delete', async () => {
    const keyPrefix = `test:flight-cross:${Date.now()}:`
    const here = await createRedisCache({ url: TEST_REDIS_URL!, keyPrefix, onError: () => {} })
    const there = await createRedisCache({ url: TEST_REDIS_URL!, keyPrefix, onError: () => {} })
    caches.push(here, there)
    let release: () => void = () => {}
    let started: () => void = () => {}
    const loading = new Promise<void>((done) => {
      started = done
    })
    const slowOld = here.getOrSet(
      'apikey:abc',
      60,
      () =>
        new Promise<string>((done) => {
          release = () => done('valid')
          started()
        }),
    )
    await loading
    // The other instance revokes the key: this instance's in-flight load knows nothing of it.
    await there.delete('apikey:abc')
    release()
    expect(await slowOld).toBe('valid')
    expect(await there.get('apikey:abc')).toBeUndefined()
    // The next load stores what it read, and a counter on a deleted key starts from nothing.
    expect(await there.getOrSet('apikey:abc', 60, async () => 'revoked')).toBe('revoked')
    expect(await here.get('apikey:abc')).toBe('revoked')
    await there.delete('counter')
    expect(await there.increment('counter', 60)).toBe(1)
  })
})
