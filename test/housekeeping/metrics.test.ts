import { describe, expect, it } from 'vitest'
import { controllableClock, registerUser } from '../helpers/factories.js'
import { sample, scrape } from '../helpers/metrics.js'
import { freshDatabase, useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const DAY = 24 * 60 * 60 * 1000

function captureLogs() {
  const lines: Record<string, unknown>[] = []
  return { lines, stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } }
}

describe('housekeeping metrics and log', () => {
  it('counts removed rows by table and runs by result, and logs one line per run with the counts', async () => {
    const clock = controllableClock()
    const logs = captureLogs()
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0', LOG_LEVEL: 'info' }, { now: clock.now, logger: logs.stream })
    for (let index = 0; index < 3; index += 1) await registerUser(app)
    clock.advance(2 * DAY)
    const before = await scrape(app)
    expect(sample(before, 'housekeeping_runs_total')).toBe(0)

    await app.housekeeping.run()
    const after = await scrape(app)
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels)
    expect(delta('housekeeping_rows_removed_total', { table: 'one_time_tokens' })).toBe(3)
    expect(delta('housekeeping_runs_total', { result: 'success' })).toBe(1)
    expect(delta('housekeeping_runs_total', { result: 'failure' })).toBe(0)
    // Every table has its series after the first run, zero or not, so dashboards and alerts see it.
    for (const table of ['refresh_tokens', 'sessions', 'two_fa_challenges', 'audit_logs']) {
      expect(after).toMatch(new RegExp(`^housekeeping_rows_removed_total\\{[^}]*table="${table}"[^}]*\\} 0$`, 'm'))
    }

    const finished = logs.lines.filter((line) => line.msg === 'housekeeping finished')
    expect(finished).toHaveLength(1)
    expect(finished[0]).toMatchObject({
      level: 30,
      via: 'manual',
      removed: { refresh_tokens: 0, sessions: 0, two_fa_challenges: 0, one_time_tokens: 3, audit_logs: 0 },
      total: 3,
      stopped: false,
      duration_ms: expect.any(Number),
    })
  })

  it('counts and logs a run that fails (here: a database without tables)', async () => {
    const fresh = await freshDatabase()
    try {
      const logs = captureLogs()
      const app = await context.buildApp(
        { HOUSEKEEPING_INTERVAL_MINUTES: '0', LOG_LEVEL: 'info', AUTO_MIGRATE: 'false', DATABASE_URL: fresh.url },
        { database: fresh.database, logger: logs.stream },
      )
      await expect(app.housekeeping.run()).rejects.toThrow()
      expect(sample(await scrape(app), 'housekeeping_runs_total', { result: 'failure' })).toBe(1)
      expect(logs.lines.filter((line) => line.msg === 'housekeeping failed')).toEqual([expect.objectContaining({ level: 50, via: 'manual' })])
      await app.close()
    } finally {
      await fresh.destroy()
    }
  })
})
