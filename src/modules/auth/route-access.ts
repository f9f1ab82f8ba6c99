import type { Permission } from './permissions.js'
import type { ApiKeyScope } from './principal.js'

/**
 * Who may call a route, declared once in its options (`config: { access: 'session', fresh: true }`).
 * The auth plugin reads it to attach the guards and to write the route's OpenAPI security and error
 * answers, so the rule that runs and the rule that is documented cannot drift apart.
 *
 * - `public`: anyone.
 * - `session`: a signed-in user with an access token; API keys are refused (403).
 * - `session-or-key`: an access token or an API key.
 * - `handshake`: a WebSocket route that authenticates its own handshake (token in the query string).
 */
export type Access = 'public' | 'session' | 'session-or-key' | 'handshake'

export interface RouteAccess {
  access: Access
  /** A permission of the caller's role (docs/ROLES.md). */
  permission?: Permission
  /** Needs a recent proof of identity (docs/SECURITY.md#fresh-proof); implies `session`. */
  fresh?: boolean
  /** API-key scope needed; defaults to `write` for unsafe methods and `read` otherwise. */
  scope?: ApiKeyScope
  /** Name of the per-address limit guarding this route (429 documented and enforced). */
  limit?: string
}

declare module 'fastify' {
  interface FastifyContextConfig extends Partial<RouteAccess> {}
}

export const ACCESS_KINDS: readonly Access[] = ['public', 'session', 'session-or-key', 'handshake']

/** OpenAPI security requirements for each kind of access. */
export function securityOf(access: Access): { [scheme: string]: string[] }[] {
  switch (access) {
    case 'session':
      return [{ bearerAuth: [] }]
    case 'session-or-key':
      return [{ bearerAuth: [] }, { apiKeyAuth: [] }]
    default:
      return []
  }
}
