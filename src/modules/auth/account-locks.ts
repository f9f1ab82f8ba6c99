import { and, eq, gt, isNull } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { sessions, users } from '../../db/schema.js'

/**
 * The row locks that order a transaction adding a credential (a session at sign-in, an API key, a
 * passkey, a linked identity) against the take-backs (signing out everywhere, a password change or
 * reset, the first proof of an address, deactivation, a session signed out). Every take-back writes
 * the user's row (its token version) or the session's row before it ends what hangs below them; a
 * transaction adding a credential locks the same rows and re-reads them. Either it commits first, and
 * the take-back, queued behind it, ends the new credential with the rest; or it waits for the take-back
 * and finds the version moved or the session ended, and adds nothing.
 *
 * Lock order, everywhere: the user's row, then the session's (two orders would deadlock).
 */
export function createAccountLocks(db: Db) {
  return {
    /**
     * Locks the user's row and answers whether its token version is still the one the request
     * authenticated with (or its first factor saw). `share` lets such transactions run side by side;
     * one that writes the row afterwards (a sign-in records its time) takes `no key update` at once,
     * since two shared locks both upgrading would deadlock.
     */
    async userAt(userId: number, tokenVersion: number | undefined, tx: Db, strength: 'share' | 'no key update' = 'share'): Promise<boolean> {
      const rows = await tx.select({ tokenVersion: users.tokenVersion, isActive: users.isActive }).from(users).where(eq(users.id, userId)).for(strength)
      const row = rows[0]
      return row?.isActive === true && tokenVersion !== undefined && row.tokenVersion === tokenVersion
    },

    /** Locks the session (shared) and answers whether it is the user's and live: not ended, not past its end. */
    async liveSession(sessionId: string, userId: number, at: Date, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .select({ id: sessions.id })
        .from(sessions)
        .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.endedAt), gt(sessions.expiresAt, at)))
        .for('share')
      return rows.length === 1
    },
  }
}

export type AccountLocks = ReturnType<typeof createAccountLocks>
