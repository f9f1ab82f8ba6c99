import type { Db } from '../../db/database.js'
import type { UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import type { ApiKeysService } from '../api-keys/api-keys-service.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { SessionsRepository } from '../sessions/sessions-repository.js'
import { createAccountDataRepository } from './account-data-repository.js'
import type { UsersRepository } from './users-repository.js'
import { toUserPublic } from './users-schemas.js'

/** Bounds the audit part of an export; a person's own history rarely comes near it. */
const EXPORT_AUDIT_LIMIT = 10_000

export interface AccountDataDeps {
  db: Db
  users: UsersRepository
  sessions: SessionsRepository
  apiKeys: ApiKeysService
  audit: AuditRepository
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  /** Mails the "account deleted" confirmation to the address the account had. */
  notifyDeleted: (user: UserRow) => Promise<void>
}

const iso = (value: Date | string | null | undefined) => (value ? new Date(value).toISOString() : null)

/**
 * The user's own data rights (GDPR art. 15, 17, 20; the App Store's account deletion rule): a copy of
 * everything stored about them, and deleting the account with everything that belongs to it.
 */
export function createAccountDataService(deps: AccountDataDeps) {
  const { db, users, sessions, apiKeys, audit, now } = deps
  const signInMethods = createAccountDataRepository(db)

  return {
    /** Everything stored about the user, secrets left out (hashes, TOTP secrets, key material). */
    async export(userId: number) {
      const user = await users.findById(userId)
      if (!user) throw new Errors.InvalidToken()
      const [sessionRows, keyRows, passkeyRows, identityRows, events] = await Promise.all([
        sessions.listAll(userId),
        apiKeys.list(userId),
        signInMethods.listPasskeys(userId),
        signInMethods.listIdentities(userId),
        audit.listAbout(userId, EXPORT_AUDIT_LIMIT),
      ])
      return {
        exported_at: now().toISOString(),
        format: 'carbelsad-account-export/1',
        profile: { ...toUserPublic(user), two_fa_method: user.twoFaEnabled ? user.twoFaMethod : null },
        sessions: sessionRows.map((row) => ({
          id: row.id,
          created_at: iso(row.createdAt),
          last_used_at: iso(row.lastUsedAt),
          expires_at: iso(row.expiresAt),
          ended_at: iso(row.endedAt),
          end_reason: row.endReason,
          ip: row.ip,
          user_agent: row.userAgent,
          device: row.device,
          auth_methods: row.authMethods,
        })),
        api_keys: keyRows.map((row) => ({
          id: row.id,
          name: row.name,
          prefix: `cbs_${row.prefix}`,
          scopes: row.scopes,
          created_at: iso(row.createdAt),
          expires_at: iso(row.expiresAt),
          last_used_at: iso(row.lastUsedAt),
          revoked_at: iso(row.revokedAt),
        })),
        passkeys: passkeyRows.map((row) => ({
          id: row.id,
          name: row.name,
          created_at: iso(row.createdAt),
          last_used_at: iso(row.lastUsedAt),
          backed_up: row.backedUp,
          transports: row.transports,
          device_type: row.deviceType,
        })),
        identities: identityRows.map((row) => ({
          id: row.id,
          provider: row.provider,
          email: row.email,
          created_at: iso(row.createdAt),
          last_used_at: iso(row.lastUsedAt),
        })),
        audit_events: events.map((row) => ({
          id: row.id,
          action: row.action,
          actor_id: row.actorId,
          target_id: row.targetId,
          ip: row.ip,
          details: row.details,
          created_at: iso(row.createdAt),
        })),
      }
    },

    /**
     * Deletes the caller's account. Sessions, refresh tokens, API keys, 2FA data, passkeys, linked
     * identities and mailed tokens go with it (foreign keys cascade); the audit keeps one entry that
     * names no person, only the id.
     */
    async deleteSelf(userId: number, assertNotLastSuperadmin: (user: UserRow, tx: Db) => Promise<void>): Promise<void> {
      const user = await users.findById(userId)
      if (!user) throw new Errors.InvalidToken()
      await db.transaction(async (tx) => {
        await assertNotLastSuperadmin(user, tx)
        await audit.record({ action: 'user.self_delete', targetId: user.id, details: { role: user.role } }, tx)
        await users.delete(user.id, tx)
      })
      await deps.invalidateUser(user.id)
      await deps.notifyDeleted(user)
    },
  }
}

export type AccountDataService = ReturnType<typeof createAccountDataService>
