import { and, eq, gt, isNull, lt, sql } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { oneTimeTokens } from '../../db/schema.js'

const PURPOSE = 'email_login' as const

/**
 * One email sign-in is two rows of one_time_tokens (purpose `email_login`): the link's token and the
 * code, each stored as a hash. They live and die together: a new request replaces both, using either
 * removes both, and wrong codes count on both.
 */
export function createEmailLoginRepository(db: Db) {
  const live = (userId: number, at: Date) =>
    and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, PURPOSE), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, at))

  return {
    async replace(userId: number, hashes: { link: string; code: string }, expiresAt: Date, tx: Db = db): Promise<void> {
      await tx.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, PURPOSE)))
      await tx.insert(oneTimeTokens).values([
        { userId, purpose: PURPOSE, tokenHash: hashes.link, expiresAt },
        { userId, purpose: PURPOSE, tokenHash: hashes.code, expiresAt },
      ])
    },

    /** Uses up the row with this hash while it is valid; its user id for the one caller that claimed it. */
    async claim(tokenHash: string, at: Date, tx: Db = db): Promise<number | undefined> {
      const rows = await tx
        .update(oneTimeTokens)
        .set({ usedAt: at })
        .where(and(eq(oneTimeTokens.tokenHash, tokenHash), eq(oneTimeTokens.purpose, PURPOSE), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, at)))
        .returning({ userId: oneTimeTokens.userId })
      return rows[0]?.userId
    },

    /**
     * Uses up one try of the user's pending sign-in before a code is compared, only while fewer than
     * `max` were used. The tries so far, or undefined when nothing is pending or no try is left.
     */
    async takeAttempt(userId: number, max: number, at: Date, tx: Db = db): Promise<number | undefined> {
      const rows = await tx
        .update(oneTimeTokens)
        .set({ attempts: sql`${oneTimeTokens.attempts} + 1` })
        .where(and(live(userId, at), lt(oneTimeTokens.attempts, max)))
        .returning({ attempts: oneTimeTokens.attempts })
      return rows.length === 0 ? undefined : Math.max(...rows.map((row) => row.attempts))
    },

    async removeAll(userId: number, tx: Db = db): Promise<void> {
      await tx.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, PURPOSE)))
    },
  }
}

export type EmailLoginRepository = ReturnType<typeof createEmailLoginRepository>
