import { randomBytes } from 'node:crypto'
import type { Cache } from '../../cache/cache.js'

/** What a WebAuthn challenge was issued for; a response is only accepted for the same purpose. */
export type ChallengePurpose = 'register' | 'login' | 'second_factor' | 'reauthenticate'

export interface StoredChallenge {
  purpose: ChallengePurpose
  /** The user it was issued to (registration, re-authentication, 2FA, or a sign-in that named the account). */
  userId?: number
  /** For a second factor: the hash of the 2FA challenge token it belongs to. */
  twoFaTokenHash?: string
  /** Milliseconds since epoch, by the app's clock. */
  issuedAt: number
}

export const CHALLENGE_TTL_SECONDS = 5 * 60

/**
 * WebAuthn challenges in the shared cache (Redis with several instances, in-process otherwise), so the
 * instance that checks a response need not be the one that issued its challenge. Single use: `take`
 * claims the challenge with an atomic increment before reading it, so of two requests racing with
 * one response exactly one gets it.
 */
export function createChallengeStore(cache: Cache, now: () => Date) {
  const key = (challenge: string) => `webauthn:challenge:${challenge}`

  return {
    /** A new random challenge (base64url, 32 bytes), stored for 5 minutes. */
    async issue(entry: Omit<StoredChallenge, 'issuedAt'>): Promise<string> {
      const challenge = randomBytes(32).toString('base64url')
      await cache.set(key(challenge), { ...entry, issuedAt: now().getTime() } satisfies StoredChallenge, CHALLENGE_TTL_SECONDS)
      return challenge
    },

    /** The challenge's entry, once: undefined when unknown, expired or already taken. */
    async take(challenge: string): Promise<StoredChallenge | undefined> {
      if (!/^[A-Za-z0-9_-]{16,128}$/.test(challenge)) return undefined
      const claimed = await cache.increment(`${key(challenge)}:taken`, CHALLENGE_TTL_SECONDS)
      if (claimed !== 1) return undefined
      const entry = await cache.get<StoredChallenge>(key(challenge))
      await cache.delete(key(challenge))
      // The cache's expiry runs on the wall clock; this one on the app's, which tests move.
      if (!entry || now().getTime() - entry.issuedAt > CHALLENGE_TTL_SECONDS * 1000) return undefined
      return entry
    },
  }
}

export type ChallengeStore = ReturnType<typeof createChallengeStore>
