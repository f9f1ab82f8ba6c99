import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { SessionRow, UserRow } from '../../db/schema.js'
import { Errors, fieldError } from '../../lib/errors.js'
import { hashPassword, passwordProblem, verifyPassword } from '../../lib/passwords.js'
import { randomToken, sha256 } from '../../lib/secrets.js'
import type { ApiKeysService } from '../api-keys/api-keys-service.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { SessionsService } from '../sessions/sessions-service.js'
import type { UsersRepository } from '../users/users-repository.js'
import { createAccountLocks } from './account-locks.js'
import { accountKeyOf, type AttemptLimits } from './attempt-limits.js'
import { createAddressProofRepository } from './address-proof-repository.js'
import { createOneTimeTokensRepository } from './one-time-tokens-repository.js'
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
  apiKeys: ApiKeysService
  sessions: SessionsService
  limits: AttemptLimits
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  /** Checks a 2FA code (authenticator, email, recovery) of a signed-in user, for re-authentication. */
  verifySecondFactor: (user: UserRow, code: string, client: ClientInfo) => Promise<boolean>
  /** Checks a passkey answer given to re-authenticate (modules/passkeys); throws `invalid_passkey` when refused. */
  verifyPasskeyProof?: (user: UserRow, response: unknown, client: ClientInfo) => Promise<void>
  /** Starts the second step for a user with 2FA on (mails a code for the email method). */
  startTwoFactor: (user: UserRow, client: ClientInfo) => Promise<TwoFactorChallenge>
  /** Sends a security notice ("password changed", "signed out everywhere"); failures must not fail the change. */
  notify: (user: UserRow, template: 'password-changed' | 'signed-out-everywhere') => Promise<void>
  onError: (error: unknown, message: string) => void
}

export function createAuthService(deps: AuthServiceDeps) {
  const { db, config, users, refreshTokens, audit, tokens, now } = deps
  const refreshTtlMs = config.refreshTokenExpireDays * 24 * 60 * 60 * 1000

  // Hashed once, lazily: comparing against it makes an unknown username cost as much as a wrong password.
  let dummyHash: Promise<string> | undefined
  const getDummyHash = () => (dummyHash ??= hashPassword(randomToken(16), config.bcryptRounds))
  const locks = createAccountLocks(db)

  /**
   * The answer a sign-in gets when the account was taken back (its token version moved) after its
   * first factor was checked: the one that proof gets once it has expired, so nothing new is told.
   */
  function staleSignIn(method: string): Error {
    if (method.includes('+')) return new Errors.InvalidChallenge('Invalid or expired 2FA challenge; log in again')
    if (method === 'email_link') return new Errors.InvalidOrExpiredToken()
    if (method === 'email_code') return new Errors.InvalidCode('Invalid or expired sign-in code; ask for a new email')
    if (method.startsWith('oauth:')) return new Errors.InvalidOAuthCode()
    if (method === 'passkey') return new Errors.InvalidPasskey('Unknown passkey')
    return new Errors.InvalidCredentials()
  }

  /**
   * Issues a token pair of a session. The refresh token never outlives the session's absolute end;
   * the access token carries the session's last proof time (`auth_time`), which a refresh keeps.
   */
  async function issuePair(user: UserRow, session: Pick<SessionRow, 'id' | 'expiresAt' | 'authTime'>, client: ClientInfo, tx: Db = db, rotatedFrom?: string): Promise<TokenPair> {
    const refreshToken = randomToken(32)
    const idleEnd = now().getTime() + refreshTtlMs
    const id = await refreshTokens.insert(
      {
        userId: user.id,
        familyId: session.id,
        tokenHash: sha256(refreshToken),
        expiresAt: new Date(Math.min(idleEnd, session.expiresAt.getTime())),
        ip: client.ip.slice(0, 64),
        userAgent: client.userAgent?.slice(0, 255) ?? null,
      },
      tx,
    )
    if (rotatedFrom) await refreshTokens.setReplacedBy(rotatedFrom, id, tx)
    return {
      access_token: tokens.issue(user, session.id, session.authTime, session.expiresAt),
      refresh_token: refreshToken,
      token_type: 'bearer',
      expires_in: tokens.lifetime(session.expiresAt),
    }
  }

  /**
   * Issues the tokens of a completed sign-in (password, then 2FA when on): a new session, recorded
   * with how it was proven. A sign-in from a device not seen for a while is mailed to the user.
   * `user` is the account as the first factor saw it: when its token version has moved since (the
   * owner signed out everywhere, changed or reset the password, or first proved the address while this
   * sign-in was under way), no session opens and the answer is that of an expired proof.
   */
  async function completeLogin(user: UserRow, client: ClientInfo, method: string): Promise<TokenPair> {
    const { pair, session } = await db
      .transaction(async (tx) => {
        // Locked for update: the row is written below, and a take-back queues behind this sign-in (see account-locks).
        if (!(await locks.userAt(user.id, user.tokenVersion, tx, 'no key update'))) throw staleSignIn(method)
        await users.patch(user.id, { lastLoginAt: now() }, tx)
        await audit.record({ action: 'auth.login', actorId: user.id, targetId: user.id, ip: client.ip, details: { method } }, tx)
        const session = await deps.sessions.start(user, client, method, tx)
        return { pair: await issuePair(user, session, client, tx), session }
      })
      .finally(() => deps.invalidateUser(user.id))
    await deps.sessions.checkNewDevice(user, session).catch((error: unknown) => deps.onError(error, 'new sign-in check failed'))
    return pair
  }

  /**
   * Answers a refresh token that lost its rotation when it is a retry of the client that just rotated it
   * (within the grace window, its successor not used yet): another pair of the same session, and the
   * successor it replaces is revoked as `superseded`, so the session keeps one line of tokens, never two;
   * should that successor come back, the retry was a copy's and `refresh` treats it as reuse. The token's row
   * is locked, and the winning rotation wrote it in one transaction: retries queue behind the winner and
   * each sees the successor of the one before. Undefined when it is not a retry (a reuse).
   */
  async function answerRetry(tokenId: string, user: UserRow, session: SessionRow, client: ClientInfo, at: Date): Promise<TokenPair | undefined> {
    const graceMs = config.refreshReuseGraceSeconds * 1000
    if (graceMs <= 0) return undefined
    return db.transaction(async (tx) => {
      const row = await refreshTokens.findById(tokenId, tx, { lock: true })
      if (!row?.usedAt || row.revokedAt || at.getTime() - row.usedAt.getTime() > graceMs) return undefined
      // A successor already used means the other holder moved on: that is a reuse, not a retry.
      if (row.replacedBy && !(await refreshTokens.revokeIfUnused(row.replacedBy, at, tx, 'superseded'))) return undefined
      await audit.record({ action: 'auth.refresh_retry', actorId: row.userId, targetId: row.userId, ip: client.ip, details: { session_id: session.id } }, tx)
      return issuePair(user, session, client, tx, row.id)
    })
  }

  /**
   * A refresh token came back that someone else's use had already replaced: someone holds a copy. The
   * whole session ends for both holders, with the API keys it created (a copy of its token could have
   * minted them), and the reuse is audited. Throws the answer of any refused refresh token.
   */
  async function endForReuse(row: { userId: number; familyId: string }, client: ClientInfo, details: Record<string, unknown> = {}): Promise<never> {
    const dropCachedKeys = await db.transaction(async (tx) => {
      await deps.sessions.end(row.familyId, 'reuse', { actorId: row.userId, ip: client.ip, tx })
      await audit.record({ action: 'auth.refresh_reuse', actorId: row.userId, targetId: row.userId, ip: client.ip, details: { family_id: row.familyId, ...details } }, tx)
      return deps.apiKeys.revokeForSessions(row.userId, [row.familyId], 'reuse', client.ip, tx)
    })
    await Promise.all([deps.invalidateUser(row.userId), dropCachedKeys()])
    throw new Errors.InvalidRefreshToken()
  }

  /**
   * Checks a password the user gives to confirm who they are (current password, re-authentication,
   * a sensitive action). Every such check counts with the login failures of the account, so these
   * endpoints are not an unlimited oracle for guessing it; each failure is audited.
   */
  async function provePassword(user: UserRow, password: string, client: ClientInfo, field = 'password'): Promise<void> {
    const reservation = await deps.limits.reservePassword(accountKeyOf(user, ''), client.ip)
    if (!(await verifyPassword(password, user.passwordHash))) {
      await audit.record({ action: 'auth.password_check_failed', actorId: user.id, targetId: user.id, ip: client.ip, details: { field } })
      throw new Errors.IncorrectPassword(field === 'current_password' ? 'Current password is incorrect' : 'Password is incorrect')
    }
    await reservation.succeeded()
  }

  async function requireUser(userId: number): Promise<UserRow> {
    const user = await users.findById(userId)
    if (!user) throw new Errors.InvalidToken()
    return user
  }

  /** Revokes every API key of the user in `tx`; returns the cache clean-up to run after commit. */
  const revokeApiKeys = (userId: number, reason: string, client: ClientInfo, tx: Db) => deps.apiKeys.revokeAllForUser(userId, reason, client.ip, tx)
  const oneTimeTokens = createOneTimeTokensRepository(db)
  /**
   * A pending email change may be an intruder's (asked for with a stolen fresh token): whatever makes
   * the owner take the account back cancels it, or its link would hand the account over afterwards.
   */
  const cancelPendingEmail = async (userId: number, tx: Db) => {
    await users.patch(userId, { pendingEmail: null }, tx)
    await oneTimeTokens.removePurpose(userId, 'change_email', tx)
  }
  const addressProofs = createAddressProofRepository(db)

  /**
   * The first proof that someone holds an unverified account's address (a mailed sign-in link or code,
   * a password reset link). Anyone could have registered the address and set up ways in before it was
   * proven (account pre-hijacking), so all of them end here: sessions and their tokens, access tokens,
   * API keys, passkeys, linked identities, sign-ins waiting for a second factor, a pending 2FA setup or
   * email change, and the password (replaced by one nobody knows, as for an account made by a sign-in
   * provider). A turned-on second factor stays: dropping it would let whoever reads the mailbox past it.
   * `reason` is recorded on the ended sessions and revoked keys. `password` is what replaces the password,
   * hashed before the transaction opened (bcrypt must not run while it holds the user's row): one
   * nobody knows for a sign-in, the new one for a reset. Returns the cache clean-up to run after commit.
   */
  async function endCredentialsBeforeAddressProof(
    user: UserRow,
    method: string,
    reason: 'address_proven' | 'password_reset',
    password: { hash: string; known: boolean },
    client: ClientInfo,
    tx: Db,
  ): Promise<() => Promise<void>> {
    const hadPassword = user.hasPassword
    await users.patch(user.id, { emailVerified: true, passwordHash: password.hash, hasPassword: password.known, totpPendingSecret: null }, tx)
    await users.revokeAccessTokens(user.id, tx)
    const sessionIds = await deps.sessions.endAll(user.id, reason, tx, { ip: client.ip })
    await cancelPendingEmail(user.id, tx)
    await oneTimeTokens.removePurpose(user.id, 'enable_2fa', tx)
    const removed = await addressProofs.removeSignInMeans(user.id, tx)
    const dropCachedKeys = await revokeApiKeys(user.id, reason, client, tx)
    await audit.record({ action: 'user.email_verified', actorId: user.id, targetId: user.id, ip: client.ip, details: { by: method } }, tx)
    await audit.record(
      {
        action: 'auth.credentials_reset_on_address_proof',
        actorId: user.id,
        targetId: user.id,
        ip: client.ip,
        details: { by: method, had_password: hadPassword, sessions_ended: sessionIds.length, passkeys_removed: removed.passkeys, identities_removed: removed.identities },
      },
      tx,
    )
    return dropCachedKeys
  }

  return {
    completeLogin,

    /**
     * Records that a mail sent to the user's address was used (`method`: `email_link`, `email_code`).
     * For an account whose address was not verified yet this verifies it and ends every credential made
     * before (see `endCredentialsBeforeAddressProof`). The user as it is now.
     */
    /**
     * `seen` is the token version and address the used mail was accepted under: checked again here,
     * under the lock, so a take-back or an address change that committed since refuses the proof like
     * an expired link (a sign-in link clicked as the owner signs out everywhere must not sign in).
     */
    async proveAddress(userId: number, method: string, client: ClientInfo, seen?: { tokenVersion: number; email: string }): Promise<UserRow> {
      // The password nobody knows is hashed before the transaction, and only for an account that needs it.
      const unusableHash = () => hashPassword(randomToken(32), config.bcryptRounds)
      let hash = (await users.findById(userId))?.emailVerified === false ? await unusableHash() : undefined
      for (;;) {
        const result = await db.transaction(async (tx) => {
          // Locked for update, and the proof moves the token version: a sign-in or a new credential under way
          // (each locks this row and compares the version its request saw, see account-locks) either
          // committed before, and ends here with the rest, or waits and is refused.
          await addressProofs.lockUser(userId, tx)
          const user = await users.findById(userId, tx)
          if (user && seen && (user.tokenVersion !== seen.tokenVersion || user.email !== seen.email)) return { user: undefined, dropCachedKeys: undefined }
          if (!user || user.emailVerified) return { user, dropCachedKeys: undefined }
          // Unverified since the read above (an administrator changed the address): hash, then start again.
          if (hash === undefined) return { retry: true as const }
          const dropCachedKeys = await endCredentialsBeforeAddressProof(user, method, 'address_proven', { hash, known: false }, client, tx)
          return { user: await users.findById(userId, tx), dropCachedKeys }
        })
        if ('retry' in result) {
          hash = await unusableHash()
          continue
        }
        if (!result.user) throw new Errors.InvalidOrExpiredToken()
        if (result.dropCachedKeys) await Promise.all([deps.invalidateUser(userId), result.dropCachedKeys()])
        return result.user
      }
    },

    /**
     * Signs one of the user's sessions out as unwanted: its tokens end, and so do the API keys it created.
     * Whether a live session was ended. The keys go even when the session had ended already: whoever held
     * it may have logged it out (which keeps keys) to take it off the list while its keys live on. Only
     * the user's own keys can match (`revokeForSessions` filters by user), so another user's session id
     * changes nothing and answers the same.
     */
    async revokeSession(userId: number, sessionId: string, client: ClientInfo): Promise<boolean> {
      const { ended, dropCachedKeys } = await db.transaction(async (tx) => {
        const ended = await deps.sessions.end(sessionId, 'revoked', { userId, actorId: userId, ip: client.ip, tx })
        return { ended, dropCachedKeys: await deps.apiKeys.revokeForSessions(userId, [sessionId], 'session_revoked', client.ip, tx) }
      })
      await Promise.all([ended ? deps.invalidateUser(userId) : undefined, dropCachedKeys()])
      return ended
    },

    /** "Sign out every other session": the caller's stays; the others end with the API keys they created. */
    async endOtherSessions(userId: number, keepId: string, client: ClientInfo): Promise<string[]> {
      const { ids, dropCachedKeys } = await db.transaction(async (tx) => {
        const ids = await deps.sessions.endAll(userId, 'revoked', tx, { keepId, actorId: userId, ip: client.ip })
        return { ids, dropCachedKeys: await deps.apiKeys.revokeForSessions(userId, ids, 'session_revoked', client.ip, tx) }
      })
      await Promise.all([deps.invalidateUser(userId), dropCachedKeys()])
      return ids
    },

    async provePassword(userId: number, password: string, client: ClientInfo): Promise<void> {
      await provePassword(await requireUser(userId), password, client)
    },

    async login(identifier: string, password: string, client: ClientInfo): Promise<TokenPair | TwoFactorChallenge> {
      const user = await users.findByUsernameOrEmail(identifier)
      // Counted before the check, so parallel guesses cannot all slip under the limit.
      const reservation = await deps.limits.reservePassword(accountKeyOf(user, identifier), client.ip)
      if (!user) {
        await verifyPassword(password, await getDummyHash())
        await audit.record({ action: 'auth.login_failed', ip: client.ip, details: { reason: 'unknown_user' } })
        throw new Errors.InvalidCredentials()
      }
      if (!(await verifyPassword(password, user.passwordHash))) {
        await audit.record({ action: 'auth.login_failed', actorId: user.id, targetId: user.id, ip: client.ip, details: { reason: 'bad_password' } })
        throw new Errors.InvalidCredentials()
      }
      await reservation.succeeded()
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
      if (row.revokedAt) {
        // Superseded by a retry of its predecessor and now presented: the retry was a copy's (its holder
        // moved on with the successor), so this is the owner's token coming back. Reuse, as below.
        // Only while the token could still be used and its session lives: an old copy found later (in a
        // backup, say) must not end what the owner kept, such as the session's API keys after a logout.
        if (row.revokedReason === 'superseded' && row.expiresAt.getTime() > at.getTime() && (await deps.sessions.usable(row.familyId, client))) {
          await endForReuse(row, client, { superseded: true })
        }
        throw new Errors.InvalidRefreshToken()
      }
      // The session first: one past its absolute end is ended (and audited) here, whatever its token says.
      const session = await deps.sessions.usable(row.familyId, client)
      if (!session || row.expiresAt.getTime() <= at.getTime()) throw new Errors.InvalidRefreshToken()
      const user = await users.findById(row.userId)
      if (!user?.isActive) throw new Errors.InvalidRefreshToken()
      // Used and replaced in one transaction: a concurrent retry waits on this row until the successor is recorded.
      const rotated = await db.transaction(async (tx) => {
        if (!(await refreshTokens.markUsed(row.id, at, tx))) return undefined
        // A refresh proves only possession of the token: the session keeps its last proof time.
        return issuePair(user, session, client, tx, row.id)
      })
      if (rotated) {
        deps.sessions.touch(session.id, client)
        return rotated
      }
      // The client lost the answer (or two tabs raced): another pair of the same session, not a second session.
      const retried = await answerRetry(row.id, user, session, client, at)
      if (retried) return retried
      // A rotated token came back: someone holds a copy.
      return endForReuse(row, client)
    },

    /**
     * Proves again who the caller is (password, or a 2FA code when 2FA is on) and re-issues the
     * session's tokens with a new proof time, which sensitive actions check. The session's other live
     * refresh tokens are revoked, so exactly one carries the new proof.
     */
    async reauthenticate(userId: number, sessionId: string, proof: { password?: string; code?: string; passkey?: unknown }, client: ClientInfo): Promise<TokenPair> {
      const user = await requireUser(userId)
      // A signed-out session must stay signed out, whatever its last access token still says.
      const session = await deps.sessions.usable(sessionId, client)
      if (!session || session.userId !== userId) throw new Errors.InvalidToken()
      if (proof.password !== undefined) {
        await provePassword(user, proof.password, client)
      } else if (proof.code !== undefined) {
        if (!user.twoFaEnabled) throw new Errors.BadRequest('Two-factor authentication is off; confirm with your password')
        if (!(await deps.verifySecondFactor(user, proof.code, client))) throw new Errors.InvalidCode('Invalid code')
      } else if (proof.passkey !== undefined && deps.verifyPasskeyProof) {
        // An account without a password proves itself this way; the passkey must verify the user (PIN, biometrics).
        await deps.verifyPasskeyProof(user, proof.passkey, client)
      } else {
        throw fieldError('password', 'Send "password", "code" for a two-factor code, or "passkey"')
      }
      const method =
        proof.password !== undefined ? 'password' : proof.code === undefined ? 'passkey' : user.twoFaMethod === 'totp' && /^\d{6}$/.test(proof.code.trim()) ? 'totp' : 'recovery_code'
      return db.transaction(async (tx) => {
        await refreshTokens.revokeFamily(sessionId, now(), tx)
        const authTime = await deps.sessions.recordProof(sessionId, method, tx)
        await audit.record({ action: 'auth.reauthenticated', actorId: user.id, targetId: user.id, ip: client.ip, details: { method, session_id: sessionId } }, tx)
        return issuePair(user, { ...session, authTime }, client, tx)
      })
    },

    /**
     * Ends the session the refresh token belongs to. Only the session's live token does: a rotated,
     * revoked or expired one may be an old copy someone saw (in a log, a backup, a shared machine), and must
     * not let them sign the owner out. Such tokens, like unknown ones, are ignored: logout is idempotent.
     */
    async logout(presented: string): Promise<void> {
      const row = await refreshTokens.findByHash(sha256(presented))
      if (!row || row.usedAt || row.revokedAt || row.expiresAt.getTime() <= now().getTime()) return
      await deps.sessions.end(row.familyId, 'logout', { actorId: row.userId })
    },

    /** Ends every session and revokes every API key: what someone does when they fear a leak. */
    async logoutAll(userId: number, client: ClientInfo): Promise<void> {
      const dropCachedKeys = await db.transaction(async (tx) => {
        // The user's row first, then the sessions: the order every transaction takes them in (account-locks).
        await users.revokeAccessTokens(userId, tx)
        await deps.sessions.endAll(userId, 'logout_all', tx, { ip: client.ip })
        await audit.record({ action: 'auth.logout_all', actorId: userId, targetId: userId, ip: client.ip }, tx)
        await cancelPendingEmail(userId, tx)
        return revokeApiKeys(userId, 'logout_all', client, tx)
      })
      await Promise.all([deps.invalidateUser(userId), dropCachedKeys()])
      const user = await users.findById(userId)
      if (user) await deps.notify(user, 'signed-out-everywhere')
    },

    /**
     * Changes the password and ends every other session, with the API keys those sessions created. The
     * caller's session survives with a new line of tokens: its other refresh tokens are revoked (a copy
     * of one, or a second line from a retried refresh, must not outlive the change), and the answer
     * carries the new refresh token and an access token with the fresh proof.
     */
    async changePassword(userId: number, sessionId: string | undefined, current: string, next: string, client: ClientInfo) {
      const user = await requireUser(userId)
      await provePassword(user, current, client, 'current_password')
      const problem = await passwordProblem(next, { username: user.username, email: user.email })
      if (problem) throw fieldError('new_password', problem)
      if (current === next) throw fieldError('new_password', 'New password must differ from the current one')
      const passwordHash = await hashPassword(next, config.bcryptRounds)
      const { updated, dropCachedKeys } = await db.transaction(async (tx) => {
        await users.patch(userId, { passwordHash, hasPassword: true }, tx)
        await users.revokeAccessTokens(userId, tx)
        const ended = await deps.sessions.endAll(userId, 'password_change', tx, { keepId: sessionId, ip: client.ip })
        await cancelPendingEmail(userId, tx)
        await audit.record({ action: 'user.password_change', actorId: userId, targetId: userId, ip: client.ip }, tx)
        const dropCachedKeys = await deps.apiKeys.revokeForSessions(userId, ended, 'password_change', client.ip, tx)
        return { updated: await users.findById(userId, tx), dropCachedKeys }
      })
      await Promise.all([deps.invalidateUser(userId), dropCachedKeys()])
      await deps.notify(updated!, 'password-changed')
      // The current password was just proven: the session records it, and its new tokens carry it.
      const session = sessionId ? await deps.sessions.usable(sessionId, client) : undefined
      if (!session) throw new Errors.InvalidToken()
      return db.transaction(async (tx) => {
        await refreshTokens.revokeFamily(session.id, now(), tx)
        const authTime = await deps.sessions.recordProof(session.id, 'password', tx)
        return issuePair(updated!, { ...session, authTime }, client, tx)
      })
    },

    /** Hashes a new password; a caller about to open a transaction for `resetPassword` does it first (bcrypt holds no locks then). */
    hashNewPassword: (next: string) => hashPassword(next, config.bcryptRounds),

    /**
     * Sets a new password from a reset link: every session ends and every API key is revoked,
     * including any attacker's. Returns the user and the cache clean-up to run after commit.
     * `passwordHash` is `next` hashed before `tx` opened (`hashNewPassword`); without it the hash is
     * made here, inside the caller's transaction.
     */
    async resetPassword(userId: number, next: string, client: ClientInfo, tx: Db, passwordHash?: string) {
      const user = await users.findById(userId, tx)
      if (!user) throw new Errors.InvalidOrExpiredToken()
      const problem = await passwordProblem(next, { username: user.username, email: user.email })
      if (problem) throw fieldError('new_password', problem)
      const hash = passwordHash ?? (await hashPassword(next, config.bcryptRounds))
      // The link was mailed to the address: for an unverified account this is the first proof of it,
      // so whatever was set up before ends, passkeys and linked identities included.
      const dropProofKeys = user.emailVerified
        ? undefined
        : await endCredentialsBeforeAddressProof(user, 'password_reset', 'password_reset', { hash, known: true }, client, tx)
      // An account made by a sign-in provider gets its first usable password here.
      await users.patch(userId, { passwordHash: hash, hasPassword: true }, tx)
      await users.revokeAccessTokens(userId, tx)
      await deps.sessions.endAll(userId, 'password_reset', tx, { ip: client.ip })
      await cancelPendingEmail(userId, tx)
      await audit.record({ action: 'user.password_reset', actorId: userId, targetId: userId, ip: client.ip }, tx)
      const dropResetKeys = await revokeApiKeys(userId, 'password_reset', client, tx)
      const dropCachedKeys = async () => {
        await Promise.all([dropResetKeys(), dropProofKeys?.()])
      }
      return { user, dropCachedKeys }
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
