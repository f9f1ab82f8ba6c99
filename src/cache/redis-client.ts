import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisTarget } from './redis-target.js'

/** One Redis server or a Redis Cluster: every Redis user in the app takes either. */
export type RedisClient = Redis | Cluster

function splitNode(node: string): { host: string; port: number } {
  const colon = node.lastIndexOf(':')
  return { host: node.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(node.slice(colon + 1)) }
}

/**
 * A client for the target with these options. For a cluster the per-connection options go to every
 * node and the connection-level ones (offline queue, retries, lazy connect) to the cluster itself.
 */
export function createRedisClient(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  if (target.clusterNodes === undefined) return new Redis(target.url, options)
  const url = new URL(target.url)
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...nodeOptions } = options
  const tls = url.protocol === 'rediss:'
  const clusterOptions: ClusterOptions = {
    redisOptions: {
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(tls ? { tls: {} } : {}),
      ...nodeOptions,
    },
    enableOfflineQueue: enableOfflineQueue ?? true,
    lazyConnect: lazyConnect ?? false,
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) } : {}),
    // Managed clusters with TLS (ElastiCache, Memorystore) announce node IPs, while the certificate names
    // the configured host: connecting by the name as given keeps certificate checks passing.
    ...(tls ? { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) } : {}),
    // A node that restarted or a resharding shows up as MOVED / connection errors; ask for the slot map again soon.
    slotsRefreshTimeout: 2000,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
  }
  return new Cluster(target.clusterNodes.map(splitNode), clusterOptions)
}

/** The master connections of a cluster, or the client itself: where a SCAN has to look. */
export function scanTargets(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client]
}
