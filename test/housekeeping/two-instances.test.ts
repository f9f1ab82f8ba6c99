import { expect, it } from 'vitest'
import { sample, } from '../helpers/metrics.js'
import { describeWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
// 0.02 minutes: a slot every 1.2 s.
const INTERVAL_MS = 1_200

function captureLogs() {
  const lines: Record<string, unknown>[] = []
  return { lines, stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } }
}

/** The slot a queued run belonged to: BullMQ names scheduler jobs "repeat:<scheduler>:<slot time in ms>". */
function slotOf(line: Record<string, unknown>): number {
  const match = /^repeat:housekeeping:(\d+)$/.exec(String(line.job_id))
  if (!match) throw new Error(`not a scheduled job: ${JSON.stringify(line)}`)
  return Number(match[1])
}

describeWith('postgres', 'redis')('housekeeping across instances', () => {
  it('two instances sharing PostgreSQL and Redis run each interval slot once between them', async () => {
    const overrides = { HOUSEKEEPING_INTERVAL_MINUTES: String(INTERVAL_MS / 60_000), LOG_LEVEL: 'info' }
    const logs = [captureLogs(), captureLogs()]
    const instances = [await context.buildApp(overrides, { logger: logs[0]!.stream }), await context.buildApp(overrides, { logger: logs[1]!.stream })]
    expect(instances.map((app) => app.housekeeping.schedule)).toEqual(['queue', 'queue'])

    await new Promise((resolve) => setTimeout(resolve, 8_000))
    await Promise.all(instances.map((app) => app.close()))
    const ended = Date.now()
    // Read after closing, so no run can slip in between the count and the log lines.
    const runs = (await Promise.all(instances.map(async (app) => sample(await app.metrics.registry.metrics(), 'housekeeping_runs_total')))).reduce((a, b) => a + b)

    const lines = logs.flatMap((log) => log.lines)
    const finished = lines.filter((line) => line.msg === 'housekeeping finished')
    expect(finished.every((line) => line.via === 'queue')).toBe(true)
    const slots = finished.map(slotOf).sort((a, b) => a - b)
    // Each run is one slot, and no slot ran twice (on one instance or on both).
    expect(runs).toBe(slots.length)
    expect(new Set(slots).size).toBe(slots.length)
    for (const slot of slots) expect((slot - slots[0]!) % INTERVAL_MS).toBe(0)

    // Against the clock: the first slot comes one interval after the first instance set the schedule up, so
    // no more runs than slots went by since then (an instance running its own schedule would double it) ...
    const scheduledAt = Math.min(...lines.filter((line) => line.msg === 'housekeeping scheduled').map((line) => Number(line.time)))
    expect(runs).toBeLessThanOrEqual(Math.floor((ended - scheduledAt) / INTERVAL_MS) + 1)
    // ... and it kept going, at most one slot missed between the first and the last (a busy machine may be late).
    expect(runs).toBeGreaterThanOrEqual(3)
    expect(runs).toBeGreaterThanOrEqual((slots.at(-1)! - slots[0]!) / INTERVAL_MS)
  })
})
