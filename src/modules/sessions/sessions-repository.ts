import { and, desc, eq, gt, inArray, isNull, lt, lte, ne, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { refreshTokens, sessions, type SessionRow } from '../../db/schema.js'

export type EndReason = 'logout' | 'logout_all' | 'revoked' | 'reuse' | 'expired' | 'password_change' | 'password_reset' | 'deactivated' | 'address_proven'

/** Sessions and the refresh tokens under them: ending a session revokes its tokens in the same statement group. */
export function createSessionsRepository(db: Db) {
  async function revokeTokens(sessionIds: string[], at: Date, tx: Db) {
    if (sessionIds.length === 0) return
    await tx
      .update(refreshTokens)
      .set({ revokedAt: at })
      .where(and(inArray(refreshTokens.familyId, sessionIds), isNull(refreshTokens.revokedAt)))
  }

  return {
    async insert(values: typeof sessions.$inferInsert, tx: Db = db): Promise<SessionRow> {
      const [row] = await tx.insert(sessions).values(values).returning()
      return row!
    },

    async findById(id: string, tx: Db = db): Promise<SessionRow | undefined> {
      const rows = await tx.select().from(sessions).where(eq(sessions.id, id)).limit(1)
      return rows[0]
    },

    /** Every session of a user still stored, live or ended, newest first (a data export). */
    async listAll(userId: number, tx: Db = db): Promise<SessionRow[]> {
      return tx.select().from(sessions).where(eq(sessions.userId, userId)).orderBy(desc(sessions.createdAt))
    },

    /** Live sessions of a user, most recently used first. */
    async listLive(userId: number, at: Date, tx: Db = db): Promise<SessionRow[]> {
      return tx
        .select()
        .from(sessions)
        .where(and(eq(sessions.userId, userId), isNull(sessions.endedAt), gt(sessions.expiresAt, at)))
        .orderBy(desc(sessions.lastUsedAt), desc(sessions.createdAt))
    },

    /** Ids of the user's sessions that ended since `since`: their access tokens may still be unexpired. */
    async endedSince(userId: number, since: Date, at: Date, tx: Db = db): Promise<string[]> {
      const rows = await tx
        .select({ id: sessions.id })
        .from(sessions)
        .where(and(eq(sessions.userId, userId), or(gt(sessions.endedAt, since), and(gt(sessions.expiresAt, since), lte(sessions.expiresAt, at)))))
      return rows.map((row) => row.id)
    },

    /**
     * Records a use, at most once a minute (the condition keeps instances from writing it twice).
     * Returns the session's last use as stored, written now or not, or undefined for an unknown session.
     */
    async touch(id: string, at: Date, ip: string, userAgent: string | null, tx: Db = db): Promise<Date | undefined> {
      const written = await tx
        .update(sessions)
        .set({ lastUsedAt: at, ip, userAgent })
        .where(and(eq(sessions.id, id), lt(sessions.lastUsedAt, new Date(at.getTime() - 60_000))))
        .returning({ lastUsedAt: sessions.lastUsedAt })
      if (written[0]) return written[0].lastUsedAt
      const rows = await tx.select({ lastUsedAt: sessions.lastUsedAt }).from(sessions).where(eq(sessions.id, id)).limit(1)
      return rows[0]?.lastUsedAt
    },

    async recordProof(id: string, at: Date, method: string, tx: Db = db): Promise<void> {
      await tx
        .update(sessions)
        .set({ authTime: at, authMethods: sql`array_append(${sessions.authMethods}, ${method})` })
        .where(eq(sessions.id, id))
    },

    /** Ends one session (of this user, when given); returns whether a live one was ended. */
    async end(id: string, reason: EndReason, at: Date, userId?: number, tx: Db = db): Promise<SessionRow | undefined> {
      const conditions = [eq(sessions.id, id), isNull(sessions.endedAt)]
      if (userId !== undefined) conditions.push(eq(sessions.userId, userId))
      const [row] = await tx.update(sessions).set({ endedAt: at, endReason: reason }).where(and(...conditions)).returning()
      // Only a session this call really ended: someone else's id must not touch its owner's tokens.
      if (row) await revokeTokens([id], at, tx)
      return row
    },

    /** Ends every live session of a user, or every one but `keepId`; returns the ended ids. */
    async endAllForUser(userId: number, reason: EndReason, at: Date, keepId?: string, tx: Db = db): Promise<string[]> {
      const conditions = [eq(sessions.userId, userId), isNull(sessions.endedAt)]
      if (keepId) conditions.push(ne(sessions.id, keepId))
      const rows = await tx.update(sessions).set({ endedAt: at, endReason: reason }).where(and(...conditions)).returning({ id: sessions.id })
      const ids = rows.map((row) => row.id)
      // Tokens of sessions that had already ended are revoked too: nothing under this user survives.
      const conditionsTokens = [eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)]
      if (keepId) conditionsTokens.push(ne(refreshTokens.familyId, keepId))
      await tx.update(refreshTokens).set({ revokedAt: at }).where(and(...conditionsTokens))
      return ids
    },

    /** Whether the user signed in from this device label and address within the window. */
    async seenDevice(userId: number, device: string, ip: string, since: Date, exceptId: string, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .select({ id: sessions.id })
        .from(sessions)
        .where(and(eq(sessions.userId, userId), eq(sessions.device, device), eq(sessions.ip, ip), gt(sessions.lastUsedAt, since), ne(sessions.id, exceptId)))
        .limit(1)
      return rows.length === 1
    },
  }
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>
