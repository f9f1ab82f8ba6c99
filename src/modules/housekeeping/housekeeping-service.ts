import { setImmediate as nextTurn } from 'node:timers/promises'
import { isNotNull, lt, or, type SQL } from 'drizzle-orm'
import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import { auditLogs, oneTimeTokens, refreshTokens, sessions, twoFaChallenges } from '../../db/schema.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import { createHousekeepingRepository, type PrunableTable } from './housekeeping-repository.js'

/** The tables housekeeping prunes, in the order it prunes them (metric labels and audit keys). */
export const HOUSEKEEPING_TABLES = ['refresh_tokens', 'sessions', 'two_fa_challenges', 'one_time_tokens', 'audit_logs'] as const
export type HousekeepingTable = (typeof HOUSEKEEPING_TABLES)[number]
export type HousekeepingCounts = Record<HousekeepingTable, number>

export interface HousekeepingResult {
  /** Rows deleted, per table. Refresh tokens that went with their session (ON DELETE CASCADE) are not counted. */
  removed: HousekeepingCounts
  total: number
  /** True when the run stopped early because it was asked to (shutdown); the next run picks up the rest. */
  stopped: boolean
}

export interface HousekeepingServiceDeps {
  db: Db
  config: Pick<Config, 'auditRetentionDays' | 'housekeepingBatchSize'>
  audit: AuditRepository
  now: () => Date
}

const DAY_MS = 24 * 60 * 60 * 1000
/**
 * Ended or expired sessions are kept this long: the new-device notice (sessions-service) looks back 30 days
 * for a sign-in from the same device and address. It also outlasts any access token of the session
 * (ACCESS_TOKEN_EXPIRE_MINUTES is at most 30 days), so the revocation check never misses a deleted one.
 */
export const ENDED_SESSION_RETENTION_DAYS = 30

/**
 * Deletes what nothing needs any more: expired refresh tokens, 2FA challenges and one-time tokens (used ones
 * too), sessions 30 days after they ended or expired, audit entries older than AUDIT_RETENTION_DAYS.
 * Safe to run from several places at once: each row is deleted by exactly one of them.
 */
export function createHousekeepingService(deps: HousekeepingServiceDeps) {
  const { config, audit, now } = deps
  const repository = createHousekeepingRepository(deps.db)
  const batchSize = config.housekeepingBatchSize

  /** What is stale at `at`, per table; one place to read the whole policy. */
  const staleRows = (at: Date): Record<HousekeepingTable, { table: PrunableTable; where: SQL }> => {
    const sessionCutoff = new Date(at.getTime() - ENDED_SESSION_RETENTION_DAYS * DAY_MS)
    return {
      // Before sessions: a session's tokens expire no later than it does, so by the time a session goes its
      // tokens have usually been counted here rather than vanishing uncounted in the cascade.
      refresh_tokens: { table: refreshTokens, where: lt(refreshTokens.expiresAt, at) },
      // A session's end is its ended_at, or its expires_at if it was never ended; either one past the cutoff
      // means it ended more than 30 days ago.
      sessions: { table: sessions, where: or(lt(sessions.endedAt, sessionCutoff), lt(sessions.expiresAt, sessionCutoff))! },
      two_fa_challenges: { table: twoFaChallenges, where: lt(twoFaChallenges.expiresAt, at) },
      // A used token can never be claimed again, so it goes at once rather than at its expiry.
      one_time_tokens: { table: oneTimeTokens, where: or(lt(oneTimeTokens.expiresAt, at), isNotNull(oneTimeTokens.usedAt))! },
      audit_logs: { table: auditLogs, where: lt(auditLogs.createdAt, new Date(at.getTime() - config.auditRetentionDays * DAY_MS)) },
    }
  }

  return {
    /**
     * One pass over every table, in batches of HOUSEKEEPING_BATCH_SIZE until a batch comes back short.
     * `signal` stops it between batches (shutdown); what was deleted by then is still reported and audited.
     */
    async run(options: { signal?: AbortSignal } = {}): Promise<HousekeepingResult> {
      const at = now()
      const removed = Object.fromEntries(HOUSEKEEPING_TABLES.map((table) => [table, 0])) as HousekeepingCounts
      const stale = staleRows(at)
      let stopped = false
      for (const name of HOUSEKEEPING_TABLES) {
        const { table, where } = stale[name]
        for (;;) {
          if (options.signal?.aborted) {
            stopped = true
            break
          }
          const count = await repository.deleteBatch(table, where, batchSize)
          removed[name] += count
          if (count < batchSize) break
          // PGlite answers without going through the event loop: without this turn, a long backlog would hold
          // requests (and a shutdown) until the very last batch.
          await nextTurn()
        }
        if (stopped) break
      }
      const total = HOUSEKEEPING_TABLES.reduce((sum, name) => sum + removed[name], 0)
      // Counts only: the rows are gone, and the entry must not bring back what they said about anyone.
      if (total > 0) await audit.record({ action: 'system.housekeeping', details: { removed, total } })
      return { removed, total, stopped }
    },
  }
}

export type HousekeepingService = ReturnType<typeof createHousekeepingService>
