import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { uniqueName } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

describe('a write that fails half-way', () => {
  it('leaves no partial rows: a registration whose audit entry cannot be written creates no user', async () => {
    const app = await context.buildApp()
    // A real constraint failure in the second step of the operation (user row, then audit row).
    await app.db.execute(sql`alter table audit_logs add constraint no_register_audit check (action <> 'user.register')`)
    try {
      const username = uniqueName('half')
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { username, email: `${username}@example.com`, password: 'a-perfectly-fine-password' },
      })
      expect(response.statusCode).toBe(500)
      expect(response.json()).toMatchObject({ detail: 'Internal Server Error' })
      const rows = await app.db.execute(sql`select count(*)::int as count from users where username = ${username}`)
      const count = (Array.isArray(rows) ? rows : (rows as unknown as { rows: { count: number }[] }).rows)[0]?.count
      expect(count).toBe(0)
    } finally {
      await app.db.execute(sql`alter table audit_logs drop constraint no_register_audit`)
    }
  })
})
