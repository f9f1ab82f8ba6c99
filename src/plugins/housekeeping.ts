import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Scheduler, Trigger } from '../modules/housekeeping/housekeeping-queue.js'
import { redisTarget } from '../cache/redis-target.js'
import { createHousekeepingService, HOUSEKEEPING_TABLES, type HousekeepingResult } from '../modules/housekeeping/housekeeping-service.js'

export type HousekeepingSchedule = 'queue' | 'timer' | 'off'

export interface Housekeeping {
  /**
   * queue: a BullMQ job scheduler in Redis, one job per interval for the whole cluster; timer: an in-process
   * interval (no Redis); off: HOUSEKEEPING_INTERVAL_MINUTES=0.
   */
  readonly schedule: HousekeepingSchedule
  /** Runs once now on this instance, counted, logged and audited like a scheduled run. */
  run(): Promise<HousekeepingResult>
}

declare module 'fastify' {
  interface FastifyInstance {
    housekeeping: Housekeeping
  }
}

/**
 * Deletes expired sessions, tokens, challenges and old audit entries every HOUSEKEEPING_INTERVAL_MINUTES,
 * once per interval for the whole cluster: with Redis a BullMQ job scheduler makes one job per interval
 * and one worker takes it; without Redis there is a single process, and an in-process timer does it.
 */
export default fp(
  async function housekeepingPlugin(app: FastifyInstance) {
    const { config } = app
    const service = createHousekeepingService({ db: app.db, config, audit: app.repositories.audit, now: app.now })
    const intervalMs = Math.round(config.housekeepingIntervalMinutes * 60_000)
    const schedule: HousekeepingSchedule = intervalMs === 0 ? 'off' : config.redisUrl ? 'queue' : 'timer'
    // Aborted when closing starts, so a long run stops between two batches instead of holding shutdown.
    const shutdown = new AbortController()
    // Runs in progress (scheduled or by hand), awaited at close so the database is not closed under them.
    const inFlight = new Set<Promise<unknown>>()

    const execute = async (trigger: Trigger): Promise<HousekeepingResult> => {
      const started = performance.now()
      try {
        const result = await service.run({ signal: shutdown.signal })
        // Every table every time, zeros included, so each series exists from the first run on.
        for (const table of HOUSEKEEPING_TABLES) app.metrics.housekeepingRowsRemoved.inc({ table }, result.removed[table])
        app.metrics.housekeepingRuns.inc({ result: result.stopped ? 'stopped' : 'success' })
        app.log.info(
          {
            via: trigger.via,
            job_id: trigger.jobId,
            removed: result.removed,
            total: result.total,
            stopped: result.stopped,
            duration_ms: Math.round(performance.now() - started),
          },
          'housekeeping finished',
        )
        return result
      } catch (error) {
        app.metrics.housekeepingRuns.inc({ result: 'failure' })
        app.log.error({ err: error, via: trigger.via, job_id: trigger.jobId }, 'housekeeping failed')
        throw error
      }
    }
    const runOnce = (trigger: Trigger): Promise<HousekeepingResult> => {
      const run = execute(trigger)
      const settled: Promise<unknown> = run.catch(() => undefined).finally(() => inFlight.delete(settled))
      inFlight.add(settled)
      return run
    }

    app.decorate('housekeeping', { schedule, run: () => runOnce({ via: 'manual' }) } satisfies Housekeeping)
    let scheduler: Scheduler | undefined
    // As soon as closing starts (before the other plugins' onClose): requests may still be finishing, runs need not.
    app.addHook('preClose', async () => shutdown.abort())
    app.addHook('onClose', async () => {
      await scheduler?.close()
      await Promise.allSettled([...inFlight])
    })
    if (schedule === 'off') return

    // Started once every plugin is in place, and only by an app that is actually going to run.
    app.addHook('onReady', async () => {
      if (schedule === 'queue') {
        // BullMQ (and ioredis with it) is loaded only by an app that schedules on Redis: an embedded
        // instance never needs it, and it is about 20 MB of modules.
        const { startQueue } = await import('../modules/housekeeping/housekeeping-queue.js')
        scheduler = startQueue({ target: redisTarget(config)!, keyPrefix: config.redisKeyPrefix, intervalMs, runOnce, logger: app.log })
      } else {
        scheduler = startTimer(intervalMs, runOnce)
      }
      app.log.info({ schedule, interval_minutes: config.housekeepingIntervalMinutes }, 'housekeeping scheduled')
    })
  },
  { name: 'housekeeping', dependencies: ['database', 'services', 'metrics'] },
)

/** Embedded mode: one process owns the database, so a plain interval runs it exactly once per interval. */
function startTimer(intervalMs: number, runOnce: (trigger: Trigger) => Promise<HousekeepingResult>): Scheduler {
  let running: Promise<unknown> | undefined
  const timer = setInterval(() => {
    // A run that outlasts the interval is not stacked on: the tick is skipped.
    if (running) return
    // runOnce has logged and counted a failure already; the next tick tries again.
    running = runOnce({ via: 'timer' })
      .catch(() => undefined)
      .finally(() => {
        running = undefined
      })
  }, intervalMs)
  // Housekeeping alone must never keep a process (a script, a test) alive.
  timer.unref()
  return {
    async close() {
      clearInterval(timer)
      await running
    },
  }
}
