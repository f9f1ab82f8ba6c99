import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres, { type Sql } from 'postgres'
import type { Config } from '../config/config.js'
import { tracePostgres } from '../observability/db-tracing.js'
import { type EmbeddedServer, startEmbeddedServer } from './embedded-server.js'
import { preparedStatements } from './prepared-statements.js'
import * as schema from './schema.js'

export type Schema = typeof schema
/** The query surface shared by both drivers; a transaction has the same shape. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>

export const MIGRATIONS_FOLDER = resolve(import.meta.dirname, '../../drizzle')

export interface Database {
  readonly db: Db
  readonly kind: 'postgresql' | 'pglite'
  migrate(): Promise<void>
  /** Round-trip latency in milliseconds; rejects when the database does not answer within `timeoutMs`. */
  ping(timeoutMs: number): Promise<number>
  /** Pool usage, for metrics and diagnostics. */
  close(): Promise<void>
}

export interface DatabaseOptions {
  /** postgres:// URL; omitted means embedded PGlite. */
  url?: string | undefined
  /** PGlite data directory, or `memory://` for a throwaway database. */
  dataDir?: string
  poolSize?: number
  timeoutSeconds?: number
  /** Give every query an OpenTelemetry span (on when tracing is configured). */
  tracing?: boolean
  /** Server-side prepared statements (default on); `pgbouncer=true` in the URL turns them off too. */
  prepare?: boolean
  /** postgres:// URL that migrate() uses instead of `url`, e.g. a direct connection past a pooler. */
  migrationUrl?: string | undefined
  /** Embedded only: a PGlite dump a new database starts as (see startEmbeddedServer). */
  template?: string | undefined
  /** Embedded only: the server for `dataDir`, when the caller started it already (see server.ts). */
  embedded?: Promise<EmbeddedServer> | undefined
}

/**
 * Removes `pgbouncer=true`, which is ours and not PostgreSQL's: postgres.js would send it to the
 * server as a startup parameter, and PgBouncer refuses unknown ones. Says whether it was on.
 */
export function stripPoolerFlag(url: string): { url: string; pgbouncer: boolean } {
  const parsed = new URL(url)
  const flag = parsed.searchParams.get('pgbouncer')
  if (flag === null) return { url, pgbouncer: false }
  parsed.searchParams.delete('pgbouncer')
  return { url: parsed.toString(), pgbouncer: ['true', '1', 'yes', 'on'].includes(flag.toLowerCase()) }
}

/** `sslmode` / `ssl` query parameters, as cloud providers write them, mapped to postgres.js options. */
export function sslFromUrl(url: string): { url: string; ssl: boolean | 'require' | 'prefer' | 'verify-full' } {
  const parsed = new URL(url)
  const mode = (parsed.searchParams.get('sslmode') ?? parsed.searchParams.get('ssl') ?? '').toLowerCase()
  parsed.searchParams.delete('sslmode')
  parsed.searchParams.delete('ssl')
  const map: Record<string, boolean | 'require' | 'prefer' | 'verify-full'> = {
    '': false,
    disable: false,
    false: false,
    allow: 'prefer',
    prefer: 'prefer',
    require: 'require',
    true: 'require',
    'verify-ca': 'verify-full',
    'verify-full': 'verify-full',
  }
  return { url: parsed.toString(), ssl: map[mode] ?? 'require' }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function timedPing(db: Db, timeoutMs: number): Promise<number> {
  const started = performance.now()
  await withTimeout(db.execute(sql`select 1`), timeoutMs, 'database')
  return Math.round((performance.now() - started) * 100) / 100
}

/** The app's database, as its configuration describes it; `embedded`: its embedded server, already starting. */
export function openDatabase(config: Config, embedded?: Promise<EmbeddedServer>): Promise<Database> {
  return createDatabase({
    embedded,
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    timeoutSeconds: config.databaseTimeoutSeconds,
    tracing: config.tracing,
    prepare: config.databasePrepare,
    migrationUrl: config.databaseMigrationUrl,
  })
}

/** The folder time of the newest migration, as Drizzle's migrator reads it from the journal. */
function newestMigrationMillis(): number {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: { when: number }[] }
  return Math.max(...journal.entries.map((entry) => entry.when))
}

/**
 * Applies the migrations the database lacks. Drizzle's migrator decides by time: a migration applies
 * when its folder time is after the newest one recorded. The same test, made first with one SELECT,
 * spares a start with nothing to apply Drizzle's CREATE SCHEMA / CREATE TABLE IF NOT EXISTS and an
 * empty transaction (about 0.3 s on the embedded database); anything else goes to the migrator.
 */
async function migrate(client: Sql): Promise<void> {
  try {
    const [row] = await client<{ newest: string | null }[]>`select max(created_at)::text as newest from drizzle.__drizzle_migrations`
    if (row?.newest != null && Number(row.newest) >= newestMigrationMillis()) return
  } catch {
    // No migrations table yet: a new database.
  }
  await migratePostgres(drizzlePostgres(client), { migrationsFolder: MIGRATIONS_FOLDER })
}

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) {
    const pooler = stripPoolerFlag(options.url)
    const { url, ssl } = sslFromUrl(pooler.url)
    const timeout = options.timeoutSeconds ?? 5
    // Behind a transaction pooler consecutive statements may run on different server connections, where
    // a statement prepared on the first does not exist.
    const prepare = (options.prepare ?? true) && !pooler.pgbouncer
    // PgBouncer refuses startup parameters it does not know, statement_timeout among them: behind a
    // pooler the timeout belongs on the database role (ALTER ROLE ... SET statement_timeout).
    const startup = (prepared: boolean) =>
      prepared ? { application_name: 'carbelsad', statement_timeout: timeout * 1000 * 6 } : { application_name: 'carbelsad' }
    const client = postgres(url, {
      max: options.poolSize ?? 10,
      ssl,
      prepare,
      // Fail fast while the server is away instead of queueing requests behind a dead socket.
      connect_timeout: timeout,
      idle_timeout: 60,
      max_lifetime: 60 * 30,
      onnotice: () => {},
      connection: startup(prepare),
    })
    const target = new URL(url)
    const prepared = preparedStatements(client)
    const queries = options.tracing
      ? tracePostgres(prepared, { system: 'postgresql', database: target.pathname.slice(1) || 'postgres', host: target.hostname, port: Number(target.port || 5432) })
      : prepared
    const db = drizzlePostgres(queries, { schema }) as unknown as Db
    return {
      db,
      kind: 'postgresql',
      async migrate() {
        if (options.migrationUrl === undefined || options.migrationUrl === options.url) {
          return migrate(client)
        }
        // A connection of its own to the migration URL (typically the server itself, past the pooler).
        const direct = stripPoolerFlag(options.migrationUrl)
        const target = sslFromUrl(direct.url)
        const prepareDirect = (options.prepare ?? true) && !direct.pgbouncer
        const migrator = postgres(target.url, {
          max: 1,
          ssl: target.ssl,
          prepare: prepareDirect,
          connect_timeout: timeout,
          onnotice: () => {},
          connection: startup(prepareDirect),
        })
        try {
          await migrate(migrator)
        } finally {
          await migrator.end({ timeout: 5 })
        }
      },
      ping: (timeoutMs) => timedPing(db, timeoutMs),
      close: () => client.end({ timeout: 5 }),
    }
  }

  // The embedded database runs PGlite in its own thread behind a unix socket (see embedded-server.ts),
  // reached through postgres.js like a real server: one driver and one code path for both.
  const server = await (options.embedded ?? startEmbeddedServer(options.dataDir ?? 'memory://', { template: options.template }))
  // One connection: PGlite runs one statement at a time, and a transaction holds it until it ends.
  const client = postgres({
    path: server.socketPath,
    username: 'postgres',
    database: 'postgres',
    max: 1,
    idle_timeout: 0,
    onnotice: () => {},
  })
  const prepared = preparedStatements(client)
  const queries = options.tracing ? tracePostgres(prepared, { system: 'postgresql', database: 'pglite' }) : prepared
  const db = drizzlePostgres(queries, { schema }) as unknown as Db
  return {
    db,
    kind: 'pglite',
    migrate: () => migrate(client),
    ping: (timeoutMs) => timedPing(db, timeoutMs),
    async close() {
      await client.end({ timeout: 5 })
      await server.stop()
    },
  }
}
