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
}

/**
 * Signs and verifies access tokens. The verifier pins the configured algorithm, so `alg: none` and
 * algorithm-confusion tokens fail; fast-jwt's cache skips re-verifying a token seen moments ago.
 */
export function createAccessTokens(config: Config, now: () => Date) {
  const ttlSeconds = config.accessTokenExpireMinutes * 60
  const sign = createSigner({ key: config.secretKey, algorithm: config.algorithm })
  const verify = createVerifier({
    key: config.secretKey,
    algorithms: [config.algorithm],
    requiredClaims: ['sub', 'exp', 'typ', 'ver', 'sid'],
    // Expiry is checked below against the app's clock (tests move it), not fast-jwt's own.
    ignoreExpiration: true,
    cache: 10_000,
    cacheTTL: 60_000,
  })

  return {
    ttlSeconds,
    issue(user: { id: number; tokenVersion: number }, sessionId: string): string {
      const iat = Math.floor(now().getTime() / 1000)
      return sign({ sub: String(user.id), ver: user.tokenVersion, sid: sessionId, typ: 'access', jti: randomUUID(), iat, exp: iat + ttlSeconds })
    },
    /** Returns the claims, or undefined for anything that is not a valid, unexpired access token. */
    verify(token: string): AccessClaims | undefined {
      try {
        const claims = verify(token) as AccessClaims
        if (claims.exp * 1000 <= now().getTime()) return undefined
        return claims.typ === 'access' && /^\d+$/.test(claims.sub) ? claims : undefined
      } catch {
        return undefined
      }
    },
  }
}

export type AccessTokens = ReturnType<typeof createAccessTokens>
