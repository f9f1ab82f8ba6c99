import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import { keyedHash, randomDigits, randomToken, safeEqual, sha256 } from '../../lib/secrets.js'
import type { Mailer } from '../../mail/mailer.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { AttemptLimits } from '../auth/attempt-limits.js'
import type { ClientInfo, TokenPair, TwoFactorChallenge } from '../auth/auth-service.js'
import { normalizeEmail, type UsersRepository } from '../users/users-repository.js'
import type { EmailLoginRepository } from './email-login-repository.js'

export type EmailLoginMethod = 'email_link' | 'email_code'
/** A used link or code: whose it is and which of the two it was. */
export interface ClaimedEmailLogin {
  userId: number
  method: EmailLoginMethod
  /**
   * The account's token version and address the mail was accepted under: the proof that follows
   * checks them again under its lock (auth-service `proveAddress`), so a take-back or an address
   * change committing in between stops the sign-in too.
   */
  seen: { tokenVersion: number; email: string }
}

export const EMAIL_LOGIN_TTL_MS = 10 * 60 * 1000
export const EMAIL_LOGIN_MAX_ATTEMPTS = 5

export interface EmailLoginDeps {
  db: Db
  config: Config
  users: UsersRepository
  emailLogins: EmailLoginRepository
  audit: AuditRepository
  mailer: Mailer
  limits: AttemptLimits
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  completeLogin: (user: UserRow, client: ClientInfo, method: string) => Promise<TokenPair>
  startTwoFactor: (user: UserRow, client: ClientInfo, firstFactor: string) => Promise<TwoFactorChallenge>
  onError: (error: unknown, message: string) => void
}

/**
 * Sign-in with a mailed link or code. The request answers the same, at once, whoever asks: the lookup
 * and mail happen after the answer is decided. A link and a code go out together and stand for one
 * sign-in: single use, ten minutes, five wrong codes end it.
 */
export function createEmailLoginService(deps: EmailLoginDeps) {
  const { db, config, users, emailLogins, audit, mailer, limits, now } = deps
  // Codes have a million values: a keyed hash, bound to the account, keeps a leaked table from being reversed.
  // It is bound to the account's token version too: a code mailed before the owner took the account back
  // (signed out everywhere, reset or changed the password) no longer matches. And to the address it was
  // mailed to: once the account has another address (its owner's confirmed change, an administrator's),
  // a code read from the old mailbox matches nothing, whichever path changed the address.
  const hashCode = (userId: number, tokenVersion: number, email: string, code: string) =>
    keyedHash(config.secretKey, `email-login:${userId}:${tokenVersion}:${normalizeEmail(email)}:${code}`)
  // The link carries the token version and a keyed tag of the address it was mailed under (its hash is
  // what is stored, so neither can be edited); both are compared with the account as it is when it is used.
  const addressTag = (userId: number, email: string) => keyedHash(config.secretKey, `email-login-address:${userId}:${normalizeEmail(email)}`).slice(0, 16)
  const linkFor = (user: Pick<UserRow, 'id' | 'email' | 'tokenVersion'>) => `${randomToken(32)}.${user.tokenVersion}.${addressTag(user.id, user.email)}`
  const mailedUnder = (token: string) => {
    const match = /\.(\d{1,10})\.([0-9a-f]{16})$/.exec(token)
    return match ? { tokenVersion: Number(match[1]), tag: match[2]! } : undefined
  }

  function assertEnabled(): void {
    if (!config.emailLoginEnabled) throw new Errors.NotFound('Email sign-in is off on this server (EMAIL_LOGIN_ENABLED=false)')
  }

  async function send(email: string, client: ClientInfo): Promise<void> {
    const user = await users.findByEmail(email)
    if (!user?.isActive) return
    // Capped per recipient like every mail, silently: the answer must not tell.
    if ((await limits.takeMail(user.email)) !== undefined) return
    const token = linkFor(user)
    const code = randomDigits(6)
    await db.transaction(async (tx) => {
      await emailLogins.replace(user.id, { link: sha256(token), code: hashCode(user.id, user.tokenVersion, user.email, code) }, new Date(now().getTime() + EMAIL_LOGIN_TTL_MS), tx)
      await audit.record({ action: 'auth.email_login_requested', actorId: user.id, targetId: user.id, ip: client.ip }, tx)
    })
    await mailer.send({
      to: user.email,
      template: 'email-login',
      language: user.language,
      data: { username: user.username, link: `${config.publicUrl}/email-login?token=${encodeURIComponent(token)}`, code, expires_minutes: EMAIL_LOGIN_TTL_MS / 60_000 },
    })
  }

  /**
   * The account a used link or code belongs to, while it may sign in. `mailed` is what the link was sent
   * under: a mail older than the owner's taking the account back, or sent to an address the account no
   * longer has, is refused like an expired one.
   */
  async function claimed(userId: number, method: EmailLoginMethod, mailed?: { tokenVersion: number; tag: string }): Promise<ClaimedEmailLogin> {
    const user = await users.findById(userId)
    if (!user) throw new Errors.InvalidOrExpiredToken()
    if (mailed !== undefined && (mailed.tokenVersion !== user.tokenVersion || !safeEqual(mailed.tag, addressTag(user.id, user.email)))) {
      throw new Errors.InvalidOrExpiredToken()
    }
    if (!user.isActive) throw new Errors.InactiveUser()
    return { userId, method, seen: { tokenVersion: mailed?.tokenVersion ?? user.tokenVersion, email: user.email } }
  }

  return {
    async request(email: string, client: ClientInfo): Promise<void> {
      assertEnabled()
      if (mailer.mode === 'disabled') throw new Errors.ServiceUnavailable('email is not configured')
      setImmediate(() => {
        void send(email, client).catch((error: unknown) => deps.onError(error, 'email sign-in mail not queued'))
      })
    },

    /**
     * Uses up the mail of this link. What follows is the caller's (the route's): using a mail sent to
     * the address proves the address (auth-service `proveAddress`, which for an account not verified
     * yet ends every credential set up before), then `finish` opens the sign-in.
     */
    async claimLink(token: string): Promise<ClaimedEmailLogin> {
      assertEnabled()
      const userId = await db.transaction(async (tx) => {
        const claimed = await emailLogins.claim(sha256(token), now(), tx)
        if (claimed === undefined) throw new Errors.InvalidOrExpiredToken()
        // The code of the same mail dies with the link.
        await emailLogins.removeAll(claimed, tx)
        return claimed
      })
      // A link without a version and address tag (or with others) is refused: it matches no mail of the account as it is now.
      return claimed(userId, 'email_link', mailedUnder(token) ?? { tokenVersion: -1, tag: '' })
    },

    /** Uses up the mail of this address and code (wrong codes counted per mail and per address); see `claimLink`. */
    async claimCode(email: string, code: string, client: ClientInfo): Promise<ClaimedEmailLogin> {
      assertEnabled()
      const reservation = await limits.reserveEmailCode(email)
      const user = await users.findByEmail(email)
      const invalid = () => new Errors.InvalidCode('Invalid or expired sign-in code; ask for a new email')
      if (!user) {
        // The same work as for a known address, so timing does not tell which exist.
        safeEqual(hashCode(0, 0, email, code), hashCode(0, 0, email, '000000'))
        throw invalid()
      }
      const attempts = await emailLogins.takeAttempt(user.id, EMAIL_LOGIN_MAX_ATTEMPTS, now())
      if (attempts === undefined) throw invalid()
      const userId = /^\d{6}$/.test(code.trim())
        ? await db.transaction(async (tx) => {
            // Hashed with the version and address the account has now: a code mailed before either changed does not match.
            const claimed = await emailLogins.claim(hashCode(user.id, user.tokenVersion, user.email, code.trim()), now(), tx)
            if (claimed !== undefined) await emailLogins.removeAll(claimed, tx)
            return claimed
          })
        : undefined
      if (userId === undefined) {
        if (attempts >= EMAIL_LOGIN_MAX_ATTEMPTS) await emailLogins.removeAll(user.id)
        await audit.record({ action: 'auth.email_login_failed', actorId: user.id, targetId: user.id, ip: client.ip, details: { attempts } })
        // The same answer at the last try as at the others: an unknown address has no mail whose tries
        // could run out, so a different one would tell which addresses are registered.
        throw invalid()
      }
      await reservation.succeeded()
      // The code matched the version and address read above: those are what the proof checks again.
      const used = await claimed(userId, 'email_code')
      return { ...used, seen: { tokenVersion: user.tokenVersion, email: user.email } }
    },

    /** The sign-in a used link or code opens, once the address is proven: the 2FA step when 2FA is on, else the tokens. */
    async finish(user: UserRow, method: EmailLoginMethod, client: ClientInfo): Promise<TokenPair | TwoFactorChallenge> {
      if (!user.isActive) throw new Errors.InactiveUser()
      if (!user.emailVerified) throw new Errors.InvalidOrExpiredToken()
      if (user.twoFaEnabled) return deps.startTwoFactor(user, client, method)
      return deps.completeLogin(user, client, method)
    },
  }
}

export type EmailLoginService = ReturnType<typeof createEmailLoginService>
