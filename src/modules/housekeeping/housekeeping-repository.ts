import { inArray, type SQL } from 'drizzle-orm'
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { Db } from '../../db/database.js'

/** A table housekeeping may prune: anything with a primary key column named `id`. */
export type PrunableTable = PgTable & { id: AnyPgColumn }

/** The deletes behind housekeeping; which rows are stale is the service's business. */
export function createHousekeepingRepository(db: Db) {
  return {
    /**
     * Deletes at most `limit` rows matching `where` in one statement and returns how many went:
     * `DELETE FROM t WHERE id IN (SELECT id FROM t WHERE … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED)`.
     * Each batch commits on its own, so locks are held for one batch only; SKIP LOCKED passes over rows a
     * request (or another instance's run) holds right now instead of waiting on them.
     */
    async deleteBatch(table: PrunableTable, where: SQL, limit: number, tx: Db = db): Promise<number> {
      const stale = tx.select({ id: table.id }).from(table).where(where).orderBy(table.id).limit(limit).for('update', { skipLocked: true })
      // RETURNING rather than the driver's row count: postgres.js and PGlite report it in different shapes.
      const gone = await tx.delete(table).where(inArray(table.id, stale)).returning({ id: table.id })
      return gone.length
    },
  }
}

export type HousekeepingRepository = ReturnType<typeof createHousekeepingRepository>
