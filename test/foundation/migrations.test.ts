import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { createDatabase, type Database } from '../../src/db/database.js'
import { rollbackLastMigration } from '../../src/db/rollback.js'
import { itWith } from '../helpers/requirements.js'
import { freshDatabase, TEST_DATABASE_URL, useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const opened: Database[] = []
afterAll(async () => {
  await Promise.allSettled(opened.map((database) => database.close()))
})

const ALL_TABLES = [
  'api_keys',
  'audit_logs',
  'one_time_tokens',
  'passkeys',
  'recovery_codes',
  'refresh_tokens',
  'sessions',
  'two_fa_challenges',
  'user_identities',
  'users',
]
const BEFORE_0002 = ALL_TABLES.filter((table) => table !== 'passkeys' && table !== 'user_identities')

/** Tables of a schema: `public` holds the app's, `drizzle` the journal of applied migrations. */
async function tables(database: Database, schema = 'public'): Promise<string[]> {
  const result = await database.db.execute<{ table_name: string }>(
    sql`select table_name from information_schema.tables where table_schema = ${schema} order by table_name`,
  )
  const rows = Array.isArray(result) ? result : (result as unknown as { rows: { table_name: string }[] }).rows
  return rows.map((row) => row.table_name)
}

async function columns(database: Database, table: string): Promise<string[]> {
  const result = await database.db.execute<{ column_name: string }>(
    sql`select column_name from information_schema.columns where table_schema = 'public' and table_name = ${table} order by column_name`,
  )
  const rows = Array.isArray(result) ? result : (result as unknown as { rows: { column_name: string }[] }).rows
  return rows.map((row) => row.column_name)
}

async function roundTrip(database: Database) {
  await database.migrate()
  expect(await tables(database)).toEqual(ALL_TABLES)
  // Applying again is a no-op, as it is on every start with AUTO_MIGRATE.
  await database.migrate()
  // Newest first: each down script undoes exactly its own migration.
  expect(await columns(database, 'refresh_tokens')).toContain('revoked_reason')
  expect(await rollbackLastMigration(database.db)).toBe('0004_refresh_token_revoked_reason')
  expect(await tables(database)).toEqual(ALL_TABLES)
  expect(await columns(database, 'refresh_tokens')).not.toContain('revoked_reason')
  expect(await columns(database, 'api_keys')).toContain('session_id')
  expect(await rollbackLastMigration(database.db)).toBe('0003_api_key_sessions')
  expect(await tables(database)).toEqual(ALL_TABLES)
  expect(await columns(database, 'api_keys')).not.toContain('session_id')
  expect(await rollbackLastMigration(database.db)).toBe('0002_passkeys_and_identities')
  expect(await tables(database)).toEqual(BEFORE_0002)
  expect(await rollbackLastMigration(database.db)).toBe('0001_accounts_and_sessions')
  expect(await tables(database)).toEqual(BEFORE_0002.filter((table) => table !== 'sessions'))
  expect(await rollbackLastMigration(database.db)).toBe('0000_initial')
  expect(await tables(database)).toEqual([])
  expect(await rollbackLastMigration(database.db)).toBeUndefined()
  await database.migrate()
  expect(await tables(database)).toContain('users')
}

describe('migrations', () => {
  it('apply, re-apply and roll back on PGlite', async () => {
    const database = await createDatabase({ dataDir: 'memory://' })
    opened.push(database)
    await roundTrip(database)
  })

  itWith('postgres')('apply, re-apply and roll back on PostgreSQL', async () => {
    const admin = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
    const name = `migrations_${Date.now()}`
    await admin.unsafe(`create database ${name}`)
    try {
      const url = new URL(TEST_DATABASE_URL!)
      url.pathname = `/${name}`
      const database = await createDatabase({ url: url.toString(), poolSize: 2 })
      await roundTrip(database)
      await database.close()
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    }
  })

  it('run automatically at start when AUTO_MIGRATE is on', async () => {
    const fresh = await freshDatabase()
    try {
      const app = await context.buildApp({ AUTO_MIGRATE: 'true', DATABASE_URL: fresh.url }, { database: fresh.database })
      expect(await tables(app.database)).toEqual(ALL_TABLES)
      expect(await tables(app.database, 'drizzle')).toEqual(['__drizzle_migrations'])
      const registered = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'migrated', email: 'migrated@example.com', password: 'Correct-horse-battery-9' } })
      expect(registered.statusCode, registered.body).toBe(201)
      await app.close()
    } finally {
      await fresh.destroy()
    }
  })

  it('are not applied at start when AUTO_MIGRATE is off: the database stays empty', async () => {
    const fresh = await freshDatabase()
    try {
      const app = await context.buildApp({ AUTO_MIGRATE: 'false', DATABASE_URL: fresh.url }, { database: fresh.database })
      expect(await tables(app.database)).toEqual([])
      expect(await tables(app.database, 'drizzle')).toEqual([])
      const registered = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'unmigrated', email: 'unmigrated@example.com', password: 'Correct-horse-battery-9' } })
      expect(registered.statusCode).toBeGreaterThanOrEqual(500)
      await app.close()
    } finally {
      await fresh.destroy()
    }
  })
})
