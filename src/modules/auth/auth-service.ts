import { randomUUID } from 'node:crypto'
import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { UserRow } from '../../db/schema.js'
import { Errors, fieldError } from '../../lib/errors.js'
import { hashPassword, passwordProblem, verifyPassword } from '../../lib/passwords.js'
import { randomToken, sha256 } from '../../lib/secrets.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { UsersRepository } from '../users/users-repository.js'
import type { RefreshTokensRepository } from './refresh-tokens-repository.js'
import type { AccessTokens } from './tokens.js'

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
}

export interface TwoFactorChallenge {
  requires_2fa: true
  challenge_token: string
  method: 'email' | 'totp'
}

export interface ClientInfo {
  ip: string
  userAgent?: string | undefined
}

export interface AuthServiceDeps {
  db: Db
  config: Config
  users: UsersRepository
  refreshTokens: RefreshTokensRepository
  audit: AuditRepository
  tokens: AccessTokens
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  /** Starts the second step for a user with 2FA on (mails a code for the email method). */
  startTwoFactor: (user: UserRow, client: ClientInfo) => Promise<TwoFactorChallenge>
  /** Sends the "your password was changed" notice; failures must not fail the change. */
  notifyPasswordChanged: (user: UserRow) => Promise<void>
}

export function createAuthService(deps: AuthServiceDeps) {
  const { db, config, users, refreshTokens, audit, tokens, now } = deps
  const refreshTtlMs = config.refreshTokenExpireDays * 24 * 60 * 60 * 1000

  // Hashed once, lazily: comparing against it makes an unknown username cost as much as a wrong password.
  let dummyHash: Promise<string> | undefined
  const getDummyHash = () => (dummyHash ??= hashPassword(randomToken(16), config.bcryptRounds))

  async function createSession(user: UserRow, client: ClientInfo, familyId: string = randomUUID(), tx: Db = db): Promise<TokenPair> {
    const refreshToken = randomToken(32)
    await refreshTokens.insert(
      {
        userId: user.id,
        familyId,
        tokenHash: sha256(refreshToken),
        expiresAt: new Date(now().getTime() + refreshTtlMs),
        ip: client.ip.slice(0, 64),
        userAgent: client.userAgent?.slice(0, 255) ?? null,
      },
      tx,
    )
    return {
      access_token: tokens.issue(user, familyId),
      refresh_token: refreshToken,
      token_type: 'bearer',
      expires_in: tokens.ttlSeconds,
    }
  }

  /** Issues the tokens of a completed login (password, then 2FA when on) and records it. */
  async function completeLogin(user: UserRow, client: ClientInfo, method: string): Promise<TokenPair> {
    return db.transaction(async (tx) => {
      await users.patch(user.id, { lastLoginAt: now() }, tx)
      await audit.record({ action: 'auth.login', actorId: user.id, targetId: user.id, ip: client.ip, details: { method } }, tx)
      return createSession(user, client, randomUUID(), tx)
    }).finally(() => deps.invalidateUser(user.id))
  }

  async function checkPassword(user: UserRow, password: string): Promise<boolean> {
    return verifyPassword(password, user.passwordHash)
  }

  return {
    createSession,
    completeLogin,
    checkPassword,

    async login(identifier: string, password: string, client: ClientInfo): Promise<TokenPair | TwoFactorChallenge> {
      const user = await users.findByUsernameOrEmail(identifier)
      if (!user) {
        await verifyPassword(password, await getDummyHash())
        await audit.record({ action: 'auth.login_failed', ip: client.ip, details: { reason: 'unknown_user' } })
        throw new Errors.InvalidCredentials()
      }
      if (!(await checkPassword(user, password))) {
        await audit.record({ action: 'auth.login_failed', actorId: user.id, targetId: user.id, ip: client.ip, details: { reason: 'bad_password' } })
        throw new Errors.InvalidCredentials()
      }
      // Only someone who knows the password learns the account is disabled or unverified.
      if (!user.isActive) throw new Errors.InactiveUser()
      if (config.requireEmailVerification && !user.emailVerified) throw new Errors.EmailNotVerified()
      if (user.twoFaEnabled) return deps.startTwoFactor(user, client)
      return completeLogin(user, client, 'password')
    },

    async refresh(presented: string, client: ClientInfo): Promise<TokenPair> {
      const row = await refreshTokens.findByHash(sha256(presented))
      if (!row) throw new Errors.InvalidRefreshToken()
      const at = now()
      if (row.revokedAt || row.expiresAt.getTime() <= at.getTime()) throw new Errors.InvalidRefreshToken()
      const won = await refreshTokens.markUsed(row.id, at)
      if (!won) {
        // A rotated token came back: someone holds a copy. End the whole session for both holders.
        await db.transaction(async (tx) => {
          await refreshTokens.revokeFamily(row.familyId, at, tx)
          await audit.record({ action: 'auth.refresh_reuse', actorId: row.userId, targetId: row.userId, ip: client.ip, details: { family_id: row.familyId } }, tx)
        })
        throw new Errors.InvalidRefreshToken()
      }
      const user = await users.findById(row.userId)
      if (!user || !user.isActive) throw new Errors.InvalidRefreshToken()
      return createSession(user, client, row.familyId)
    },

    /** Ends the session the refresh token belongs to. Unknown tokens are ignored: logout is idempotent. */
    async logout(presented: string): Promise<void> {
      const row = await refreshTokens.findByHash(sha256(presented))
      if (row) await refreshTokens.revokeFamily(row.familyId, now())
    },

    async logoutAll(userId: number, client: ClientInfo): Promise<void> {
      await db.transaction(async (tx) => {
        await refreshTokens.revokeAllForUser(userId, now(), undefined, tx)
        await users.revokeAccessTokens(userId, tx)
        await audit.record({ action: 'auth.logout_all', actorId: userId, targetId: userId, ip: client.ip }, tx)
      })
      await deps.invalidateUser(userId)
    },

    /**
     * Changes the password and ends every other session. The caller's session survives: its refresh
     * token stays valid, and it gets a fresh access token since the old ones were just revoked.
     */
    async changePassword(userId: number, sessionId: string | undefined, current: string, next: string, client: ClientInfo) {
      const user = await users.findById(userId)
      if (!user) throw new Errors.InvalidToken()
      if (!(await checkPassword(user, current))) throw new Errors.BadRequest('Current password is incorrect')
      const problem = passwordProblem(next, { username: user.username, email: user.email })
      if (problem) throw fieldError('new_password', problem)
      if (current === next) throw fieldError('new_password', 'New password must differ from the current one')
      const passwordHash = await hashPassword(next, config.bcryptRounds)
      const updated = await db.transaction(async (tx) => {
        await users.patch(userId, { passwordHash }, tx)
        await users.revokeAccessTokens(userId, tx)
        await refreshTokens.revokeAllForUser(userId, now(), sessionId, tx)
        await audit.record({ action: 'user.password_change', actorId: userId, targetId: userId, ip: client.ip }, tx)
        return users.findById(userId, tx)
      })
      await deps.invalidateUser(userId)
      await deps.notifyPasswordChanged(updated!)
      return { access_token: tokens.issue(updated!, sessionId ?? randomUUID()), token_type: 'bearer' as const, expires_in: tokens.ttlSeconds }
    },

    /** Sets a new password from a reset link: every session ends, including any attacker's. */
    async resetPassword(userId: number, next: string, client: ClientInfo, tx: Db) {
      const user = await users.findById(userId, tx)
      if (!user) throw new Errors.BadRequest('Invalid or expired token')
      const problem = passwordProblem(next, { username: user.username, email: user.email })
      if (problem) throw fieldError('new_password', problem)
      await users.patch(userId, { passwordHash: await hashPassword(next, config.bcryptRounds) }, tx)
      await users.revokeAccessTokens(userId, tx)
      await refreshTokens.revokeAllForUser(userId, now(), undefined, tx)
      await audit.record({ action: 'user.password_reset', actorId: userId, targetId: userId, ip: client.ip }, tx)
      return user
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
