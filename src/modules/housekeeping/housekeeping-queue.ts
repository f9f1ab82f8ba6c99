import { Queue, Worker } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import { createQueueConnections, WORKER_RETRY_DELAY_MS } from '../../cache/bullmq-connections.js'
import type { RedisTarget } from '../../cache/redis-target.js'
import type { HousekeepingResult } from './housekeeping-service.js'

export type Trigger = { via: 'timer' | 'queue' | 'manual'; jobId?: string | undefined }

export interface Scheduler {
  close(): Promise<void>
}

const QUEUE_NAME = 'housekeeping'
const SCHEDULER_ID = 'housekeeping'
// Finished jobs stay a week (at most 200) so an operator can see recent runs and their counts in Redis.
const KEEP_JOBS = { age: 7 * 24 * 3600, count: 200 }
const REDIS_ERROR_LOG_INTERVAL_MS = 5_000

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
export function startQueue({ target, keyPrefix, intervalMs, runOnce, logger }: QueueOptions): Scheduler {
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
    { connection: consumer, prefix, concurrency: 1, skipVersionCheck: true, runRetryDelay: WORKER_RETRY_DELAY_MS },
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
