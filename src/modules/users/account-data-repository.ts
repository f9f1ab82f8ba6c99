import { asc, eq } from 'drizzle-orm'
import type { Db } from '../../db/database.js'
import { passkeys, userIdentities } from '../../db/schema.js'

/**
 * Reads for the account export of the sign-in methods other modules own (passkeys, linked identities).
 * Only the columns the export shows are selected, never whole rows: a passkey's key material (public
 * key, credential id, counter) then cannot reach the export through a column added later.
 */
export function createAccountDataRepository(db: Db) {
  return {
    async listPasskeys(userId: number, tx?: Db) {
      return (tx ?? db)
        .select({
          id: passkeys.id,
          name: passkeys.name,
          createdAt: passkeys.createdAt,
          lastUsedAt: passkeys.lastUsedAt,
          backedUp: passkeys.backedUp,
          transports: passkeys.transports,
          deviceType: passkeys.deviceType,
        })
        .from(passkeys)
        .where(eq(passkeys.userId, userId))
        .orderBy(asc(passkeys.createdAt), asc(passkeys.id))
    },

    async listIdentities(userId: number, tx?: Db) {
      return (tx ?? db)
        .select({
          id: userIdentities.id,
          provider: userIdentities.provider,
          email: userIdentities.email,
          createdAt: userIdentities.createdAt,
          lastUsedAt: userIdentities.lastUsedAt,
        })
        .from(userIdentities)
        .where(eq(userIdentities.userId, userId))
        .orderBy(asc(userIdentities.createdAt), asc(userIdentities.id))
    },
  }
}

export type AccountDataRepository = ReturnType<typeof createAccountDataRepository>
