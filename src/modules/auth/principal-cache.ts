import type { Principal } from './principal.js'

export interface PrincipalCache {
  get(userId: number): Principal | undefined
  /** Stores a principal loaded at `loadStartedAt` (an `epoch()` value), unless it was invalidated since. */
  set(userId: number, principal: Principal, loadStartedAt: number): void
  delete(userId: number): void
  clear(): void
  /** A counter bumped by every delete: a load that began before a delete must not store what it read. */
  epoch(): number
  readonly size: number
}

/**
 * The principals this instance used in the last moments, in front of the shared cache, so an
 * authenticated request costs no Redis round trip (GET /users/me with a JWT is pure CPU).
 *
 * Staleness is bounded twice: every instance drops a user's entry as soon as any instance invalidates
 * that user (the auth plugin relays invalidations over the cache's pub/sub), and an entry lives at most
 * `ttlMs` anyway, so a lost message (a Redis outage) delays a revocation by that much, never longer.
 * Entries are frozen: one object is shared by every request of that user.
 */
export function createPrincipalCache(options: { ttlMs: number; maxEntries: number; now?: () => number }): PrincipalCache {
  const now = options.now ?? Date.now
  const entries = new Map<number, { principal: Principal; expiresAt: number }>()
  let epoch = 0

  return {
    get(userId) {
      const entry = entries.get(userId)
      if (!entry) return undefined
      if (entry.expiresAt <= now()) {
        entries.delete(userId)
        return undefined
      }
      return entry.principal
    },
    set(userId, principal, loadStartedAt) {
      if (loadStartedAt !== epoch) return
      // Map keeps insertion order: dropping the first key drops the oldest entry.
      if (entries.size >= options.maxEntries && !entries.has(userId)) entries.delete(entries.keys().next().value as number)
      if (principal.endedSessions) Object.freeze(principal.endedSessions)
      entries.set(userId, { principal: Object.freeze(principal), expiresAt: now() + options.ttlMs })
    },
    delete(userId) {
      epoch += 1
      entries.delete(userId)
    },
    clear() {
      epoch += 1
      entries.clear()
    },
    epoch: () => epoch,
    get size() {
      return entries.size
    },
  }
}
