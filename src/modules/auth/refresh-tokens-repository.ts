import { and, eq, isNull, lt } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { refreshTokens } from '../../db/schema.js'

/** Refresh tokens, stored as hashes; `family_id` is the session they belong to (sessions-repository ends them). */
export function createRefreshTokensRepository(db: Db) {
  return {
    async insert(values: typeof refreshTokens.$inferInsert, tx: Db = db): Promise<string> {
      const [row] = await tx.insert(refreshTokens).values(values).returning({ id: refreshTokens.id })
      return row!.id
    },

    async findByHash(tokenHash: string, tx: Db = db) {
      const rows = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1)
      return rows[0]
    },

    /**
     * One token by its id. With `lock` (inside a transaction) its row stays locked until the transaction
     * ends: concurrent retries of the token queue up behind it.
     */
    async findById(id: string, tx: Db = db, options: { lock?: boolean } = {}) {
      const query = tx.select().from(refreshTokens).where(eq(refreshTokens.id, id)).limit(1)
      const rows = await (options.lock ? query.for('update') : query)
      return rows[0]
    },

    /**
     * Marks a token used, only if it still is unused and unrevoked. Exactly one of two concurrent
     * refreshes with the same token wins; the other sees false.
     */
    async markUsed(id: string, at: Date, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .update(refreshTokens)
        .set({ usedAt: at })
        .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id })
      return rows.length === 1
    },

    /**
     * Revokes a token only while it is unused and unrevoked; whether it did. `reason` is kept with it
     * (`superseded`: a retry of its predecessor replaced it, so it coming back is a copy's reuse).
     */
    async revokeIfUnused(id: string, at: Date, tx: Db = db, reason?: 'superseded'): Promise<boolean> {
      const rows = await tx
        .update(refreshTokens)
        .set({ revokedAt: at, revokedReason: reason ?? null })
        .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id })
      return rows.length === 1
    },

    async setReplacedBy(id: string, successorId: string, tx: Db = db) {
      await tx.update(refreshTokens).set({ replacedBy: successorId }).where(eq(refreshTokens.id, id))
    },

    /** Revokes the live tokens of one session (re-authentication issues its replacement). */
    async revokeFamily(familyId: string, at: Date, tx: Db = db) {
      await tx
        .update(refreshTokens)
        .set({ revokedAt: at })
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    },

    async deleteExpired(before: Date, tx: Db = db) {
      await tx.delete(refreshTokens).where(lt(refreshTokens.expiresAt, before))
    },
  }
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>
