import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/config.js'
import { stripPoolerFlag } from '../../src/db/database.js'
import { signedInUser } from '../helpers/factories.js'
import { servicesRequired } from '../helpers/requirements.js'
import { freshDatabase, TEST_DATABASE_URL, TEST_SECRET, useTestContext } from '../helpers/test-context.js'

/**
 * PgBouncer in transaction mode in front of TEST_DATABASE_URL's server (.ci/run starts one with
 * default_pool_size = 10 and names it in TEST_PGBOUNCER_URL). Without both the test skips; under
 * REQUIRE_SERVICES it fails instead.
 */
const PGBOUNCER_URL = process.env.TEST_PGBOUNCER_URL || undefined
const SERVER_POOL = 10
const context = useTestContext()

const missing = [TEST_DATABASE_URL ? undefined : 'TEST_DATABASE_URL', PGBOUNCER_URL ? undefined : 'TEST_PGBOUNCER_URL'].filter(Boolean)
const describePgbouncer = (name: string, body: () => void) => {
  if (missing.length === 0) return describe(name, body)
  if (!servicesRequired) return describe.skip(name, body)
  return describe(name, () => {
    it('has its services', () => {
      throw new Error(`REQUIRE_SERVICES is set but this test's services are missing: ${missing.join(', ')}`)
    })
  })
}

describe('pooler settings', () => {
  const settings = (env: Record<string, string>) => loadConfig({ SECRET_KEY: TEST_SECRET, DATA_DIR: 'memory://', ...env })

  it('turn prepared statements off for DATABASE_PREPARE=false or pgbouncer=true, which never reaches the server', () => {
    expect(settings({ DATABASE_URL: 'postgres://u@db/app' }).databasePrepare).toBe(true)
    expect(settings({ DATABASE_URL: 'postgres://u@db/app', DATABASE_PREPARE: 'false' }).databasePrepare).toBe(false)
    expect(settings({ DATABASE_URL: 'postgres://u@pooler:6432/app?sslmode=require&pgbouncer=true' }).databasePrepare).toBe(false)
    // Either one turns them off: an explicit true does not override the URL's word for it.
    expect(settings({ DATABASE_URL: 'postgres://u@pooler:6432/app?pgbouncer=true', DATABASE_PREPARE: 'true' }).databasePrepare).toBe(false)
    expect(stripPoolerFlag('postgres://u@pooler:6432/app?sslmode=require&pgbouncer=true')).toEqual({
      url: 'postgres://u@pooler:6432/app?sslmode=require',
      pgbouncer: true,
    })
    expect(stripPoolerFlag('postgres://u@db/app')).toEqual({ url: 'postgres://u@db/app', pgbouncer: false })
  })

  it('migrate through DATABASE_MIGRATION_URL, which defaults to DATABASE_URL and needs it', () => {
    expect(settings({ DATABASE_URL: 'postgresql://u@pooler:6432/app?pgbouncer=true' }).databaseMigrationUrl).toBe('postgres://u@pooler:6432/app?pgbouncer=true')
    expect(settings({ DATABASE_URL: 'postgres://u@pooler:6432/app', DATABASE_MIGRATION_URL: 'postgresql+asyncpg://u@db:5432/app' }).databaseMigrationUrl).toBe(
      'postgres://u@db:5432/app',
    )
    expect(() => settings({ DATABASE_MIGRATION_URL: 'postgres://u@db/app' })).toThrow(/DATABASE_MIGRATION_URL needs DATABASE_URL/)
    expect(() => settings({ DATABASE_URL: 'postgres://u@db/app', DATABASE_MIGRATION_URL: 'mysql://u@db/app' })).toThrow(/^DATABASE_MIGRATION_URL/)
  })
})

describePgbouncer('behind PgBouncer in transaction mode', () => {
  /** A fresh database, reached directly and through PgBouncer; the app migrates over the direct URL. */
  async function databaseBehindPooler(flag: boolean) {
    const fresh = await freshDatabase()
    const direct = new URL(fresh.url!)
    const pooled = new URL(PGBOUNCER_URL!)
    pooled.pathname = direct.pathname
    if (flag) pooled.searchParams.set('pgbouncer', 'true')
    else pooled.searchParams.delete('pgbouncer')
    return { fresh, name: direct.pathname.slice(1), directUrl: direct.toString(), pooledUrl: pooled.toString() }
  }

  /** Fires `count` requests at once while watching how many server connections PgBouncer holds to `database`. */
  async function burst(app: Awaited<ReturnType<typeof context.buildApp>>, headers: Record<string, string>, database: string, count: number) {
    const admin = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
    let peak = 0
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const [row] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = ${database}`
        peak = Math.max(peak, row!.n)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    })()
    try {
      const responses = await Promise.all(Array.from({ length: count }, () => app.inject({ method: 'GET', url: '/api/v1/auth/sessions/', headers })))
      return { statuses: responses.map((response) => response.statusCode), peak }
    } finally {
      watching = false
      await watcher
      await admin.end()
    }
  }

  it(`serves 200 concurrent requests over ${SERVER_POOL} server connections, with an app pool four times that`, async () => {
    const target = await databaseBehindPooler(true)
    try {
      const app = await context.buildApp({ DATABASE_URL: target.pooledUrl, DATABASE_MIGRATION_URL: target.directUrl, DATABASE_POOL_SIZE: String(SERVER_POOL * 4) })
      expect(app.config.databasePrepare).toBe(false)
      const user = await signedInUser(app)
      const { statuses, peak } = await burst(app, user.headers, target.name, 200)
      expect(statuses.filter((status) => status !== 200)).toEqual([])
      // PgBouncer's pool, not the app's, bounds what the server sees; more than one was in use at once.
      expect(peak).toBeLessThanOrEqual(SERVER_POOL)
      expect(peak).toBeGreaterThan(1)
      await app.close()
    } finally {
      await target.fresh.destroy()
    }
  }, 120_000)

  it('needs the setting: with prepared statements part of 200 concurrent queries never answer through it', async () => {
    // postgres.js on its own, as the app would use it without DATABASE_PREPARE=false: a statement is prepared on
    // one server connection and then executed on whichever one PgBouncer hands out next.
    // A database of its own, so the connections left hanging cannot hold up the pool other tests use.
    const target = await databaseBehindPooler(false)
    const sql = postgres(target.pooledUrl, { max: SERVER_POOL * 4, prepare: true, onnotice: () => {} })
    const within = <T>(query: Promise<T>) =>
      Promise.race([query, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 4 s')), 4_000))])
    try {
      const results = await Promise.allSettled(Array.from({ length: 200 }, (_, index) => within(sql`select ${index}::int as n`)))
      expect(results.filter((result) => result.status === 'rejected').length).toBeGreaterThan(0)
    } finally {
      await sql.end({ timeout: 0 })
      await target.fresh.destroy()
    }
  })
})
