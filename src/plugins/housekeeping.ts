import { Queue, Worker } from 'bullmq'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createQueueConnections } from '../cache/bullmq-connections.js'
import { redisTarget, type RedisTarget } from '../cache/redis-target.js'
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

type Trigger = { via: 'timer' | 'queue' | 'manual'; jobId?: string | undefined }

interface Scheduler {
  close(): Promise<void>
}

const QUEUE_NAME = 'housekeeping'
const SCHEDULER_ID = 'housekeeping'
// Finished jobs stay a week (at most 200) so an operator can see recent runs and their counts in Redis.
const KEEP_JOBS = { age: 7 * 24 * 3600, count: 200 }
const REDIS_ERROR_LOG_INTERVAL_MS = 5_000

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
      scheduler =
        schedule === 'queue'
          ? startQueue({ target: redisTarget(config)!, keyPrefix: config.redisKeyPrefix, intervalMs, runOnce, logger: app.log })
          : startTimer(intervalMs, runOnce)
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

interface QueueOptions {
  target: RedisTarget
  keyPrefix: string
  intervalMs: number
  runOnce: (trigger: Trigger) => Promise<HousekeepingResult>
  logger: FastifyBaseLogger
}

/**
 * Redis mode. Every instance upserts the same job scheduler (idempotent), which keeps exactly one job per
 * interval slot, with an id made from the slot's time ("repeat:housekeeping:<ms>"), so two instances cannot
 * create two jobs for one slot. A job is locked by the one worker that takes it; a job whose worker died
 * mid-run is taken over once (BullMQ's stalled-job check), which is safe since the deletes are idempotent.
 */
function startQueue({ target, keyPrefix, intervalMs, runOnce, logger }: QueueOptions): Scheduler {
  let lastErrorLog = 0
  const reportError = (error: Error) => {
    // ioredis reports every reconnect attempt; one line every few seconds is enough.
    const now = Date.now()
    if (now - lastErrorLog < REDIS_ERROR_LOG_INTERVAL_MS) return
    lastErrorLog = now
    logger.warn({ err: { message: error.message } }, 'housekeeping queue: redis unavailable')
  }
  // Unlike the mail producer, this one keeps ioredis' offline queue: it sends a handful of commands per
  // interval, and without the queue an app closed before Redis answered leaves ioredis' own ready check
  // (INFO) as an unhandled rejection.
  const connections = createQueueConnections({ target, keyPrefix, producerOfflineQueue: true, onError: reportError })
  const { producer, consumer, prefix } = connections

  // No version probe: Redis' version is checked by the mail queue's set-up already, and the probe of an
  // app that closes at once would outlive it.
  const queue = new Queue(QUEUE_NAME, { connection: producer, prefix, skipVersionCheck: true })
  const worker = new Worker(
    QUEUE_NAME,
    async (job) => {
      const result = await runOnce({ via: 'queue', jobId: job.id })
      return result.removed
    },
    { connection: consumer, prefix, concurrency: 1, skipVersionCheck: true },
  )
  queue.on('error', reportError)
  worker.on('error', reportError)

  let upserting = false
  let again = false
  const upsertScheduler = async (): Promise<void> => {
    // A request while one is under way may mean Redis lost the first one's work: run once more after it.
    if (upserting) {
      again = true
      return
    }
    upserting = true
    again = false
    try {
      // startDate only counts when the scheduler is new (or its interval changed): the first run comes one
      // interval after the first instance starts, and later starts and reconnects keep the slots as they are.
      await queue.upsertJobScheduler(
        SCHEDULER_ID,
        { every: intervalMs, startDate: Date.now() + intervalMs },
        { name: QUEUE_NAME, data: {}, opts: { attempts: 1, removeOnComplete: KEEP_JOBS, removeOnFail: KEEP_JOBS } },
      )
    } catch (error) {
      reportError(error as Error)
    } finally {
      upserting = false
    }
    if (again) await upsertScheduler()
  }
  // A node joins a cluster at every start too, and an upsert while a run is active moves the slots: after
  // a node rejoins (and has had a moment to take its slots), only a scheduler that is really gone is made again.
  const rejoinTimers = new Set<NodeJS.Timeout>()
  const checkLater = (attemptsLeft: number) => {
    const timer = setTimeout(() => {
      rejoinTimers.delete(timer)
      void upsertIfMissing(attemptsLeft)
    }, 1_000)
    rejoinTimers.add(timer)
  }
  const upsertIfMissing = async (attemptsLeft: number) => {
    let exists: boolean
    try {
      exists = (await queue.getJobScheduler(SCHEDULER_ID)) !== undefined
    } catch (error) {
      // The node may not serve its slots yet: look again shortly.
      reportError(error as Error)
      if (attemptsLeft > 1) checkLater(attemptsLeft - 1)
      return
    }
    if (!exists) await upsertScheduler()
  }
  // If Redis came back empty (no persistence), the scheduler is made again.
  connections.onRestored((how) => (how === 'connected' ? void upsertScheduler() : checkLater(30)))
  // Events can be missed: a master that restarts before the cluster client notices it leave never
  // "rejoins". A look every interval (at most every 30 s, one command) makes a scheduler that is really
  // gone again, whatever the client saw.
  const watch = setInterval(() => void upsertIfMissing(1), Math.max(1_000, Math.min(intervalMs, 30_000)))
  watch.unref()

  return {
    async close() {
      clearInterval(watch)
      for (const timer of rejoinTimers) clearTimeout(timer)
      // The worker finishes the job it holds (told to stop between batches already); the schedule stays in
      // Redis for the other instances.
      await connections.close((force) => Promise.allSettled([worker.close(force), queue.close()]))
    },
  }
}
