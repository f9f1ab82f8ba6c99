import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { createDatabase, type Database } from '../../src/db/database.js'
import { rollbackLastMigration } from '../../src/db/rollback.js'
import { TEST_DATABASE_URL, useTestContext, usingPostgres } from '../helpers/test-context.js'

const context = useTestContext()
const opened: Database[] = []
afterAll(async () => {
  await Promise.allSettled(opened.map((database) => database.close()))
})

async function tables(database: Database): Promise<string[]> {
  const result = await database.db.execute<{ table_name: string }>(
    sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
  )
  const rows = Array.isArray(result) ? result : (result as unknown as { rows: { table_name: string }[] }).rows
  return rows.map((row) => row.table_name)
}

async function roundTrip(database: Database) {
  await database.migrate()
  expect(await tables(database)).toEqual(['api_keys', 'audit_logs', 'one_time_tokens', 'recovery_codes', 'refresh_tokens', 'two_fa_challenges', 'users'])
  // Applying again is a no-op, as it is on every start with AUTO_MIGRATE.
  await database.migrate()
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

  it.runIf(usingPostgres)('apply, re-apply and roll back on PostgreSQL', async () => {
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
    const app = await context.buildApp({ AUTO_MIGRATE: 'true' })
    const count = await app.repositories.users.countAll()
    expect(count).toBeGreaterThanOrEqual(0)
  })
})
