// Seeds what the benchmark needs straight into the database, before the server starts:
// 1,000 users (one bcrypt hash shared by all, computed once) and a superadmin.
// Rows are named bench_* and inserted only when missing, so reruns against one database are safe.
import { sql } from 'drizzle-orm'
import { createDatabase } from '../dist/db/database.js'
import { users } from '../dist/db/schema.js'
import { hashPassword } from '../dist/lib/passwords.js'

export const BENCH_PASSWORD = 'bench-password-1234'
export const BENCH_ADMIN = 'bench_admin'

export async function seed({ databaseUrl, dataDir, rounds }) {
  const database = await createDatabase({ url: databaseUrl, dataDir, poolSize: 2 })
  try {
    await database.migrate()
    const passwordHash = await hashPassword(BENCH_PASSWORD, rounds)
    const rows = Array.from({ length: 1000 }, (_, index) => ({
      username: `bench_user_${index}`,
      email: `bench_user_${index}@example.com`,
      passwordHash,
    }))
    rows.push({ username: BENCH_ADMIN, email: 'bench_admin@example.com', passwordHash, role: 'superadmin' })
    for (let start = 0; start < rows.length; start += 200) {
      await database.db
        .insert(users)
        .values(rows.slice(start, start + 200))
        .onConflictDoNothing()
    }
    const [{ count }] = await database.db.select({ count: sql`count(*)::int` }).from(users)
    return count
  } finally {
    await database.close()
  }
}
