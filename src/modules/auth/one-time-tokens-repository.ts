import { and, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { oneTimeTokens, type OneTimePurpose } from '../../db/schema.js'

/** Hashed, expiring, single-use tokens: email verification, password reset, 2FA enable codes. */
export function createOneTimeTokensRepository(db: Db) {
  return {
    /** Stores a new token for the purpose and drops the user's earlier ones: only the latest works. */
    async replace(userId: number, purpose: OneTimePurpose, tokenHash: string, expiresAt: Date, tx: Db = db) {
      await tx.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, purpose)))
      await tx.insert(oneTimeTokens).values({ userId, purpose, tokenHash, expiresAt })
    },

    /** Uses a token up; returns its row only for the one caller that claimed it while valid. */
    async claim(tokenHash: string, purpose: OneTimePurpose, at: Date, tx: Db = db) {
      const rows = await tx
        .update(oneTimeTokens)
        .set({ usedAt: at })
        .where(
          and(eq(oneTimeTokens.tokenHash, tokenHash), eq(oneTimeTokens.purpose, purpose), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, at)),
        )
        .returning()
      return rows[0]
    },

    /** The user a token belongs to (used or not), without locking it: to lock that user's row before claiming it. */
    async ownerOf(tokenHash: string, tx: Db = db): Promise<number | undefined> {
      const rows = await tx.select({ userId: oneTimeTokens.userId }).from(oneTimeTokens).where(eq(oneTimeTokens.tokenHash, tokenHash)).limit(1)
      return rows[0]?.userId
    },

    /** The user of a token usable now, without using it up (`claim` does, atomically). */
    async usableOwner(tokenHash: string, purpose: OneTimePurpose, at: Date, tx: Db = db): Promise<number | undefined> {
      const rows = await tx
        .select({ userId: oneTimeTokens.userId })
        .from(oneTimeTokens)
        .where(and(eq(oneTimeTokens.tokenHash, tokenHash), eq(oneTimeTokens.purpose, purpose), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, at)))
        .limit(1)
      return rows[0]?.userId
    },

    async findActive(userId: number, purpose: OneTimePurpose, at: Date, tx: Db = db) {
      const rows = await tx
        .select()
        .from(oneTimeTokens)
        .where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, purpose), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, at)))
        .limit(1)
      return rows[0]
    },

    /**
     * Uses up one try before the code is compared, only while fewer than `max` were used: parallel
     * guesses then cannot get more than `max` comparisons. Undefined when no try is left.
     */
    async takeAttempt(id: string, max: number, tx: Db = db): Promise<number | undefined> {
      const rows = await tx
        .update(oneTimeTokens)
        .set({ attempts: sql`${oneTimeTokens.attempts} + 1` })
        .where(and(eq(oneTimeTokens.id, id), lt(oneTimeTokens.attempts, max)))
        .returning({ attempts: oneTimeTokens.attempts })
      return rows[0]?.attempts
    },

    /**
     * Drops the links mailed to the user's addresses: after an email change they point at the wrong one.
     * An email sign-in too: used, it would sign in whoever still reads the old mailbox and, while the new
     * address is unproven (an administrator's change), count as the first proof of it.
     */
    async removeEmailLinks(userId: number, tx: Db = db) {
      await tx
        .delete(oneTimeTokens)
        .where(and(eq(oneTimeTokens.userId, userId), inArray(oneTimeTokens.purpose, ['verify_email', 'password_reset', 'change_email', 'email_login'])))
    },

    async removePurpose(userId: number, purpose: OneTimePurpose, tx: Db = db) {
      await tx.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, purpose)))
    },

    async remove(id: string, tx: Db = db) {
      await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.id, id))
    },
  }
}

export type OneTimeTokensRepository = ReturnType<typeof createOneTimeTokensRepository>
