import { ConfigError } from './config-error.js'
import type { parseEnv } from './env-parsers.js'

type Env = ReturnType<typeof parseEnv>

/**
 * `pgbouncer=true` in a database URL: the convention Prisma and Supabase use to say "this is a
 * transaction pooler". The parameter is ours, not PostgreSQL's, and is stripped before connecting.
 */
export function pgbouncerRequested(url: string | undefined): boolean {
  if (url === undefined) return false
  try {
    return ['true', '1', 'yes', 'on'].includes((new URL(url).searchParams.get('pgbouncer') ?? '').toLowerCase())
  } catch {
    return false
  }
}

export interface DatabaseScalingSettings {
  readonly databasePrepare: boolean
  readonly databaseMigrationUrl: string | undefined
}

/**
 * DATABASE_PREPARE and DATABASE_MIGRATION_URL. Behind a transaction pooler each statement may run on a
 * different server connection, so a statement prepared on one is missing on the next: prepared
 * statements go off there. Migrations may need a direct connection, hence a URL of their own.
 */
export function parseDatabaseSettings(env: Env, databaseUrl: string | undefined, normalize: (raw: string) => string): DatabaseScalingSettings {
  const migrationRaw = env.optionalString('DATABASE_MIGRATION_URL')
  if (migrationRaw !== undefined && databaseUrl === undefined) {
    throw new ConfigError('DATABASE_MIGRATION_URL needs DATABASE_URL: the embedded database migrates itself')
  }
  let databaseMigrationUrl = databaseUrl
  if (migrationRaw !== undefined) {
    try {
      databaseMigrationUrl = normalize(migrationRaw)
    } catch (error) {
      throw new ConfigError(`DATABASE_MIGRATION_URL: ${(error as Error).message.replace(/^DATABASE_URL /, '')}`)
    }
  }
  return {
    databasePrepare: env.bool('DATABASE_PREPARE', true) && !pgbouncerRequested(databaseUrl),
    databaseMigrationUrl,
  }
}

export interface RedisScalingSettings {
  /** The Redis URL (credentials, TLS, database); with a cluster, the first seed node when REDIS_URL is unset. */
  readonly redisUrl: string | undefined
  /** Seed nodes (`host:port`) of a Redis Cluster; undefined for a single server. */
  readonly redisClusterNodes: readonly string[] | undefined
}

const NODE_PATTERN = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d{1,5})$/i

/**
 * REDIS_URL and REDIS_CLUSTER_NODES. A cluster is chosen by REDIS_CLUSTER_NODES (`host:port,...`, the
 * URL then supplying only credentials and TLS) or by `?cluster=true` on REDIS_URL, its host being the seed.
 */
export function parseRedisSettings(env: Env): RedisScalingSettings {
  const raw = env.optionalUrl('REDIS_URL', ['redis:', 'rediss:'])
  const nodesRaw = env.optionalString('REDIS_CLUSTER_NODES')
  let redisUrl = raw
  let seeds: string[] | undefined
  if (raw !== undefined) {
    const url = new URL(raw)
    const cluster = url.searchParams.get('cluster')
    if (cluster !== null) {
      if (!['true', 'false'].includes(cluster.toLowerCase())) throw new ConfigError(`REDIS_URL: cluster must be true or false (got "${cluster}")`)
      url.searchParams.delete('cluster')
      redisUrl = url.toString().replace(/\/+$/, '')
      if (cluster.toLowerCase() === 'true') seeds = [`${url.hostname}:${url.port || '6379'}`]
    }
  }
  if (nodesRaw !== undefined) {
    seeds = nodesRaw
      .split(',')
      .map((node) => node.trim())
      .filter(Boolean)
    const wrong = seeds.find((node) => !NODE_PATTERN.test(node))
    if (seeds.length === 0 || wrong !== undefined) {
      throw new ConfigError(`REDIS_CLUSTER_NODES must be a comma-separated list of host:port (got "${wrong ?? nodesRaw}")`)
    }
    redisUrl ??= `redis://${seeds[0]}`
  }
  if (seeds !== undefined && redisUrl !== undefined) {
    // A cluster has only database 0; anything else would silently land there.
    const db = new URL(redisUrl).pathname.replace(/^\/+/, '')
    if (db !== '' && db !== '0') throw new ConfigError(`REDIS_URL: a Redis Cluster has only database 0 (got /${db})`)
  }
  return { redisUrl, redisClusterNodes: seeds }
}
