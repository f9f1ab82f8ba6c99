import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { MIGRATIONS_FOLDER, type Db } from './database.js'

interface JournalEntry {
  tag: string
  when: number
}

/**
 * Reverts the newest applied migration: runs `drizzle/down/<tag>.sql` and forgets the migration,
 * inside one transaction so a failing down script leaves the schema as it was.
 * drizzle-kit writes only forward migrations; each one gets a hand-written down script beside it.
 */
export async function rollbackLastMigration(db: Db): Promise<string | undefined> {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as { entries: JournalEntry[] }
  const applied = await db.execute<{ id: number; created_at: string }>(
    sql`select id, created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
  )
  const rows = Array.isArray(applied) ? applied : (applied as unknown as { rows: { id: number; created_at: string }[] }).rows
  const last = rows[0]
  if (!last) return undefined
  const entry = journal.entries.find((candidate) => String(candidate.when) === String(last.created_at))
  if (!entry) throw new Error(`applied migration ${last.created_at} is not in drizzle/meta/_journal.json`)
  const down = readFileSync(join(MIGRATIONS_FOLDER, 'down', `${entry.tag}.sql`), 'utf8')
  await db.transaction(async (tx) => {
    // One statement per call: the extended protocol (and PGlite's query()) takes a single statement.
    for (const statement of splitStatements(down)) await tx.execute(sql.raw(statement))
    await tx.execute(sql`delete from drizzle.__drizzle_migrations where id = ${last.id}`)
  })
  return entry.tag
}

function splitStatements(script: string): string[] {
  return script
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .split(';')
    .map((statement) => statement.trim())
    .filter(Boolean)
}
