import type { UserRow } from '../../db/schema.js'

/** The user as authentication sees it: the row without secret columns, safe to keep in a cache. */
export type Principal = Omit<UserRow, 'passwordHash' | 'totpSecret' | 'totpPendingSecret' | 'totpLastStep'> & {
  /** Sessions of the user that ended within an access token's lifetime: their tokens are refused. */
  endedSessions?: readonly string[]
}

export type ApiKeyScope = 'read' | 'write'

export interface AuthContext {
  method: 'jwt' | 'api_key'
  /** Refresh-token family of the session (JWT only). */
  sessionId?: string
  /** Access token expiry in seconds since epoch (JWT only). */
  expiresAt?: number
  /** When the session last proved who it is (password, 2FA code), seconds since epoch (JWT only). */
  authTime?: number
  apiKeyId?: number
  scopes: readonly ApiKeyScope[]
}

export function toPrincipal(row: UserRow): Principal {
  const { passwordHash: _p, totpSecret: _t, totpPendingSecret: _s, totpLastStep: _l, ...principal } = row
  return principal
}
