import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase, type Database } from '../../src/db/database.js'
import { users } from '../../src/db/schema.js'

// One connection, so the statements this test prepares and the catalogue it reads share a session.
// With TEST_DATABASE_URL this is PostgreSQL; without it, the embedded database.
let database: Database

beforeAll(async () => {
  database = await createDatabase({ url: process.env.TEST_DATABASE_URL, dataDir: 'memory://', poolSize: 1 })
  await database.migrate()
})

afterAll(async () => {
  await database?.close()
})

const preparedTexts = async () => {
  const rows = (await database.db.execute(sql`select statement from pg_prepared_statements`)) as unknown as { statement: string }[]
  return rows.map((row) => row.statement)
}

describe('queries built with Drizzle', () => {
  it('are prepared once per connection and reused, not parsed and planned on every call', async () => {
    const lookup = (id: number) => database.db.select({ id: users.id }).from(users).where(eq(users.id, id))
    await lookup(1)
    await lookup(2)
    await lookup(3)
    const texts = (await preparedTexts()).filter((text) => text.startsWith('select "id" from "users" where "users"."id" = $1'))
    // One statement for three calls with different values.
    expect(texts).toHaveLength(1)
  })

  it('still run inside a transaction, prepared there too, and roll back as a unit', async () => {
    await expect(
      database.db.transaction(async (tx) => {
        await tx.select({ id: users.id }).from(users).where(eq(users.username, 'nobody-prepared'))
        await tx.execute(sql`select 1/0`)
      }),
    ).rejects.toThrow()
    const texts = await preparedTexts()
    expect(texts.some((text) => text.includes('"users"."username" = $1'))).toBe(true)
  })
})
