import { inArray } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { ConfigError } from '../../src/config/config.js'
import { auditLogs } from '../../src/db/schema.js'
import { sample, scrape } from '../helpers/metrics.js'
import { usingRedis, useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const DAY = 24 * 60 * 60 * 1000

async function agedAuditEntries(app: App, count: number): Promise<number[]> {
  const rows = await app.db
    .insert(auditLogs)
    .values(Array.from({ length: count }, () => ({ action: 'test.aged', createdAt: new Date(Date.now() - 400 * DAY) })))
    .returning({ id: auditLogs.id })
  return rows.map((row) => row.id)
}

const remaining = async (app: App, ids: number[]) => (await app.db.select({ id: auditLogs.id }).from(auditLogs).where(inArray(auditLogs.id, ids))).length
const runs = async (app: App) => sample(await scrape(app), 'housekeeping_runs_total')

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('housekeeping schedule', () => {
  it('runs by itself every HOUSEKEEPING_INTERVAL_MINUTES (in-process timer, or the Redis job scheduler)', async () => {
    // 0.01 minutes = 0.6 s.
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0.01' })
    expect(app.housekeeping.schedule).toBe(usingRedis ? 'queue' : 'timer')
    const ids = await agedAuditEntries(app, 4)

    // Two runs, so it is a schedule and not a one-off at start; generous limits for a busy machine.
    await waitFor(async () => (await runs(app)) >= 2, 20_000)
    expect(await remaining(app, ids)).toBe(0)
    expect(sample(await scrape(app), 'housekeeping_runs_total', { result: 'failure' })).toBe(0)
    // Its schedule would otherwise go on deleting the next tests' rows.
    await app.close()
  })

  it('starts nothing with HOUSEKEEPING_INTERVAL_MINUTES=0, yet runs by hand', async () => {
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0' })
    expect(app.housekeeping.schedule).toBe('off')
    const ids = await agedAuditEntries(app, 2)
    // Well past what would be several intervals of the test above.
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    expect(await runs(app)).toBe(0)
    expect(await remaining(app, ids)).toBe(2)

    expect((await app.housekeeping.run()).removed.audit_logs).toBeGreaterThanOrEqual(2)
    expect(await remaining(app, ids)).toBe(0)
  })

  it('a run in progress stops between two batches when the app closes', async () => {
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0', HOUSEKEEPING_BATCH_SIZE: '1' })
    // One row per statement: far more statements than closing takes to begin.
    const ids = await agedAuditEntries(app, 2000)
    const run = app.housekeeping.run()
    await app.close()
    const result = await run
    expect(result.stopped).toBe(true)
    expect(result.removed.audit_logs).toBeLessThan(2000)

    // What it left is there for the next run, on this or another instance.
    const next = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0' })
    expect(await remaining(next, ids)).toBe(2000 - result.removed.audit_logs)
    await next.housekeeping.run()
    expect(await remaining(next, ids)).toBe(0)
  })

  it('has defaults of 60 minutes, 365 days and batches of 1000, and refuses settings that make no sense', () => {
    const config = context.config()
    expect([config.housekeepingIntervalMinutes, config.auditRetentionDays, config.housekeepingBatchSize]).toEqual([60, 365, 1000])
    expect(context.config({ HOUSEKEEPING_INTERVAL_MINUTES: '0.5' }).housekeepingIntervalMinutes).toBe(0.5)
    expect(() => context.config({ HOUSEKEEPING_INTERVAL_MINUTES: '0.001' })).toThrow(/HOUSEKEEPING_INTERVAL_MINUTES must be 0 \(off\) or at least 0.01/)
    expect(() => context.config({ HOUSEKEEPING_INTERVAL_MINUTES: '-1' })).toThrow(ConfigError)
    expect(() => context.config({ AUDIT_RETENTION_DAYS: '0' })).toThrow(/AUDIT_RETENTION_DAYS/)
    expect(() => context.config({ HOUSEKEEPING_BATCH_SIZE: '0' })).toThrow(/HOUSEKEEPING_BATCH_SIZE/)
    expect(() => context.config({ HOUSEKEEPING_BATCH_SIZE: '2.5' })).toThrow(/HOUSEKEEPING_BATCH_SIZE/)
  })
})
