import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { afterAll, beforeAll, inject } from 'vitest'
import { buildApp, type App, type AppOptions } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config/config.js'
import { createDatabase, type Database } from '../../src/db/database.js'

/** Real services for the suite; when unset, tests run on the embedded defaults. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || undefined
export const usingPostgres = TEST_DATABASE_URL !== undefined
export const usingRedis = TEST_REDIS_URL !== undefined

/**
 * What test databases start from, made once (and kept) by test/setup/database-templates.ts: the same
 * database as initdb and the migrations would make, without spending seconds on each. On PGlite two
 * dumps (empty, migrated); on PostgreSQL a migrated database to copy.
 */
const templates = inject('embeddedTemplates')
const postgresTemplate = inject('postgresTemplate')

export const TEST_SECRET = 'test-secret-key-that-is-long-enough-for-production-use'

export interface TestContext {
  /** A fresh database for this test file: its own PostgreSQL database, or its own PGlite. */
  readonly databaseUrl: string | undefined
  /** Redis key prefix of this test file, so files never see each other's keys. */
  readonly redisPrefix: string
  /** The shared embedded database (PGlite mode only); apps built outside the context pass it on. */
  readonly database: Database | undefined
  config(overrides?: Record<string, string | undefined>): Config
  /** Builds an app on this file's database; pass overrides as environment variables. */
  buildApp(overrides?: Record<string, string | undefined>, options?: Partial<AppOptions>): Promise<App>
}

/** A new database on the server; a copy of `template` when given, else empty. */
async function createPostgresDatabase(adminUrl: string, template?: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `test_${randomBytes(6).toString('hex')}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(template ? `create database ${name} template ${template}` : `create database ${name}`)
  await admin.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} })
      await dropper.unsafe(`drop database if exists ${name} with (force)`)
      await dropper.end()
    },
  }
}

export interface FreshDatabase {
  /** PostgreSQL URL of the new database (PostgreSQL mode), or undefined. */
  readonly url: string | undefined
  /** The new in-memory PGlite (embedded mode), or undefined. */
  readonly database: Database | undefined
  /** Closes (PGlite) or drops (PostgreSQL) it. */
  destroy(): Promise<void>
}

/** An empty database with no migrations applied, for tests of what happens (or not) at start. */
export async function freshDatabase(): Promise<FreshDatabase> {
  if (TEST_DATABASE_URL) {
    const created = await createPostgresDatabase(TEST_DATABASE_URL)
    return { url: created.url, database: undefined, destroy: created.drop }
  }
  const database = await createDatabase({ dataDir: 'memory://', template: templates?.empty })
  return { url: undefined, database, destroy: () => database.close() }
}

/**
 * Registers beforeAll/afterAll for one test file: a database of its own, and every app built
 * through the context closed at the end.
 */
export function useTestContext(): TestContext {
  const apps: App[] = []
  let databaseUrl: string | undefined
  let drop: (() => Promise<void>) | undefined
  let embedded: Database | undefined
  const redisPrefix = `test:${randomBytes(4).toString('hex')}:`

  // The database starts migrated (from the templates); the apps still run their migrations at start,
  // and find nothing left to apply.
  beforeAll(async () => {
    if (TEST_DATABASE_URL) {
      const created = await createPostgresDatabase(TEST_DATABASE_URL, postgresTemplate)
      databaseUrl = created.url
      drop = created.drop
    } else {
      // One in-memory PGlite shared by every app of this file, as one PostgreSQL database would be.
      embedded = await createDatabase({ dataDir: 'memory://', template: templates?.migrated })
    }
  })

  afterAll(async () => {
    await Promise.allSettled(apps.map((app) => app.close()))
    await embedded?.close()
    await drop?.()
  })

  const config = (overrides: Record<string, string | undefined> = {}): Config =>
    loadConfig({
      DEBUG: 'true',
      SECRET_KEY: TEST_SECRET,
      BCRYPT_ROUNDS: '4',
      LOG_LEVEL: 'silent',
      RATE_LIMIT_ENABLED: 'false',
      DATA_DIR: 'memory://',
      DATABASE_URL: databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redisPrefix,
      ...overrides,
    })

  return {
    get databaseUrl() {
      return databaseUrl
    },
    redisPrefix,
    get database() {
      return embedded
    },
    config,
    async buildApp(overrides = {}, options = {}) {
      const app = await buildApp({ config: config(overrides), logger: false, database: embedded, ...options })
      apps.push(app)
      await app.ready()
      return app
    },
  }
}
