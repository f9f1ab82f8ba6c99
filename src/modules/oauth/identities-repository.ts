import { and, asc, count, eq } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { passkeys, userIdentities, users, type UserIdentityRow } from '../../db/schema.js'

/** Accounts at sign-in providers linked to users: provider + subject is the identity. */
export function createIdentitiesRepository(db: Db) {
  return {
    async find(provider: string, subject: string, tx: Db = db): Promise<UserIdentityRow | undefined> {
      const rows = await tx
        .select()
        .from(userIdentities)
        .where(and(eq(userIdentities.provider, provider), eq(userIdentities.subject, subject)))
        .limit(1)
      return rows[0]
    },

    async listForUser(userId: number, tx: Db = db): Promise<UserIdentityRow[]> {
      return tx.select().from(userIdentities).where(eq(userIdentities.userId, userId)).orderBy(asc(userIdentities.createdAt), asc(userIdentities.id))
    },

    /** Inserts the link; undefined when provider + subject is already linked (to anyone). */
    async insert(values: { userId: number; provider: string; subject: string; email: string | null }, tx: Db = db): Promise<UserIdentityRow | undefined> {
      const rows = await tx
        .insert(userIdentities)
        .values({ ...values, lastUsedAt: new Date() })
        .onConflictDoNothing({ target: [userIdentities.provider, userIdentities.subject] })
        .returning()
      return rows[0]
    },

    async touch(id: string, email: string | null, tx: Db = db): Promise<void> {
      await tx.update(userIdentities).set({ lastUsedAt: new Date(), email }).where(eq(userIdentities.id, id))
    },

    async remove(userId: number, id: string, tx: Db = db): Promise<UserIdentityRow | undefined> {
      const rows = await tx
        .delete(userIdentities)
        .where(and(eq(userIdentities.id, id), eq(userIdentities.userId, userId)))
        .returning()
      return rows[0]
    },

    /** Locks the owner's row for the rest of the transaction, so two unlinks cannot both see "another way left". */
    async lockOwner(userId: number, tx: Db): Promise<void> {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for('no key update')
    },

    /** Passkeys are a way to sign in too: an account with one keeps a way in after an unlink. */
    async countPasskeys(userId: number, tx: Db = db): Promise<number> {
      const rows = await tx.select({ total: count() }).from(passkeys).where(eq(passkeys.userId, userId))
      return rows[0]?.total ?? 0
    },
  }
}

export type IdentitiesRepository = ReturnType<typeof createIdentitiesRepository>
