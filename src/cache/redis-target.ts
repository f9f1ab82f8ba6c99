// Where Redis is, apart from the client that talks to it: the modules that only decide whether Redis is
// configured import this, so ioredis loads only in an app that uses Redis.

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
