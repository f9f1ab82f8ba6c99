import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import { maskEmail } from '../../lib/mask.js'
import { randomToken, sha256 } from '../../lib/secrets.js'
import type { Mailer } from '../../mail/mailer.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { UsersRepository } from '../users/users-repository.js'
import type { AttemptLimits } from './attempt-limits.js'
import type { AuthService, ClientInfo } from './auth-service.js'
import type { OneTimeTokensRepository } from './one-time-tokens-repository.js'

export const VERIFY_EMAIL_TTL_MS = 24 * 60 * 60 * 1000
export const PASSWORD_RESET_TTL_MS = 60 * 60 * 1000

export interface AccountServiceDeps {
  db: Db
  config: Config
  users: UsersRepository
  oneTimeTokens: OneTimeTokensRepository
  audit: AuditRepository
  mailer: Mailer
  authService: AuthService
  limits: AttemptLimits
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  onError: (error: unknown, message: string) => void
}

/**
 * Email verification, email change and password reset: links carry random tokens stored only as
 * hashes, and every mail here is capped per recipient address (mail bombing).
 */
export function createAccountService(deps: AccountServiceDeps) {
  const { db, config, users, oneTimeTokens, audit, mailer, limits, now } = deps

  // Notices go out unasked: the first of each kind per window always (attempt-limits `takeNotice`), more
  // only within the recipient's mail cap, dropped silently over it.
  type Notice =
    | 'email-change-requested'
    | 'email-changed-by-admin'
    | 'password-reset-done'
    | 'api-key-created'
    | 'recovery-codes-regenerated'
    | 'passkey-added'
    | 'identity-linked'
  const notice = async (to: string, template: Notice, data: Record<string, string>, language: string) => {
    if ((await limits.takeNotice(to, template).catch(() => undefined)) !== undefined) return
    await mailer.send({ to, template, data, language }).catch((error: unknown) => deps.onError(error, `${template} notice not queued`))
  }

  const link = (path: string, token: string) => `${config.publicUrl}${path}?token=${encodeURIComponent(token)}`

  async function sendVerification(user: UserRow): Promise<void> {
    const token = randomToken(32)
    await oneTimeTokens.replace(user.id, 'verify_email', sha256(token), new Date(now().getTime() + VERIFY_EMAIL_TTL_MS))
    await mailer.send({
      to: user.email,
      template: 'verify-email',
      language: user.language,
      data: { username: user.username, link: link('/verify-email', token), token, expires_minutes: VERIFY_EMAIL_TTL_MS / 60_000 },
    })
  }

  return {
    /** Called after registration; a missing mail setup must not make registration fail. */
    async afterRegistration(user: UserRow): Promise<void> {
      if (mailer.mode === 'disabled') return
      await sendVerification(user).catch((error: unknown) => deps.onError(error, 'verification email not queued'))
    },

    async resendVerification(userId: number): Promise<void> {
      const user = await users.findById(userId)
      if (!user) throw new Errors.InvalidToken()
      if (user.emailVerified) throw new Errors.Conflict('Email is already verified')
      await limits.assertMailAllowed(user.email)
      await sendVerification(user)
    },

    /**
     * Asks to move the account to a new address. Nothing changes until a link mailed to the new
     * address is used (so a stolen token cannot redirect password resets); the current address is
     * told, with the new one masked. A newer request replaces the pending one.
     */
    async requestEmailChange(user: UserRow, newEmail: string, client: ClientInfo): Promise<UserRow> {
      await limits.assertMailAllowed(newEmail)
      const token = randomToken(32)
      const updated = await db.transaction(async (tx) => {
        const row = await users.patch(user.id, { pendingEmail: newEmail }, tx)
        await oneTimeTokens.replace(user.id, 'change_email', sha256(token), new Date(now().getTime() + VERIFY_EMAIL_TTL_MS), tx)
        await audit.record({ action: 'user.email_change_requested', actorId: user.id, targetId: user.id, ip: client.ip, details: { new_email: maskEmail(newEmail) } }, tx)
        return row!
      })
      await deps.invalidateUser(user.id)
      await mailer.send({
        to: newEmail,
        template: 'email-change-confirm',
        // The new address belongs to the same person: their language, not a guess from the address.
        language: user.language,
        data: { username: user.username, link: link('/verify-email', token), token, expires_minutes: VERIFY_EMAIL_TTL_MS / 60_000 },
      })
      await notice(user.email, 'email-change-requested', { username: user.username, new_email: maskEmail(newEmail) }, user.language)
      return updated
    },

    /** Drops a pending email change and its link. */
    async cancelEmailChange(userId: number, client: ClientInfo): Promise<UserRow> {
      const updated = await db.transaction(async (tx) => {
        const row = await users.patch(userId, { pendingEmail: null }, tx)
        await oneTimeTokens.removePurpose(userId, 'change_email', tx)
        await audit.record({ action: 'user.email_change_cancelled', actorId: userId, targetId: userId, ip: client.ip }, tx)
        return row
      })
      await deps.invalidateUser(userId)
      if (!updated) throw new Errors.InvalidToken()
      return updated
    },

    /** Tells the old address that an administrator moved the account elsewhere. */
    async notifyEmailChangedByAdmin(user: Pick<UserRow, 'username' | 'language'>, oldEmail: string, newEmail: string): Promise<void> {
      await notice(oldEmail, 'email-changed-by-admin', { username: user.username, new_email: maskEmail(newEmail) }, user.language)
    },

    /** Tells the owner that an API key was made on their account: its name and visible prefix, never the key. */
    async notifyApiKeyCreated(user: Pick<UserRow, 'email' | 'username' | 'language'>, key: { name: string; prefix: string; scopes: readonly string[] }): Promise<void> {
      await notice(user.email, 'api-key-created', { username: user.username, name: key.name, prefix: key.prefix, scopes: key.scopes.join(', '), link: `${config.publicUrl}/security` }, user.language)
    },

    /**
     * Tells the owner of a new way into the account, or a new way past its second factor: recovery codes
     * made again, a passkey added, a sign-in provider account linked. Only names, never a secret. A fresh
     * session (a stolen one, too) can do each of these, and the owner would otherwise not notice.
     */
    async notifyRecoveryCodesRegenerated(user: Pick<UserRow, 'email' | 'username' | 'language'>): Promise<void> {
      await notice(user.email, 'recovery-codes-regenerated', { username: user.username, link: `${config.publicUrl}/security` }, user.language)
    },

    async notifyPasskeyAdded(user: Pick<UserRow, 'email' | 'username' | 'language'>, passkey: { name: string }): Promise<void> {
      await notice(user.email, 'passkey-added', { username: user.username, name: passkey.name, link: `${config.publicUrl}/security` }, user.language)
    },

    async notifyIdentityLinked(userId: number, provider: string): Promise<void> {
      const user = await users.findById(userId)
      if (!user) return
      await notice(user.email, 'identity-linked', { username: user.username, provider, link: `${config.publicUrl}/security` }, user.language)
    },

    /** Confirms an address: a verification link, or the link that completes an email change. */
    async verifyEmail(token: string, client: ClientInfo): Promise<void> {
      const tokenHash = sha256(token)
      const userId = await db.transaction(async (tx) => {
        // The user's row first, then the token, in the order a take-back locks them (review G3).
        const owner = await oneTimeTokens.ownerOf(tokenHash, tx)
        if (owner !== undefined) await users.lockRow(owner, tx)
        const verified = await oneTimeTokens.claim(tokenHash, 'verify_email', now(), tx)
        if (verified) {
          await users.patch(verified.userId, { emailVerified: true }, tx)
          await audit.record({ action: 'user.email_verified', actorId: verified.userId, targetId: verified.userId, ip: client.ip }, tx)
          return verified.userId
        }
        const change = await oneTimeTokens.claim(tokenHash, 'change_email', now(), tx)
        if (!change) throw new Errors.InvalidOrExpiredToken()
        const user = await users.findById(change.userId, tx)
        if (!user?.pendingEmail) throw new Errors.InvalidOrExpiredToken()
        const taken = await users.findTaken(undefined, user.pendingEmail, user.id, tx)
        if (taken.email) throw new Errors.EmailTaken()
        await users.patch(user.id, { email: user.pendingEmail, emailVerified: true, pendingEmail: null }, tx)
        // Links mailed to the old address must not vouch for the account any more.
        await oneTimeTokens.removeEmailLinks(user.id, tx)
        await audit.record(
          { action: 'user.email_changed', actorId: user.id, targetId: user.id, ip: client.ip, details: { from: maskEmail(user.email), to: maskEmail(user.pendingEmail) } },
          tx,
        )
        return user.id
      })
      await deps.invalidateUser(userId)
    },

    /**
     * Answers the same way whether or not the address is registered. The lookup and mail happen after
     * the reply is decided, so timing does not tell either.
     */
    async forgotPassword(email: string, client: ClientInfo): Promise<void> {
      if (mailer.mode === 'disabled') throw new Errors.ServiceUnavailable('email is not configured')
      setImmediate(() => {
        void (async () => {
          const user = await users.findByEmail(email)
          if (!user?.isActive) return
          // Capped per recipient like every other mail, but silently: the answer must not tell.
          if ((await limits.takeMail(user.email)) !== undefined) return
          const token = randomToken(32)
          await oneTimeTokens.replace(user.id, 'password_reset', sha256(token), new Date(now().getTime() + PASSWORD_RESET_TTL_MS))
          await audit.record({ action: 'user.password_reset_requested', actorId: user.id, targetId: user.id, ip: client.ip })
          await mailer.send({
            to: user.email,
            template: 'password-reset',
            language: user.language,
            data: { username: user.username, link: link('/reset-password', token), token, expires_minutes: PASSWORD_RESET_TTL_MS / 60_000 },
          })
        })().catch((error: unknown) => deps.onError(error, 'password reset email not queued'))
      })
    },

    async resetPassword(token: string, newPassword: string, client: ClientInfo): Promise<void> {
      const tokenHash = sha256(token)
      // The new password is hashed (bcrypt, a quarter of a second) before the transaction, which locks
      // the account; a link that is not usable is refused first, so a made-up one costs no hashing.
      const owner = await oneTimeTokens.usableOwner(tokenHash, 'password_reset', now())
      if (owner === undefined) throw new Errors.InvalidOrExpiredToken()
      const passwordHash = await deps.authService.hashNewPassword(newPassword)
      const { user, dropCachedKeys } = await db.transaction(async (tx) => {
        // The user's row first, then the token, in the order an email change locks them (review G3).
        await users.lockRow(owner, tx)
        const claimed = await oneTimeTokens.claim(tokenHash, 'password_reset', now(), tx)
        if (!claimed) throw new Errors.InvalidOrExpiredToken()
        return deps.authService.resetPassword(claimed.userId, newPassword, client, tx, passwordHash)
      })
      await Promise.all([deps.invalidateUser(user.id), dropCachedKeys()])
      await notice(user.email, 'password-reset-done', { username: user.username }, user.language)
    },
  }
}

export type AccountService = ReturnType<typeof createAccountService>
