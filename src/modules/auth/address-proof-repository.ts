import { eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { passkeys, twoFaChallenges, userIdentities } from '../../db/schema.js'

/**
 * The ways into an account that someone could have added before its address was proven: they are
 * removed together when the address's owner first proves it (auth-service `proveAddress`).
 */
export function createAddressProofRepository(db: Db) {
  return {
    /**
     * `for no key update`, not `for update`: it still excludes every other writer of the row and the
     * credential checks (account-locks), but not the key-share lock a foreign-key insert takes (a
     * refresh rotation's new token), which would otherwise deadlock with ending that session's tokens.
     */
    async lockUser(userId: number, tx: Db): Promise<void> {
      await tx.execute(sql`select id from users where id = ${userId} for no key update`)
    },

    /** Removes the user's passkeys, linked identities and sign-ins waiting for their second factor. */
    async removeSignInMeans(userId: number, tx: Db = db): Promise<{ passkeys: number; identities: number }> {
      const removedPasskeys = await tx.delete(passkeys).where(eq(passkeys.userId, userId)).returning({ id: passkeys.id })
      const removedIdentities = await tx.delete(userIdentities).where(eq(userIdentities.userId, userId)).returning({ id: userIdentities.id })
      await tx.delete(twoFaChallenges).where(eq(twoFaChallenges.userId, userId))
      return { passkeys: removedPasskeys.length, identities: removedIdentities.length }
    },
  }
}
