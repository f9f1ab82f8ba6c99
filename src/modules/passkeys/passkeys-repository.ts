import { and, count, eq, lt, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { passkeys, userIdentities, type PasskeyRow } from '../../db/schema.js'

export type NewPasskey = typeof passkeys.$inferInsert

/** The SQL of passkeys (WebAuthn credentials) and of the one question they ask about linked identities. */
export function createPasskeysRepository(db: Db) {
  return {
    async listForUser(userId: number, tx: Db = db): Promise<PasskeyRow[]> {
      return tx.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(passkeys.createdAt, passkeys.id)
    },

    async findByCredentialId(credentialId: string, tx: Db = db): Promise<PasskeyRow | undefined> {
      const rows = await tx.select().from(passkeys).where(eq(passkeys.credentialId, credentialId)).limit(1)
      return rows[0]
    },

    /** The user's passkey with this id; someone else's answers like a missing one. */
    async findOwned(userId: number, id: string, tx: Db = db): Promise<PasskeyRow | undefined> {
      const rows = await tx
        .select()
        .from(passkeys)
        .where(and(eq(passkeys.userId, userId), eq(passkeys.id, id)))
        .limit(1)
      return rows[0]
    },

    /** Undefined when the credential ID is taken already (it is unique across users). */
    async insert(values: NewPasskey, tx: Db = db): Promise<PasskeyRow | undefined> {
      const rows = await tx.insert(passkeys).values(values).onConflictDoNothing({ target: passkeys.credentialId }).returning()
      return rows[0]
    },

    async rename(userId: number, id: string, name: string, tx: Db = db): Promise<PasskeyRow | undefined> {
      const rows = await tx
        .update(passkeys)
        .set({ name })
        .where(and(eq(passkeys.userId, userId), eq(passkeys.id, id)))
        .returning()
      return rows[0]
    },

    async remove(userId: number, id: string, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .delete(passkeys)
        .where(and(eq(passkeys.userId, userId), eq(passkeys.id, id)))
        .returning({ id: passkeys.id })
      return rows.length === 1
    },

    /**
     * Records a use and its new signature counter, only while the stored counter is still below it (or
     * both are 0: authenticators without a counter). Of two requests racing with one assertion, only
     * one moves the counter; false for the other.
     */
    async recordUse(id: string, newCounter: number, at: Date, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .update(passkeys)
        .set({ counter: newCounter, lastUsedAt: at })
        .where(and(eq(passkeys.id, id), or(lt(passkeys.counter, newCounter), and(eq(passkeys.counter, 0), sql`${newCounter} = 0`))))
        .returning({ id: passkeys.id })
      return rows.length === 1
    },

    /** Serialises changes to one user's ways in (two deletions racing for the last passkey). */
    async lockUser(userId: number, tx: Db): Promise<void> {
      await tx.execute(sql`select id from users where id = ${userId} for no key update`)
    },

    async countForUser(userId: number, tx: Db = db): Promise<number> {
      const rows = await tx.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId))
      return Number(rows[0]?.n ?? 0)
    },

    /** Linked sign-in identities (OIDC, GitHub) of the user: another way in for an account without a password. */
    async countIdentities(userId: number, tx: Db = db): Promise<number> {
      const rows = await tx.select({ n: count() }).from(userIdentities).where(eq(userIdentities.userId, userId))
      return Number(rows[0]?.n ?? 0)
    },
  }
}

export type PasskeysRepository = ReturnType<typeof createPasskeysRepository>
