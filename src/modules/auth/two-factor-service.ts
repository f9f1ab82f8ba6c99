import { randomBytes } from 'node:crypto'
import { and, eq, isNull, lt, sql } from 'drizzle-orm'
import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import { recoveryCodes, twoFaChallenges, type UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import { keyedHash, randomDigits, randomToken, safeEqual, sha256 } from '../../lib/secrets.js'
import type { Mailer } from '../../mail/mailer.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { UsersRepository } from '../users/users-repository.js'
import type { AttemptLimits } from './attempt-limits.js'
import type { AuthService, ClientInfo, TokenPair, TwoFactorChallenge } from './auth-service.js'
import type { OneTimeTokensRepository } from './one-time-tokens-repository.js'
import { createSecretBox, generateTotpSecret, matchTotp, otpauthUrl } from './totp.js'

export const MAX_CODE_ATTEMPTS = 5
export const RESEND_COOLDOWN_SECONDS = 60
export const RECOVERY_CODE_COUNT = 10
const RECOVERY_CODE_PATTERN = /^[a-z2-7]{5}-?[a-z2-7]{5}$/

export interface TwoFactorDeps {
  db: Db
  config: Config
  users: UsersRepository
  oneTimeTokens: OneTimeTokensRepository
  audit: AuditRepository
  mailer: Mailer
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  completeLogin: AuthService['completeLogin']
  limits: AttemptLimits
  notify: (user: UserRow, template: 'two-fa-enabled' | 'two-fa-disabled') => Promise<void>
  /**
   * Checks a passkey answer (modules/passkeys) given as the second factor of the challenge whose token
   * hash is passed; throws `invalid_passkey` when it is refused.
   */
  verifyPasskey?: (userId: number, twoFaTokenHash: string, response: unknown, client: ClientInfo) => Promise<void>
}

/** `<random>.v<token version>[.<first factor>]`: the first factor is left out when it is a password. */
function challengeTokenFor(tokenVersion: number, firstFactor: string): string {
  const token = `${randomToken(32)}.v${tokenVersion}`
  return firstFactor === 'password' ? token : `${token}.${firstFactor}`
}

/** What a challenge token carries (see `challengeTokenFor`); a token without a version matches none. */
function parseChallengeToken(token: string): { version: number | undefined; firstFactor: string } {
  const [, version, ...rest] = token.split('.')
  const match = /^v(\d{1,10})$/.exec(version ?? '')
  return { version: match ? Number(match[1]) : undefined, firstFactor: rest.length > 0 ? rest.join('.') : 'password' }
}

function newRecoveryCode(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  const bytes = randomBytes(10)
  const chars = [...bytes].map((byte) => alphabet[byte & 31]).join('')
  return `${chars.slice(0, 5)}-${chars.slice(5)}`
}

/**
 * Per-user second factor: emailed 6-digit codes or an authenticator app (TOTP), with one-time
 * recovery codes. Challenges and codes live in the database, so any instance can finish a login
 * that another one started.
 */
export function createTwoFactorService(deps: TwoFactorDeps) {
  const { db, config, users, oneTimeTokens, audit, mailer, now } = deps
  const box = createSecretBox(config.secretKey)
  const codeTtlMs = config.twoFaCodeExpireMinutes * 60 * 1000
  // Codes have only a million values: keyed hashes keep a leaked table from being reversed offline.
  const hashCode = (context: string, code: string) => keyedHash(config.secretKey, `${context}:${code}`)
  const hashRecovery = (code: string) => keyedHash(config.secretKey, `recovery:${code.replace('-', '').toLowerCase()}`)

  async function mailCode(user: Pick<UserRow, 'email' | 'username' | 'language'>, code: string) {
    await mailer.send({ to: user.email, template: 'two-fa-code', language: user.language, data: { code, username: user.username, expires_minutes: Math.max(1, Math.round(config.twoFaCodeExpireMinutes)) } })
  }

  async function issueRecoveryCodes(userId: number, tx: Db): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId))
    await tx.insert(recoveryCodes).values(codes.map((code) => ({ userId, codeHash: hashRecovery(code) })))
    return codes
  }

  async function useRecoveryCode(userId: number, code: string, tx: Db): Promise<boolean> {
    if (!RECOVERY_CODE_PATTERN.test(code.toLowerCase())) return false
    const rows = await tx
      .update(recoveryCodes)
      .set({ usedAt: now() })
      .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, hashRecovery(code)), isNull(recoveryCodes.usedAt)))
      .returning({ id: recoveryCodes.id })
    return rows.length === 1
  }

  async function matchUserTotp(user: UserRow, code: string, sealed: string | null, tx: Db): Promise<boolean> {
    if (!sealed) return false
    let secret: string
    try {
      secret = box.open(sealed)
    } catch {
      // Sealed under another SECRET_KEY: the authenticator cannot be checked; recovery codes still work.
      return false
    }
    const step = matchTotp(secret, code, now().getTime(), user.totpLastStep)
    if (step === undefined) return false
    // Conditional write: of two requests racing with one code, only one moves the step forward.
    const rows = await tx
      .update(users.table)
      .set({ totpLastStep: step })
      .where(and(eq(users.table.id, user.id), sql`coalesce(${users.table.totpLastStep}, -1) < ${step}`))
      .returning({ id: users.table.id })
    return rows.length === 1
  }

  /**
   * The live challenge of this token and its user. A challenge belongs to the account's token version of
   * when it was opened (it travels inside the token): once the owner takes the account back (signs out
   * everywhere, resets or changes the password), a sign-in waiting for its second factor is dead too.
   */
  async function loadChallenge(token: string) {
    const invalid = () => new Errors.InvalidChallenge('Invalid or expired 2FA challenge; log in again')
    const rows = await db.select().from(twoFaChallenges).where(eq(twoFaChallenges.tokenHash, sha256(token))).limit(1)
    const challenge = rows[0]
    if (!challenge || challenge.expiresAt.getTime() <= now().getTime() || challenge.attempts >= MAX_CODE_ATTEMPTS) throw invalid()
    const user = await requireUser(challenge.userId)
    if (parseChallengeToken(token).version !== user.tokenVersion) {
      await db.delete(twoFaChallenges).where(eq(twoFaChallenges.id, challenge.id))
      throw invalid()
    }
    return { challenge, user }
  }

  /**
   * Uses up one of the five tries before the code is compared, so parallel guesses cannot get more
   * than five comparisons between them.
   */
  async function takeAttempt(challengeId: string): Promise<number> {
    const rows = await db
      .update(twoFaChallenges)
      .set({ attempts: sql`${twoFaChallenges.attempts} + 1` })
      .where(and(eq(twoFaChallenges.id, challengeId), lt(twoFaChallenges.attempts, MAX_CODE_ATTEMPTS)))
      .returning({ attempts: twoFaChallenges.attempts })
    if (!rows[0]) throw new Errors.InvalidChallenge('Invalid or expired 2FA challenge; log in again')
    return rows[0].attempts
  }

  /** A wrong code; the fifth kills the challenge so a code cannot be brute-forced. */
  async function countFailure(challengeId: string, attempts: number, userId: number, ip: string): Promise<never> {
    if (attempts >= MAX_CODE_ATTEMPTS) await db.delete(twoFaChallenges).where(eq(twoFaChallenges.id, challengeId))
    await audit.record({ action: 'auth.2fa_failed', actorId: userId, targetId: userId, ip, details: { attempts } })
    throw attempts >= MAX_CODE_ATTEMPTS ? new Errors.InvalidChallenge('Too many wrong codes; log in again') : new Errors.InvalidSecondFactor('Invalid 2FA code')
  }

  async function requireUser(userId: number): Promise<UserRow> {
    const user = await users.findById(userId)
    if (!user) throw new Errors.InvalidToken()
    return user
  }

  return {
    /**
     * `firstFactor` is how the first step was proven (`password`, `oauth:<provider>`). It and the account's
     * token version travel inside the challenge token, whose hash is what is stored: a client that edits
     * them no longer has a challenge.
     */
    async startLoginChallenge(user: UserRow, _client: ClientInfo, firstFactor = 'password'): Promise<TwoFactorChallenge> {
      const token = challengeTokenFor(user.tokenVersion, firstFactor)
      const tokenHash = sha256(token)
      const method = user.twoFaMethod
      const code = method === 'email' ? randomDigits(6) : undefined
      await db.transaction(async (tx) => {
        // A new login replaces any earlier challenge, and with it the earlier code.
        await tx.delete(twoFaChallenges).where(eq(twoFaChallenges.userId, user.id))
        await tx.delete(twoFaChallenges).where(lt(twoFaChallenges.expiresAt, now()))
        await tx.insert(twoFaChallenges).values({
          userId: user.id,
          tokenHash,
          method,
          codeHash: code ? hashCode(tokenHash, code) : null,
          expiresAt: new Date(now().getTime() + codeTtlMs),
          lastSentAt: code ? now() : null,
        })
      })
      if (code) await mailCode(user, code)
      return { requires_2fa: true, challenge_token: token, method }
    },

    async verifyLogin(challengeToken: string, code: string, client: ClientInfo): Promise<TokenPair> {
      const { challenge, user } = await loadChallenge(challengeToken)
      // Five tries per challenge is not enough on its own: a new password login opens a new challenge.
      // Wrong codes are therefore also counted per account, across challenges.
      const reservation = await deps.limits.reserveSecondFactor(user.id)
      const attempts = await takeAttempt(challenge.id)
      const trimmed = code.trim()
      const verified = await db.transaction(async (tx) => {
        if (/^\d{6}$/.test(trimmed)) {
          if (challenge.method === 'totp') return matchUserTotp(user, trimmed, user.totpSecret, tx)
          return challenge.codeHash !== null && safeEqual(hashCode(challenge.tokenHash, trimmed), challenge.codeHash)
        }
        return useRecoveryCode(user.id, trimmed, tx)
      })
      if (!verified) return countFailure(challenge.id, attempts, user.id, client.ip)
      await reservation.succeeded()
      // Deleting is the claim: of two requests racing with the right code, only one gets tokens.
      const claimed = await db.delete(twoFaChallenges).where(eq(twoFaChallenges.id, challenge.id)).returning({ id: twoFaChallenges.id })
      if (claimed.length === 0) throw new Errors.InvalidChallenge('Invalid or expired 2FA challenge; log in again')
      if (!user.isActive) throw new Errors.InactiveUser()
      // How the session was proven, as the sessions list shows it.
      const { firstFactor } = parseChallengeToken(challengeToken)
      const method = `${firstFactor}+${!/^\d{6}$/.test(trimmed) ? 'recovery_code' : challenge.method === 'totp' ? 'totp' : 'email_code'}`
      return deps.completeLogin(user, client, method)
    },

    /** The account and stored hash of a live 2FA challenge, for issuing passkey options bound to it. */
    async pendingChallenge(challengeToken: string): Promise<{ userId: number; tokenHash: string }> {
      const { challenge } = await loadChallenge(challengeToken)
      return { userId: challenge.userId, tokenHash: challenge.tokenHash }
    },

    /**
     * Finishes a 2FA sign-in with a passkey instead of a code. Counted like a code: one of the
     * challenge's tries and one of the account's, both given back when the passkey is accepted.
     */
    async verifyLoginWithPasskey(challengeToken: string, response: unknown, client: ClientInfo): Promise<TokenPair> {
      if (!deps.verifyPasskey) throw new Errors.NotFound('Passkeys are off on this server')
      const { firstFactor } = parseChallengeToken(challengeToken)
      // A passkey that did not verify its user got this challenge: the same passkey cannot be the second factor too.
      if (firstFactor === 'passkey') throw new Errors.BadRequest('This sign-in started with a passkey; answer with your code')
      const { challenge, user } = await loadChallenge(challengeToken)
      const reservation = await deps.limits.reserveSecondFactor(user.id)
      const attempts = await takeAttempt(challenge.id)
      try {
        await deps.verifyPasskey(user.id, challenge.tokenHash, response, client)
      } catch (error) {
        if (attempts >= MAX_CODE_ATTEMPTS) await db.delete(twoFaChallenges).where(eq(twoFaChallenges.id, challenge.id))
        await audit.record({ action: 'auth.2fa_failed', actorId: user.id, targetId: user.id, ip: client.ip, details: { attempts, factor: 'passkey' } })
        throw attempts >= MAX_CODE_ATTEMPTS ? new Errors.InvalidChallenge('Too many failed attempts; log in again') : error
      }
      await reservation.succeeded()
      const claimed = await db.delete(twoFaChallenges).where(eq(twoFaChallenges.id, challenge.id)).returning({ id: twoFaChallenges.id })
      if (claimed.length === 0) throw new Errors.InvalidChallenge('Invalid or expired 2FA challenge; log in again')
      if (!user.isActive) throw new Errors.InactiveUser()
      return deps.completeLogin(user, client, `${firstFactor}+passkey`)
    },

    /**
     * Checks a code of a signed-in user who re-authenticates: an authenticator code (TOTP method) or a
     * recovery code. Counted per account like sign-in codes.
     */
    async verifyForUser(user: UserRow, code: string, client: ClientInfo): Promise<boolean> {
      const reservation = await deps.limits.reserveSecondFactor(user.id)
      const trimmed = code.trim()
      const verified = await db.transaction(async (tx) => {
        if (/^\d{6}$/.test(trimmed)) return user.twoFaMethod === 'totp' && matchUserTotp(user, trimmed, user.totpSecret, tx)
        return useRecoveryCode(user.id, trimmed, tx)
      })
      if (!verified) {
        await audit.record({ action: 'auth.2fa_failed', actorId: user.id, targetId: user.id, ip: client.ip, details: { context: 'reauthenticate' } })
        return false
      }
      await reservation.succeeded()
      return true
    },

    async resend(challengeToken: string): Promise<{ retryAfter: number }> {
      const { challenge, user } = await loadChallenge(challengeToken)
      if (challenge.method !== 'email') throw new Errors.BadRequest('This challenge uses an authenticator app; there is nothing to resend')
      const waited = (now().getTime() - (challenge.lastSentAt?.getTime() ?? 0)) / 1000
      if (waited < RESEND_COOLDOWN_SECONDS) {
        const error = new Errors.TooManyRequests(`Wait ${Math.ceil(RESEND_COOLDOWN_SECONDS - waited)} seconds before asking for a new code`)
        Object.assign(error, { retryAfter: Math.ceil(RESEND_COOLDOWN_SECONDS - waited) })
        throw error
      }
      const code = randomDigits(6)
      await db
        .update(twoFaChallenges)
        .set({ codeHash: hashCode(challenge.tokenHash, code), lastSentAt: now(), expiresAt: new Date(now().getTime() + codeTtlMs) })
        .where(eq(twoFaChallenges.id, challenge.id))
      await mailCode(user, code)
      return { retryAfter: RESEND_COOLDOWN_SECONDS }
    },

    /** Step one of turning on email 2FA: mail a confirmation code. */
    async requestEnable(userId: number): Promise<void> {
      const user = await requireUser(userId)
      if (user.twoFaEnabled && user.twoFaMethod === 'email') throw new Errors.Conflict('Two-factor authentication is already enabled')
      await deps.limits.assertMailAllowed(user.email)
      const code = randomDigits(6)
      await oneTimeTokens.replace(user.id, 'enable_2fa', hashCode(`enable:${user.id}`, code), new Date(now().getTime() + codeTtlMs))
      await mailCode(user, code)
    },

    /** Step two: the mailed code proves the address works; 2FA goes on and recovery codes are issued. */
    async confirmEnable(userId: number, code: string, ip: string): Promise<string[]> {
      const user = await requireUser(userId)
      if (user.twoFaEnabled && user.twoFaMethod === 'email') throw new Errors.Conflict('Two-factor authentication is already enabled')
      const pending = await oneTimeTokens.findActive(user.id, 'enable_2fa', now())
      const attempts = pending ? await oneTimeTokens.takeAttempt(pending.id, MAX_CODE_ATTEMPTS) : undefined
      if (!pending || attempts === undefined) throw new Errors.NothingPending('No pending code; call enable-2fa without a body first')
      if (!safeEqual(hashCode(`enable:${user.id}`, code.trim()), pending.tokenHash)) {
        if (attempts >= MAX_CODE_ATTEMPTS) await oneTimeTokens.remove(pending.id)
        throw new Errors.InvalidCode(attempts >= MAX_CODE_ATTEMPTS ? 'Too many wrong codes; request a new one' : 'Invalid code')
      }
      const codes = await db.transaction(async (tx) => {
        // The user's row first, then the code, in the order a take-back locks them (review G3).
        await users.lockRow(user.id, tx)
        if (!(await oneTimeTokens.claim(pending.tokenHash, 'enable_2fa', now(), tx))) throw new Errors.InvalidCode('Invalid code')
        await users.patch(user.id, { twoFaEnabled: true, twoFaMethod: 'email' }, tx)
        await audit.record({ action: 'user.2fa_enabled', actorId: user.id, targetId: user.id, ip, details: { method: 'email' } }, tx)
        return issueRecoveryCodes(user.id, tx)
      })
      await deps.invalidateUser(user.id)
      await deps.notify(user, 'two-fa-enabled')
      return codes
    },

    /** The caller's password was checked by the route's fresh-proof guard. */
    async disable(userId: number, ip: string): Promise<void> {
      const user = await requireUser(userId)
      if (!user.twoFaEnabled) throw new Errors.Conflict('Two-factor authentication is not enabled')
      await db.transaction(async (tx) => {
        await users.patch(user.id, { twoFaEnabled: false, twoFaMethod: 'email', totpSecret: null, totpPendingSecret: null, totpLastStep: null }, tx)
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, user.id))
        await audit.record({ action: 'user.2fa_disabled', actorId: user.id, targetId: user.id, ip }, tx)
      })
      await deps.invalidateUser(user.id)
      await deps.notify(user, 'two-fa-disabled')
    },

    async setupTotp(userId: number): Promise<{ secret: string; otpauth_url: string }> {
      const user = await requireUser(userId)
      const secret = generateTotpSecret()
      await users.patch(user.id, { totpPendingSecret: box.seal(secret) })
      return { secret, otpauth_url: otpauthUrl(config.projectName, user.email, secret) }
    },

    async confirmTotp(userId: number, code: string, ip: string): Promise<string[] | undefined> {
      const user = await requireUser(userId)
      if (!user.totpPendingSecret) throw new Errors.NothingPending('No authenticator setup in progress; call totp/setup first')
      const pending = user.totpPendingSecret
      const result = await db.transaction(async (tx) => {
        if (!(await matchUserTotp(user, code.trim(), pending, tx))) return undefined
        // Written only if this setup is still the pending one (review G7): dropped or replaced since it was read, nothing is turned on.
        if (!(await users.confirmPendingTotp(user.id, pending, tx))) throw new Errors.NothingPending('No authenticator setup in progress; call totp/setup first')
        await audit.record({ action: 'user.2fa_enabled', actorId: user.id, targetId: user.id, ip, details: { method: 'totp' } }, tx)
        const existing = await tx.select({ id: recoveryCodes.id }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, user.id), isNull(recoveryCodes.usedAt)))
        return { codes: existing.length > 0 ? undefined : await issueRecoveryCodes(user.id, tx) }
      })
      if (!result) throw new Errors.InvalidCode('Invalid authenticator code')
      await deps.invalidateUser(user.id)
      await deps.notify(user, 'two-fa-enabled')
      return result.codes
    },

    /** The caller's password was checked by the route's fresh-proof guard. */
    async regenerateRecoveryCodes(userId: number, ip: string): Promise<string[]> {
      const user = await requireUser(userId)
      if (!user.twoFaEnabled) throw new Errors.Conflict('Turn on two-factor authentication first')
      return db.transaction(async (tx) => {
        await audit.record({ action: 'user.recovery_codes_regenerated', actorId: user.id, targetId: user.id, ip }, tx)
        return issueRecoveryCodes(user.id, tx)
      })
    },
  }
}

export type TwoFactorService = ReturnType<typeof createTwoFactorService>
