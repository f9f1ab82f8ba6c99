import { randomUUID } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import type { Config } from '../../config/config.js'

export interface AccessClaims {
  sub: string
  /** The user's token version when issued; a bump revokes the token. */
  ver: number
  /** Session (refresh-token family) the token belongs to. */
  sid: string
  typ: 'access'
  jti: string
  iat: number
  exp: number
  /** When the session last proved who it is (RFC 9068 / OIDC `auth_time`); refreshes keep it. */
  auth_time: number
  nbf?: number
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/**
 * Signs and verifies access tokens. The verifier pins the configured algorithm, so `alg: none` and
 * algorithm-confusion tokens fail; fast-jwt's cache skips re-verifying a token seen moments ago.
 */
export function createAccessTokens(config: Config, now: () => Date) {
  // JWT times are whole seconds (RFC 7519 NumericDate), so a fractional setting is rounded, to at least 1 s.
  const ttlSeconds = Math.max(1, Math.round(config.accessTokenExpireMinutes * 60))
  const sign = createSigner({ key: config.secretKey, algorithm: config.algorithm })
  const verify = createVerifier({
    key: config.secretKey,
    algorithms: [config.algorithm],
    requiredClaims: ['sub', 'exp', 'iat', 'typ', 'ver', 'sid', 'auth_time'],
    // Expiry is checked below against the app's clock (tests move it), not fast-jwt's own.
    ignoreExpiration: true,
    cache: 10_000,
    cacheTTL: 60_000,
  })

  return {
    ttlSeconds,
    /** Seconds an access token issued now lives: the configured lifetime, cut at the session's end. */
    lifetime(notAfter?: Date): number {
      if (!notAfter) return ttlSeconds
      return Math.max(0, Math.min(ttlSeconds, Math.floor(notAfter.getTime() / 1000) - Math.floor(now().getTime() / 1000)))
    },
    /** An access token of a session; it never outlives the session's absolute end (`notAfter`). */
    issue(user: { id: number; tokenVersion: number }, sessionId: string, authTime: Date, notAfter?: Date): string {
      const iat = Math.floor(now().getTime() / 1000)
      const auth_time = Math.floor(authTime.getTime() / 1000)
      const exp = Math.min(iat + ttlSeconds, notAfter ? Math.floor(notAfter.getTime() / 1000) : Number.MAX_SAFE_INTEGER)
      return sign({ sub: String(user.id), ver: user.tokenVersion, sid: sessionId, typ: 'access', jti: randomUUID(), iat, exp, auth_time })
    },
    /** Returns the claims, or undefined for anything that is not a valid, unexpired access token. */
    verify(token: string): AccessClaims | undefined {
      try {
        const claims = verify(token) as AccessClaims
        // A signed token with `"exp": "soon"` is still malformed: every time claim must be a number (RFC 7519 NumericDate).
        if (!isNumericDate(claims.exp) || !isNumericDate(claims.iat) || !isNumericDate(claims.auth_time)) return undefined
        if (claims.nbf !== undefined && (!isNumericDate(claims.nbf) || claims.nbf * 1000 > now().getTime())) return undefined
        if (typeof claims.ver !== 'number' || typeof claims.sid !== 'string') return undefined
        if (claims.exp * 1000 <= now().getTime()) return undefined
        return claims.typ === 'access' && /^\d+$/.test(claims.sub) ? claims : undefined
      } catch {
        return undefined
      }
    },
  }
}

export type AccessTokens = ReturnType<typeof createAccessTokens>
