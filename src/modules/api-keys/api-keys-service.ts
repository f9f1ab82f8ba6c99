import { randomBytes } from 'node:crypto'
import { and, desc, eq, gt, inArray, isNull, or } from 'drizzle-orm'
import type { Cache } from '../../cache/cache.js'
import type { Db } from '../../db/database.js'
import { apiKeys, type ApiKeyRow } from '../../db/schema.js'
import { Errors, fieldError } from '../../lib/errors.js'
import { randomToken, safeEqual, sha256 } from '../../lib/secrets.js'
import { createAccountLocks } from '../auth/account-locks.js'
import type { ApiKeyScope } from '../auth/principal.js'
import type { AuditRepository } from '../audit/audit-repository.js'

const KEY_PATTERN = /^cbs_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/
const CACHE_TTL_SECONDS = 60
/** last_used_at is a hint for humans; writing it on every request would make reads cost a write. */
const TOUCH_INTERVAL_MS = 60_000
const MAX_KEYS_PER_USER = 50

interface CachedKey {
  id: number
  userId: number
  keyHash: string
  scopes: ApiKeyScope[]
  expiresAt: string | null
  revoked: boolean
  lastUsedAt: string | null
}

const cacheKey = (prefix: string) => `apikey:${prefix}`

export interface ApiKeysDeps {
  db: Db
  cache: Cache
  audit: AuditRepository
  now: () => Date
  onError: (error: unknown) => void
}

export function createApiKeysService({ db, cache, audit, now, onError }: ApiKeysDeps) {
  const touched = new Map<number, number>()
  const locks = createAccountLocks(db)

  const load = (prefix: string) =>
    cache.getOrSet<CachedKey | undefined>(cacheKey(prefix), CACHE_TTL_SECONDS, async () => {
      const row = (await db.select().from(apiKeys).where(eq(apiKeys.prefix, prefix)).limit(1))[0]
      if (!row) return undefined
      return {
        id: row.id,
        userId: row.userId,
        keyHash: row.keyHash,
        scopes: row.scopes as ApiKeyScope[],
        expiresAt: row.expiresAt ? new Date(row.expiresAt).toISOString() : null,
        revoked: row.revokedAt !== null,
        lastUsedAt: row.lastUsedAt ? new Date(row.lastUsedAt).toISOString() : null,
      }
    })

  const touch = (keyId: number) => {
    const current = now().getTime()
    if (current - (touched.get(keyId) ?? 0) < TOUCH_INTERVAL_MS) return
    touched.set(keyId, current)
    db.update(apiKeys).set({ lastUsedAt: now() }).where(eq(apiKeys.id, keyId)).then(undefined, onError)
  }

  return {
    /**
     * Creates a key; `sessionId` is the session that asked, so revoking that session can revoke the key.
     * The key is written only while that session is live and, when given, the account's token version
     * is still `tokenVersion` (the one the request authenticated with): a request that passed its checks
     * before the owner took the account back (signed out, changed or reset the password, first proved
     * the address) gets the answer of a revoked session, 401, and no key (see account-locks).
     */
    async create(userId: number, input: { name: string; expiresAt?: Date | undefined; scopes: ApiKeyScope[] }, ip: string, sessionId?: string, tokenVersion?: number) {
      if (input.expiresAt && input.expiresAt.getTime() <= now().getTime()) throw fieldError('expires_at', 'expires_at must be in the future')
      const active = await db.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      if (active.length >= MAX_KEYS_PER_USER) throw new Errors.Conflict(`At most ${MAX_KEYS_PER_USER} active API keys per user`)
      const prefix = randomBytes(6).toString('hex')
      const key = `cbs_${prefix}_${randomToken(32)}`
      // Write means read too: a write-only key would be a surprise.
      const scopes: ApiKeyScope[] = input.scopes.includes('write') ? ['read', 'write'] : ['read']
      const row = await db.transaction(async (tx) => {
        // The user's row first (locked even when there is no version to compare), then the session's: the order of every take-back.
        const sameVersion = await locks.userAt(userId, tokenVersion, tx)
        if (tokenVersion !== undefined && !sameVersion) throw new Errors.InvalidToken()
        if (sessionId !== undefined && !(await locks.liveSession(sessionId, userId, now(), tx))) throw new Errors.InvalidToken()
        const [created] = await tx
          .insert(apiKeys)
          .values({ userId, name: input.name, prefix, keyHash: sha256(key), scopes, expiresAt: input.expiresAt ?? null, sessionId: sessionId ?? null })
          .returning()
        await audit.record({ action: 'api_key.create', actorId: userId, targetId: userId, ip, details: { api_key_id: created!.id, name: input.name, scopes } }, tx)
        return created!
      })
      return { row, key }
    },

    async list(userId: number): Promise<ApiKeyRow[]> {
      return db.select().from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(desc(apiKeys.id))
    },

    async revoke(userId: number, keyId: number, ip: string): Promise<void> {
      const revoked = await db.transaction(async (tx) => {
        const rows = await tx
          .update(apiKeys)
          .set({ revokedAt: now() })
          .where(and(eq(apiKeys.id, keyId), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
          .returning({ prefix: apiKeys.prefix })
        if (rows[0]) await audit.record({ action: 'api_key.revoke', actorId: userId, targetId: userId, ip, details: { api_key_id: keyId } }, tx)
        return rows[0]
      })
      if (!revoked) throw new Errors.NotFound('API key not found')
      await cache.delete(cacheKey(revoked.prefix))
    },

    /**
     * Revokes every live key of a user inside the caller's transaction (a password reset, signing out
     * everywhere). Returns what to run once that transaction has committed: dropping the cached keys.
     */
    async revokeAllForUser(userId: number, reason: string, ip: string, tx: Db = db): Promise<() => Promise<void>> {
      const rows = await tx
        .update(apiKeys)
        .set({ revokedAt: now() })
        .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
        .returning({ id: apiKeys.id, prefix: apiKeys.prefix })
      if (rows.length > 0) {
        await audit.record({ action: 'api_key.revoke_all', actorId: userId, targetId: userId, ip, details: { reason, api_key_ids: rows.map((row) => row.id) } }, tx)
      }
      return async () => {
        await Promise.all(rows.map((row) => cache.delete(cacheKey(row.prefix)).catch(onError)))
      }
    },

    /**
     * Revokes the live keys that these sessions created, inside the caller's transaction (a session
     * signed out as compromised). Returns what to run once that transaction has committed.
     */
    async revokeForSessions(userId: number, sessionIds: readonly string[], reason: string, ip: string | undefined, tx: Db = db): Promise<() => Promise<void>> {
      if (sessionIds.length === 0) return async () => {}
      const rows = await tx
        .update(apiKeys)
        .set({ revokedAt: now() })
        .where(and(eq(apiKeys.userId, userId), inArray(apiKeys.sessionId, [...sessionIds]), isNull(apiKeys.revokedAt)))
        .returning({ id: apiKeys.id, prefix: apiKeys.prefix, sessionId: apiKeys.sessionId })
      for (const row of rows) {
        await audit.record({ action: 'api_key.revoke', actorId: userId, targetId: userId, ip, details: { api_key_id: row.id, reason, session_id: row.sessionId } }, tx)
      }
      return async () => {
        await Promise.all(rows.map((row) => cache.delete(cacheKey(row.prefix)).catch(onError)))
      }
    },

    /** Which of these keys are still usable (not revoked, not expired); open WebSockets re-check with it. */
    async stillValid(keyIds: number[]): Promise<Set<number>> {
      if (keyIds.length === 0) return new Set()
      const rows = await db
        .select({ id: apiKeys.id })
        .from(apiKeys)
        .where(and(inArray(apiKeys.id, keyIds), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now()))))
      return new Set(rows.map((row) => row.id))
    },

    /** Checks a presented key; the hash comparison is constant-time so timing reveals nothing. */
    async verify(presented: string) {
      const match = KEY_PATTERN.exec(presented)
      if (!match) return undefined
      const record = await load(match[1]!)
      if (!record || record.revoked) return undefined
      if (!safeEqual(sha256(presented), record.keyHash)) return undefined
      if (record.expiresAt && new Date(record.expiresAt).getTime() <= now().getTime()) return undefined
      touch(record.id)
      return { userId: record.userId, keyId: record.id, scopes: record.scopes }
    },
  }
}

export type ApiKeysService = ReturnType<typeof createApiKeysService>
