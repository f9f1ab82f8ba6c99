import { inArray } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { auditLogs } from '../../src/db/schema.js'
import { signedInUser, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const DAY = 24 * 60 * 60 * 1000

/** Audit entries written with a given age: the API stamps entries with the database's clock, so age comes from here. */
async function entriesAged(app: App, ...ages: number[]): Promise<number[]> {
  const rows = await app.db
    .insert(auditLogs)
    .values(ages.map((age) => ({ action: 'test.aged', actorId: null, details: { age_days: age / DAY }, createdAt: new Date(Date.now() - age) })))
    .returning({ id: auditLogs.id })
  return rows.map((row) => row.id)
}

async function housekeepingEntries(app: App, admin: SignedInUser) {
  const response = await app.inject({ method: 'GET', url: '/api/v1/audit/?action=system.housekeeping&limit=100', headers: admin.headers })
  expect(response.statusCode, response.body).toBe(200)
  return (response.json() as { items: { actor_id: number | null; target_id: number | null; ip: string | null; details: Record<string, unknown> }[] }).items
}

describe('audit retention', () => {
  it('deletes audit entries older than AUDIT_RETENTION_DAYS (365 by default) and keeps younger ones', async () => {
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0' })
    expect(app.config.auditRetentionDays).toBe(365)
    const [old1, old2, young] = await entriesAged(app, 366 * DAY, 400 * DAY, 364 * DAY)

    const result = await app.housekeeping.run()
    expect(result.removed.audit_logs).toBe(2)
    const left = await app.db.select({ id: auditLogs.id }).from(auditLogs).where(inArray(auditLogs.id, [old1!, old2!, young!]))
    expect(left.map((row) => row.id)).toEqual([young])
  })

  it('follows a shorter AUDIT_RETENTION_DAYS', async () => {
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0', AUDIT_RETENTION_DAYS: '30' })
    // The test above left a 364-day-old entry; it goes first, so the next count is this test's alone.
    await app.housekeeping.run()
    const [old, young] = await entriesAged(app, 31 * DAY, 29 * DAY)
    expect((await app.housekeeping.run()).removed.audit_logs).toBe(1)
    const left = await app.db.select({ id: auditLogs.id }).from(auditLogs).where(inArray(auditLogs.id, [old!, young!]))
    expect(left.map((row) => row.id)).toEqual([young])
  })

  it('records system.housekeeping with the counts, and nothing for a run that removed nothing', async () => {
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0' })
    const admin = await signedInUser(app, 'admin')
    // Whatever earlier tests left is cleared first, so the next run's counts are this test's alone.
    await app.housekeeping.run()
    const before = await housekeepingEntries(app, admin)

    await entriesAged(app, 500 * DAY, 501 * DAY, 502 * DAY)
    const result = await app.housekeeping.run()
    expect(result.total).toBe(3)
    const after = await housekeepingEntries(app, admin)
    expect(after).toHaveLength(before.length + 1)
    // Newest first: the entry of this run, by the system, about no one.
    expect(after[0]).toMatchObject({
      actor_id: null,
      target_id: null,
      ip: null,
      details: { removed: { refresh_tokens: 0, sessions: 0, two_fa_challenges: 0, one_time_tokens: 0, audit_logs: 3 }, total: 3 },
    })

    expect((await app.housekeeping.run()).total).toBe(0)
    expect(await housekeepingEntries(app, admin)).toHaveLength(after.length)
  })
})
