import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import { randomToken, sha256 } from '../../lib/secrets.js'
import type { Mailer } from '../../mail/mailer.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { UsersRepository } from '../users/users-repository.js'
import type { AuthService, ClientInfo } from './auth-service.js'
import type { OneTimeTokensRepository } from './one-time-tokens-repository.js'

const VERIFY_EMAIL_TTL_MS = 24 * 60 * 60 * 1000
const PASSWORD_RESET_TTL_MS = 60 * 60 * 1000

export interface AccountServiceDeps {
  db: Db
  config: Config
  users: UsersRepository
  oneTimeTokens: OneTimeTokensRepository
  audit: AuditRepository
  mailer: Mailer
  authService: AuthService
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  onError: (error: unknown, message: string) => void
}

/** Email verification and password reset: links carry random tokens stored only as hashes. */
export function createAccountService(deps: AccountServiceDeps) {
  const { db, config, users, oneTimeTokens, audit, mailer, now } = deps

  const link = (path: string, token: string) => `${config.publicUrl}${path}?token=${encodeURIComponent(token)}`

  async function sendVerification(user: UserRow): Promise<void> {
    const token = randomToken(32)
    await oneTimeTokens.replace(user.id, 'verify_email', sha256(token), new Date(now().getTime() + VERIFY_EMAIL_TTL_MS))
    await mailer.send({
      to: user.email,
      template: 'verify-email',
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
      await sendVerification(user)
    },

    async verifyEmail(token: string, client: ClientInfo): Promise<void> {
      const userId = await db.transaction(async (tx) => {
        const claimed = await oneTimeTokens.claim(sha256(token), 'verify_email', now(), tx)
        if (!claimed) throw new Errors.BadRequest('Invalid or expired token')
        await users.patch(claimed.userId, { emailVerified: true }, tx)
        await audit.record({ action: 'user.email_verified', actorId: claimed.userId, targetId: claimed.userId, ip: client.ip }, tx)
        return claimed.userId
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
          if (!user || !user.isActive) return
          const token = randomToken(32)
          await oneTimeTokens.replace(user.id, 'password_reset', sha256(token), new Date(now().getTime() + PASSWORD_RESET_TTL_MS))
          await audit.record({ action: 'user.password_reset_requested', actorId: user.id, targetId: user.id, ip: client.ip })
          await mailer.send({
            to: user.email,
            template: 'password-reset',
            data: { username: user.username, link: link('/reset-password', token), token, expires_minutes: PASSWORD_RESET_TTL_MS / 60_000 },
          })
        })().catch((error: unknown) => deps.onError(error, 'password reset email not queued'))
      })
    },

    async resetPassword(token: string, newPassword: string, client: ClientInfo): Promise<void> {
      const user = await db.transaction(async (tx) => {
        const claimed = await oneTimeTokens.claim(sha256(token), 'password_reset', now(), tx)
        if (!claimed) throw new Errors.BadRequest('Invalid or expired token')
        return deps.authService.resetPassword(claimed.userId, newPassword, client, tx)
      })
      await deps.invalidateUser(user.id)
      await mailer
        .send({ to: user.email, template: 'password-changed', data: { username: user.username } })
        .catch((error: unknown) => deps.onError(error, 'password changed notice not queued'))
    },
  }
}

export type AccountService = ReturnType<typeof createAccountService>
