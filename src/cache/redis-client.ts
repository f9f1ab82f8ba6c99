import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

/** One Redis server or a Redis Cluster: every Redis user in the app takes either. */
export type RedisClient = Redis | Cluster

/** Where Redis is. `clusterNodes` (seed `host:port`s) selects a cluster; `url` then gives credentials and TLS. */
export interface RedisTarget {
  readonly url: string
  readonly clusterNodes?: readonly string[] | undefined
}

/** The Redis target of a parsed configuration, or undefined when the app runs on in-process stores. */
export function redisTarget(config: { readonly redisUrl: string | undefined; readonly redisClusterNodes: readonly string[] | undefined }): RedisTarget | undefined {
  return config.redisUrl === undefined ? undefined : { url: config.redisUrl, clusterNodes: config.redisClusterNodes }
}

/**
 * Keys one Lua script or MULTI touches together must hash to one slot in a cluster. A `{tag}` makes
 * Redis hash only the tag, so `{carbelsad}:mail:1` and `{carbelsad}:mail:2` always share a slot.
 */
export function hashTag(value: string): string {
  return `{${value.replace(/[{}]/g, '')}}`
}

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
