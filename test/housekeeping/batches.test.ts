import { inArray } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { auditLogs, oneTimeTokens } from '../../src/db/schema.js'
import { controllableClock, registerUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const DAY = 24 * 60 * 60 * 1000

/** Registers `count` users: each gets a verification link that expires after 24 hours. */
async function usersWithLinks(app: App, count: number): Promise<number[]> {
  const ids: number[] = []
  for (let index = 0; index < count; index += 1) ids.push((await registerUser(app)).id)
  return ids
}

async function agedAuditEntries(app: App, count: number): Promise<number[]> {
  const rows = await app.db
    .insert(auditLogs)
    .values(Array.from({ length: count }, () => ({ action: 'test.aged', createdAt: new Date(Date.now() - 400 * DAY) })))
    .returning({ id: auditLogs.id })
  return rows.map((row) => row.id)
}

const linksOf = (app: App, userIds: number[]) => app.db.select({ id: oneTimeTokens.id }).from(oneTimeTokens).where(inArray(oneTimeTokens.userId, userIds))
const auditRows = (app: App, ids: number[]) => app.db.select({ id: auditLogs.id }).from(auditLogs).where(inArray(auditLogs.id, ids))

describe('housekeeping in batches', () => {
  it('keeps deleting in batches of HOUSEKEEPING_BATCH_SIZE until none is left, and counts every row', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0', HOUSEKEEPING_BATCH_SIZE: '2' }, { now: clock.now })
    const userIds = await usersWithLinks(app, 5)
    const auditIds = await agedAuditEntries(app, 5)
    expect(await linksOf(app, userIds)).toHaveLength(5)
    clock.advance(2 * DAY)

    const result = await app.housekeeping.run()
    // Five rows in batches of two: three statements per table, the last one short.
    expect(result.removed).toEqual({ refresh_tokens: 0, sessions: 0, two_fa_challenges: 0, one_time_tokens: 5, audit_logs: 5 })
    expect(result.total).toBe(10)
    expect(await linksOf(app, userIds)).toEqual([])
    expect(await auditRows(app, auditIds)).toEqual([])
  })

  it('two runs at the same time delete each row once between them', async () => {
    const clock = controllableClock()
    const overrides = { HOUSEKEEPING_INTERVAL_MINUTES: '0', HOUSEKEEPING_BATCH_SIZE: '3' }
    // Two instances on one database (with PostgreSQL, two connection pools).
    const first = await context.buildApp(overrides, { now: clock.now })
    const second = await context.buildApp(overrides, { now: clock.now })
    const userIds = await usersWithLinks(first, 6)
    const auditIds = await agedAuditEntries(first, 12)
    clock.advance(2 * DAY)

    const [a, b] = await Promise.all([first.housekeeping.run(), second.housekeeping.run()])
    expect(a.removed.one_time_tokens + b.removed.one_time_tokens).toBe(6)
    expect(a.removed.audit_logs + b.removed.audit_logs).toBe(12)
    expect(await linksOf(first, userIds)).toEqual([])
    expect(await auditRows(first, auditIds)).toEqual([])
  })
})
