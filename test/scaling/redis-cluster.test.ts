import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { createRedisClient } from '../../src/cache/redis-client.js'
import { loadConfig } from '../../src/config/config.js'
import { randomIp } from '../helpers/factories.js'
import { sample } from '../helpers/metrics.js'
import { describeWith } from '../helpers/requirements.js'
import { TEST_SECRET, useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'
import { startRedisCluster, type RedisClusterUnderTest } from './redis-cluster.js'

/**
 * The app on a real three-master Redis Cluster of this file's own (it restarts one master). Runs on
 * whichever database the suite has; the cluster-wide passes over the other suites are in .ci/run.
 */
const context = useTestContext()
let cluster: RedisClusterUnderTest

const clusterEnv = (overrides: Record<string, string> = {}): Record<string, string | undefined> => ({ REDIS_URL: undefined, REDIS_CLUSTER_NODES: cluster.nodes.join(','), ...overrides })

/** Keys with the test file's prefix on each master, so a test sees where the app's keys landed. */
async function keysPerMaster(prefix: string): Promise<string[][]> {
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const [host, port] = node.split(':')
      const redis = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 0 })
      redis.on('error', () => {})
      try {
        await redis.connect()
        return await redis.keys(`*${prefix}*`)
      } finally {
        redis.disconnect()
      }
    }),
  )
}

/** A publish from `from` heard by a subscriber on `to`, through the cluster. */
async function crossInstanceMessage(from: App, to: App, channel: string): Promise<unknown> {
  const heard: unknown[] = []
  const unsubscribe = await to.cache.subscribe(channel, (message) => heard.push(message))
  try {
    const marker = { hello: Math.random() }
    // A subscription made a moment ago may not be in place on a freshly restarted node: publish until heard.
    await waitFor(
      async () => {
        await from.cache.publish(channel, marker).catch(() => undefined)
        await new Promise((resolve) => setTimeout(resolve, 50))
        return heard.some((message) => JSON.stringify(message) === JSON.stringify(marker))
      },
      `a message on ${channel} to cross instances`,
      { timeoutMs: 15_000, intervalMs: 100 },
    )
    return heard.find((message) => JSON.stringify(message) === JSON.stringify(marker))
  } finally {
    await unsubscribe()
  }
}

describe('Redis Cluster settings', () => {
  const settings = (env: Record<string, string>) => loadConfig({ SECRET_KEY: TEST_SECRET, DATA_DIR: 'memory://', ...env })

  it('select a cluster by REDIS_CLUSTER_NODES or ?cluster=true, and leave one server alone otherwise', () => {
    expect(settings({ REDIS_URL: 'redis://cache:6379/2' })).toMatchObject({ redisUrl: 'redis://cache:6379/2', redisClusterNodes: undefined })
    expect(settings({ REDIS_URL: 'rediss://user:pw@cache:6380?cluster=true' })).toMatchObject({
      redisUrl: 'rediss://user:pw@cache:6380',
      redisClusterNodes: ['cache:6380'],
    })
    expect(settings({ REDIS_CLUSTER_NODES: 'a:7000, b:7001,[::1]:7002' })).toMatchObject({ redisUrl: 'redis://a:7000', redisClusterNodes: ['a:7000', 'b:7001', '[::1]:7002'] })
    expect(settings({ REDIS_URL: 'rediss://default:token@cfg.example:6379', REDIS_CLUSTER_NODES: 'cfg.example:6379' }).redisUrl).toBe('rediss://default:token@cfg.example:6379')
  })

  it('refuse what a cluster cannot do, naming the variable', () => {
    expect(() => settings({ REDIS_CLUSTER_NODES: 'a:7000,nonsense' })).toThrow(/^REDIS_CLUSTER_NODES .*"nonsense"/)
    expect(() => settings({ REDIS_URL: 'redis://cache:6379/3?cluster=true' })).toThrow(/^REDIS_URL: a Redis Cluster has only database 0/)
    expect(() => settings({ REDIS_URL: 'redis://cache:6379?cluster=maybe' })).toThrow(/^REDIS_URL: cluster must be true or false/)
  })

  it('hand credentials and TLS from the URL to every cluster node', () => {
    const client = createRedisClient({ url: 'rediss://user:p%40ss@seed:7000', clusterNodes: ['seed:7000'] }, { lazyConnect: true })
    try {
      expect(client).toBeInstanceOf(Cluster)
      const options = (client as unknown as { options: { redisOptions: Record<string, unknown> } }).options.redisOptions
      expect(options).toMatchObject({ username: 'user', password: 'p@ss', tls: {} })
    } finally {
      client.disconnect()
    }
  })
})

// PostgreSQL too, though the cluster is what is tested: CI then runs this once (real-services pass), not
// again in the embedded pass.
describeWith('postgres', 'redis-server')('on a three-master Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster()
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('spreads cache keys over the masters and keeps every BullMQ key of a queue in one hash slot', async () => {
    const app = await context.buildApp(clusterEnv({ HOUSEKEEPING_INTERVAL_MINUTES: '0.01', LOG_LEVEL: 'silent' }))
    expect(app.housekeeping.schedule).toBe('queue')
    for (let index = 0; index < 60; index += 1) await app.cache.set(`spread:${index}`, { index }, 60)
    expect(await app.cache.get('spread:42')).toEqual({ index: 42 })

    const perMaster = await keysPerMaster(context.redisPrefix.replace(/:$/, ''))
    // Plain keys hash over all 16384 slots: 60 of them land on every master.
    const cacheKeys = perMaster.map((keys) => keys.filter((key) => key.startsWith(`${context.redisPrefix}spread:`)))
    expect(cacheKeys.every((keys) => keys.length > 0)).toBe(true)
    expect(await app.cache.deleteByPrefix('spread:')).toBe(60)
    expect(await app.cache.get('spread:42')).toBeUndefined()

    // Housekeeping runs through BullMQ on the cluster (its scripts would fail with CROSSSLOT otherwise) ...
    await waitFor(async () => sample(await app.metrics.registry.metrics(), 'housekeeping_runs_total', { result: 'success' }) >= 2, 'two housekeeping runs', {
      timeoutMs: 20_000,
    })
    // ... and its keys carry the hash tag, so all of them sit on one master.
    const tag = `{${context.redisPrefix.replace(/:+$/, '')}}`
    const bullKeys = (await keysPerMaster(tag)).map((keys) => keys.filter((key) => key.startsWith(`${tag}:housekeeping:`)))
    expect(bullKeys.filter((keys) => keys.length > 0)).toHaveLength(1)
    expect(bullKeys.flat().length).toBeGreaterThan(2)
    // Apps of one test share the queue of the next (same prefix): closed here, so none of them takes
    // the restart test's jobs or, after the restart, makes the scheduler again with its own interval.
    await app.close()
  })

  it('shares rate limits, login counters and pub/sub between two instances', async () => {
    const overrides = clusterEnv({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '4', AUTH_RATE_LIMIT_PER_MINUTE: '100' })
    const [a, b] = [await context.buildApp(overrides), await context.buildApp(overrides)]
    const ip = randomIp()
    const statuses: number[] = []
    for (let index = 0; index < 6; index += 1) {
      statuses.push((await (index % 2 === 0 ? a : b).inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip })).statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429])

    // The counters behind login and 2FA limits (a Lua script per key) count across instances too.
    const key = `cluster-counter:${ip}`
    expect((await a.limitCounters.hit(key, 60)).count).toBe(1)
    expect((await b.limitCounters.hit(key, 60)).count).toBe(2)
    expect(await crossInstanceMessage(a, b, 'cluster-test')).toBeDefined()
    expect(await crossInstanceMessage(b, a, 'cluster-test')).toBeDefined()
    // Their housekeeping interval is the default hour: after the restart test's master restart, either
    // could make the shared scheduler again with it. Closed, as above.
    await Promise.all([a.close(), b.close()])
  })

  it('recovers by itself when a master restarts: cache, counters, pub/sub and the queue work again', async () => {
    const overrides = clusterEnv({ HOUSEKEEPING_INTERVAL_MINUTES: '0.01', RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '1000' })
    const [a, b] = [await context.buildApp(overrides), await context.buildApp(overrides)]
    await crossInstanceMessage(a, b, 'before-restart')

    // Restart the master holding the queues' hash slot (it comes back without the housekeeping scheduler),
    // then, if it is another one, the master holding the most pub/sub connections (a subscriber loses its node).
    const tag = `{${context.redisPrefix.replace(/:+$/, '')}}`
    const queueMaster = (await keysPerMaster(tag)).findIndex((keys) => keys.some((key) => key.startsWith(`${tag}:housekeeping:`)))
    expect(queueMaster).toBeGreaterThanOrEqual(0)
    const pubsubClients = await Promise.all(
      cluster.nodes.map(async (node) => {
        const [host, port] = node.split(':')
        const redis = new Redis({ host, port: Number(port), maxRetriesPerRequest: 0 })
        try {
          return String(await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')).split('\n').filter(Boolean).length
        } finally {
          redis.disconnect()
        }
      }),
    )
    const pubsubMaster = pubsubClients.indexOf(Math.max(...pubsubClients))
    expect(pubsubClients[pubsubMaster]).toBeGreaterThan(0)
    await cluster.restart(queueMaster)
    if (pubsubMaster !== queueMaster) await cluster.restart(pubsubMaster)

    // Every slot answers again, the restarted master's included (its data is gone: no persistence).
    await waitFor(
      async () => {
        const writes = await Promise.allSettled(Array.from({ length: 30 }, (_, index) => a.cache.set(`after:${index}`, index, 60)))
        return writes.every((write) => write.status === 'fulfilled')
      },
      'writes to every slot after the restart',
      { timeoutMs: 20_000, intervalMs: 200 },
    )
    expect(await b.cache.get('after:17')).toBe(17)
    expect((await b.limitCounters.hit(`after-restart:${randomIp()}`, 60)).count).toBe(1)
    expect(await crossInstanceMessage(a, b, 'after-restart')).toBeDefined()
    expect(await crossInstanceMessage(b, a, 'after-restart')).toBeDefined()
    await waitFor(async () => (await a.inject({ method: 'GET', url: '/api/v1/health/ready' })).statusCode === 200, 'readiness after the restart', { timeoutMs: 15_000 })

    // The queue keeps running: housekeeping runs happen after the restart too.
    const runsNow = async () =>
      (await Promise.all([a, b].map(async (app) => sample(await app.metrics.registry.metrics(), 'housekeeping_runs_total', { result: 'success' })))).reduce((x, y) => x + y)
    const before = await runsNow()
    await waitFor(async () => (await runsNow()) >= before + 2, 'housekeeping runs after the restart', { timeoutMs: 20_000 })
  })
})
