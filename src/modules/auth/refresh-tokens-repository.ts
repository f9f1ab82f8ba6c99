import { and, eq, gt, isNull, ne, sql } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { refreshTokens } from '../../db/schema.js'

export function createRefreshTokensRepository(db: Db) {
  return {
    async insert(values: typeof refreshTokens.$inferInsert, tx: Db = db) {
      await tx.insert(refreshTokens).values(values)
    },

    async findByHash(tokenHash: string, tx: Db = db) {
      const rows = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1)
      return rows[0]
    },

    /**
     * Marks a token used, only if it still is unused and unrevoked. Exactly one of two concurrent
     * refreshes with the same token wins; the other sees false and is treated as reuse.
     */
    async markUsed(id: string, at: Date, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .update(refreshTokens)
        .set({ usedAt: at })
        .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id })
      return rows.length === 1
    },

    /** Whether a session still has a refresh token that can be used: it was not ended and has not expired. */
    async isLive(familyId: string, at: Date, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .select({ id: refreshTokens.id })
        .from(refreshTokens)
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt), isNull(refreshTokens.usedAt), gt(refreshTokens.expiresAt, at)))
        .limit(1)
      return rows.length === 1
    },

    async revokeFamily(familyId: string, at: Date, tx: Db = db) {
      await tx
        .update(refreshTokens)
        .set({ revokedAt: at })
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    },

    /** Ends every session of a user, or every one but `keepFamilyId`. */
    async revokeAllForUser(userId: number, at: Date, keepFamilyId?: string, tx: Db = db) {
      const conditions = [eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)]
      if (keepFamilyId) conditions.push(ne(refreshTokens.familyId, keepFamilyId))
      await tx.update(refreshTokens).set({ revokedAt: at }).where(and(...conditions))
    },

    async deleteExpired(before: Date, tx: Db = db) {
      await tx.delete(refreshTokens).where(sql`${refreshTokens.expiresAt} < ${before}`)
    },
  }
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>
