import type { Config } from '../../config/config.js'
import { tooManyRequests } from '../../lib/errors.js'
import { sha256 } from '../../lib/secrets.js'

/** Fixed-window counters shared by every instance (Redis), with a per-process fallback. */
export interface Counters {
  /** Adds one and returns the new count and the seconds left in its window. */
  hit(key: string, windowSeconds: number): Promise<{ count: number; ttl: number }>
  /** Takes one back (an attempt that turned out not to be a failure). */
  release(key: string): Promise<void>
  peek(key: string): Promise<{ count: number; ttl: number }>
}

/** An attempt counted before it is checked; `succeeded()` gives the count back. */
export interface Reservation {
  succeeded(): Promise<void>
}

const NO_RESERVATION: Reservation = { succeeded: async () => {} }

export const PASSWORD_WINDOW_SECONDS = 15 * 60
export const SECOND_FACTOR_WINDOW_SECONDS = 15 * 60
export const MAIL_WINDOW_SECONDS = 10 * 60
const mailKey = (address: string) => `rl:mail:${sha256(address.trim().toLowerCase())}`

/**
 * The limits that protect an account's secrets. Each attempt is counted *before* its secret is
 * checked (reserve, then check, then give back on success): parallel guesses all see each other's
 * counts, so of N racing wrong passwords at most the limit are ever compared.
 */
export function createAttemptLimits(counters: Counters, config: Config, hooks: { onSecondFactorLocked: (userId: number) => Promise<void> }) {
  const enabled = config.rateLimitEnabled

  async function reserve(key: string, limit: number, windowSeconds: number): Promise<{ ok: boolean; ttl: number }> {
    const { count, ttl } = await counters.hit(key, windowSeconds)
    if (count <= limit) return { ok: true, ttl }
    // A refused attempt checks nothing, so it must not count against the account either.
    await counters.release(key)
    return { ok: false, ttl: ttl > 0 ? ttl : windowSeconds }
  }

  return {
    /**
     * One password check for an account (login, or a password given to confirm a sensitive action).
     * One address is stopped after `loginRateLimitPerAccountAddress` failures; the whole account only
     * after `loginRateLimitPerAccount`, which needs several addresses: one attacker cannot lock the
     * owner out everywhere.
     */
    async reservePassword(account: string, ip: string): Promise<Reservation> {
      if (!enabled) return NO_RESERVATION
      const addressKey = `rl:pw:${account}:${ip}`
      const accountKey = `rl:pw:${account}`
      const fromAddress = await reserve(addressKey, config.loginRateLimitPerAccountAddress, PASSWORD_WINDOW_SECONDS)
      if (!fromAddress.ok) {
        throw tooManyRequests('Too many failed sign-ins for this account from your address; try again later', fromAddress.ttl, 'login_account_address')
      }
      const overall = await reserve(accountKey, config.loginRateLimitPerAccount, PASSWORD_WINDOW_SECONDS)
      if (!overall.ok) {
        await counters.release(addressKey)
        throw tooManyRequests('Too many failed sign-ins for this account; try again later', overall.ttl, 'login_account')
      }
      return {
        succeeded: async () => {
          await counters.release(addressKey)
          await counters.release(accountKey)
        },
      }
    },

    /** One second-factor code for an account, whichever challenge or endpoint it came through. */
    async reserveSecondFactor(userId: number): Promise<Reservation> {
      if (!enabled) return NO_RESERVATION
      const key = `rl:2fa:${userId}`
      const result = await reserve(key, config.twoFaFailuresPerAccount, SECOND_FACTOR_WINDOW_SECONDS)
      if (!result.ok) {
        await hooks.onSecondFactorLocked(userId)
        throw tooManyRequests('Too many wrong codes for this account; try again later', result.ttl, 'two_fa_account')
      }
      return { succeeded: () => counters.release(key) }
    },

    /**
     * One emailed sign-in code for an address, across every mail sent to it: each new mail starts its own
     * five tries, so without this cap a guesser would get five more per mail. Keyed by the address as
     * typed, so an unknown address is limited the same way and the 429 tells nothing.
     */
    async reserveEmailCode(address: string): Promise<Reservation> {
      if (!enabled) return NO_RESERVATION
      const key = `rl:email-code:${sha256(address.trim().toLowerCase())}`
      const result = await reserve(key, config.twoFaFailuresPerAccount, SECOND_FACTOR_WINDOW_SECONDS)
      if (!result.ok) throw tooManyRequests('Too many wrong sign-in codes for this address; try again later', result.ttl, 'email_code_account')
      return { succeeded: () => counters.release(key) }
    },

    /** Whether this lock of the account's second factor is the first in its window (to mail the owner once). */
    async firstSecondFactorLock(userId: number): Promise<boolean> {
      const { count } = await counters.hit(`rl:2fa-locked:${userId}`, SECOND_FACTOR_WINDOW_SECONDS)
      return count === 1
    },

    /**
     * One mail to an address. Mail is the one thing an attacker can aim at a stranger, so the cap is
     * on the recipient, whoever asks. Undefined when allowed, else the seconds to wait.
     */
    async takeMail(address: string): Promise<number | undefined> {
      if (!enabled) return undefined
      const result = await reserve(mailKey(address), config.mailRateLimitPerRecipient, MAIL_WINDOW_SECONDS)
      return result.ok ? undefined : result.ttl
    },

    /**
     * One security notice ("something changed on your account") of one kind to an address. The first of
     * its kind in the window always goes: anyone can fill an address's mail cap (forgot-password asks for
     * nothing else), and that must not silence the news that a key, passkey or provider account was added.
     * It still counts in the cap, and further ones of the kind must fit in it, so a flood of notices is no
     * mail bomb: at most the cap, plus one of each kind, per window. Undefined when allowed, else the
     * seconds to wait.
     */
    async takeNotice(address: string, kind: string): Promise<number | undefined> {
      if (!enabled) return undefined
      const { count } = await counters.hit(`rl:notice:${kind}:${sha256(address.trim().toLowerCase())}`, MAIL_WINDOW_SECONDS)
      if (count > 1) return this.takeMail(address)
      await counters.hit(mailKey(address), MAIL_WINDOW_SECONDS)
      return undefined
    },

    /** Like takeMail, for mails the caller asked for: refuses with 429 over the cap. */
    async assertMailAllowed(address: string): Promise<void> {
      const wait = await this.takeMail(address)
      if (wait !== undefined) throw tooManyRequests('Too many emails to this address; try again later', wait, 'mail_recipient')
    },
  }
}

export type AttemptLimits = ReturnType<typeof createAttemptLimits>

/** The key of an account for password limits: its id when it exists, the typed name otherwise. */
export function accountKeyOf(user: { id: number } | undefined, identifier: string): string {
  return user ? `id:${user.id}` : `name:${sha256(identifier.trim().toLowerCase())}`
}
