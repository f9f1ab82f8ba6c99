import type { Cache } from '../../cache/cache.js'
import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { UserIdentityRow, UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import { maskEmail } from '../../lib/mask.js'
import { hashPassword } from '../../lib/passwords.js'
import { randomToken, safeEqual, sha256 } from '../../lib/secrets.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import { createAccountLocks } from '../auth/account-locks.js'
import type { ClientInfo, TokenPair, TwoFactorChallenge } from '../auth/auth-service.js'
import type { UsersRepository } from '../users/users-repository.js'
import type { IdentitiesRepository } from './identities-repository.js'
import { createProviderClient, ProviderFailure, type ProviderClient, type ProviderProfile } from './oauth-providers.js'

/** State, nonce and PKCE verifier, and the one-time exchange code: single use, ten minutes. */
export const OAUTH_TTL_SECONDS = 600
export const CALLBACK_PAGE = '/oauth/callback'

interface PendingAuthorization {
  provider: string
  nonce: string
  codeVerifier: string
  redirectTo: string
  /** Set when a signed-in user links another provider: the callback links to this user, never signs in. */
  linkUserId?: number
  /** The token version the starting request authenticated with: taking the account back since ends the link. */
  linkTokenVersion?: number
  /** The session that started the link: signing that session out ends the link, as it ends its API keys. */
  linkSessionId?: string
  /** SHA-256 of the browser binding cookie: the callback must come from the browser that started. */
  binding: string
}

interface PendingExchange {
  userId: number
  provider: string
  /** The provider asserted MFA and OAUTH_TRUST_PROVIDER_MFA is on: the account's own 2FA is not asked. */
  mfaTrusted: boolean
  /** The account's token version when the code was made: signing out everywhere or a new password since ends it. */
  tokenVersion: number
  /**
   * The starting browser's binding (SHA-256), checked again at the exchange: a code copied out of
   * someone's own sign-in and sent to a victim must not sign the victim into that account.
   */
  binding: string
}

/** Where the browser goes after the provider's redirect back, and the account a provider was linked to just now. */
export interface CallbackOutcome {
  location: string
  linked?: { userId: number; provider: string }
}

export interface OAuthServiceDeps {
  db: Db
  config: Config
  cache: Cache
  users: UsersRepository
  identities: IdentitiesRepository
  audit: AuditRepository
  invalidateUser: (userId: number) => Promise<void>
  /** Opens the session of a completed sign-in (auth service). */
  completeLogin: (user: UserRow, client: ClientInfo, method: string) => Promise<TokenPair>
  /** Starts the 2FA step, remembering how the first step was proven (two-factor service). */
  startTwoFactor: (user: UserRow, client: ClientInfo, firstFactor: string) => Promise<TwoFactorChallenge>
  log: { info: (data: object, message: string) => void; warn: (data: object, message: string) => void }
  now: () => Date
}

/** Who starts linking a provider: the signed-in user, their session, and the token version it carries. */
export interface LinkStarter {
  userId: number
  sessionId: string
  tokenVersion: number
}

/**
 * A path inside this app, or undefined. Anything that could leave the origin is refused: absolute and
 * scheme-relative URLs (`//evil.example`), backslashes browsers read as slashes, control characters.
 */
export function safeRedirectPath(value: string): string | undefined {
  if (value.length > 512 || !value.startsWith('/') || value.startsWith('//')) return undefined
  if ([...value].some((char) => char === '\\' || char.trim() === '' || char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) return undefined
  const base = 'http://app.invalid'
  try {
    const url = new URL(value, base)
    // Dot segments can fold into a scheme-relative path (`/..//evil.example` becomes `//evil.example`).
    if (url.origin !== base || url.pathname.startsWith('//')) return undefined
    return `${url.pathname}${url.search}`
  } catch {
    return undefined
  }
}

const USERNAME_MAX = 50

/** A username made from the provider's profile, in the characters usernames allow. */
function usernameBase(profile: ProviderProfile, provider: string): string {
  const candidates = [profile.nickname, profile.name?.replace(/\s+/g, '.'), profile.email?.split('@')[0]]
  for (const candidate of candidates) {
    const cleaned = (candidate ?? '').replace(/[^A-Za-z0-9_.-]/g, '').slice(0, USERNAME_MAX - 6)
    if (cleaned.length >= 3) return cleaned
  }
  return `${provider.replace(/[^A-Za-z0-9_.-]/g, '')}_user`.slice(0, USERNAME_MAX - 6)
}

function isUniqueViolation(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 3 && current; depth += 1) {
    if ((current as { code?: string }).code === '23505') return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** The reason to audit and the sentence to show for a failed code exchange, from openid-client's error. */
function describeFailure(error: unknown): { reason: string; message: string; details: Record<string, unknown> } {
  if (error instanceof ProviderFailure) return { reason: error.reason, message: error.message, details: error.details }
  const failure = error as { code?: unknown; error?: unknown; cause?: unknown }
  const details: Record<string, unknown> = { code: typeof failure.code === 'string' ? failure.code : 'exchange_failed' }
  if (typeof failure.error === 'string') details.error = failure.error
  // openid-client wraps oauth4webapi's error, whose own cause names the claim that failed (nonce, aud, exp...).
  let cause = failure.cause as { code?: unknown; claim?: unknown; cause?: unknown } | undefined
  for (let depth = 0; depth < 3 && cause && typeof cause === 'object'; depth += 1) {
    if (typeof cause.claim === 'string') details.claim ??= cause.claim
    if (typeof cause.code === 'string' && cause.code !== details.code) details.cause ??= cause.code
    cause = cause.cause as typeof cause
  }
  if (typeof failure.error === 'string') return { reason: 'provider_refused', message: 'The provider refused the sign-in (the code may have expired); try again', details }
  return { reason: 'invalid_response', message: "The provider's answer could not be verified; try again", details }
}

/**
 * Sign-in with OpenID Connect providers and GitHub: the authorization request, the callback that
 * finds, links or creates the account, and the one-time code that hands the session to the console.
 */
export function createOAuthService(deps: OAuthServiceDeps) {
  const { db, config, cache, users, identities, audit } = deps
  const settings = config.oauth
  const clients = new Map<string, ProviderClient>()
  const locks = createAccountLocks(db)
  for (const provider of settings.providers) {
    clients.set(
      provider.name,
      createProviderClient(provider, {
        redirectUri: `${config.publicUrl}/api/v1/auth/oauth/${provider.name}/callback`,
        userAgent: config.projectName,
        onDiscovered: (name) => deps.log.info({ provider: name }, 'sign-in provider discovered'),
        onDiscoveryFailed: (name, error, retryInMs) =>
          deps.log.warn({ provider: name, err: { message: (error as Error).message }, retry_in_ms: retryInMs }, 'sign-in provider discovery failed; retrying'),
      }),
    )
  }

  const stateKey = (state: string) => `oauth:state:${sha256(state)}`
  const exchangeKey = (code: string) => `oauth:exchange:${sha256(code)}`

  /**
   * Reads and removes a value exactly once, across instances: the first increment of the claim
   * counter wins, so two requests racing with one state (or code) cannot both get it.
   */
  async function take<T>(key: string): Promise<T | undefined> {
    if ((await cache.increment(`${key}:claimed`, OAUTH_TTL_SECONDS)) !== 1) return undefined
    const value = await cache.get<T>(key)
    await cache.delete(key)
    return value
  }

  function requireClient(name: string): ProviderClient {
    const client = clients.get(name)
    if (!client) throw new Errors.NotFound(`No sign-in provider named "${name}"`)
    return client
  }

  async function fail(provider: string, reason: string, message: string, client: ClientInfo, extra: { userId?: number; details?: Record<string, unknown> } = {}) {
    await audit.record({ action: 'auth.oauth_failed', actorId: extra.userId ?? null, targetId: extra.userId ?? null, ip: client.ip, details: { provider, reason, ...extra.details } })
    return `${CALLBACK_PAGE}?${new URLSearchParams({ error: message, provider })}`
  }

  async function createAccount(profile: ProviderProfile, provider: string, email: string, client: ClientInfo): Promise<UserRow> {
    const base = usernameBase(profile, provider)
    // No password matches a hash of random bytes; the user may set one through "forgot password".
    const passwordHash = await hashPassword(randomToken(32), config.bcryptRounds)
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const username = attempt === 0 ? base : `${base}_${randomToken(3).replace(/[^A-Za-z0-9]/g, '').slice(0, 4) || attempt}`
      const taken = await users.findTaken(username, undefined)
      if (taken.username) continue
      try {
        return await db.transaction(async (tx) => {
          const user = await users.insert({ username, email, passwordHash, hasPassword: false, emailVerified: profile.emailVerified, firstName: null }, tx)
          const identity = await identities.insert({ userId: user.id, provider, subject: profile.subject, email }, tx)
          if (!identity) throw new ProviderFailure('identity_linked', 'This account is already linked; sign in again')
          await audit.record({ action: 'user.register', actorId: user.id, targetId: user.id, ip: client.ip, details: { method: `oauth:${provider}` } }, tx)
          return user
        })
      } catch (error) {
        if (!isUniqueViolation(error)) throw error
        // The address was taken meanwhile: do not retry under another username.
        if ((await users.findTaken(undefined, email)).email) throw new ProviderFailure('email_in_use', 'An account already uses this email address')
      }
    }
    throw new ProviderFailure('username_unavailable', 'No free username could be found; register with a password instead')
  }

  /**
   * The account a sign-in leads to: the linked one, one linked now by email (`linkedNow`), or a new one.
   */
  async function resolveAccount(provider: string, label: string, profile: ProviderProfile, client: ClientInfo): Promise<{ user: UserRow; linkedNow: boolean }> {
    const linked = await identities.find(provider, profile.subject)
    if (linked) {
      await identities.touch(linked.id, profile.email ?? linked.email)
      const user = await users.findById(linked.userId)
      if (!user) throw new ProviderFailure('account_gone', 'The linked account no longer exists')
      return { user, linkedNow: false }
    }
    if (!profile.email) throw new ProviderFailure('no_email', `${label} did not share an email address; allow it, or register with a password`)
    const existing = await users.findByEmail(profile.email)
    if (existing) {
      // Only an address both sides verified proves the same person: otherwise someone could register a
      // victim's address first and be handed the victim's provider sign-in later.
      if (!settings.linkByEmail || !profile.emailVerified || !existing.emailVerified) {
        throw new ProviderFailure(
          'email_in_use',
          `An account already uses this email address. Sign in to it, then link ${label} on the Security page.`,
          { email_verified: profile.emailVerified },
        )
      }
      const identity = await db.transaction(async (tx) => {
        // Taken back since the address was looked up (see account-locks): answered like an expired sign-in.
        if (!(await locks.userAt(existing.id, existing.tokenVersion, tx))) {
          throw new ProviderFailure('invalid_state', `The sign-in with ${label} expired or was already used; start again`)
        }
        const row = await identities.insert({ userId: existing.id, provider, subject: profile.subject, email: profile.email ?? null }, tx)
        if (row) await audit.record({ action: 'user.identity_linked', actorId: existing.id, targetId: existing.id, ip: client.ip, details: { provider, by: 'email' } }, tx)
        return row
      })
      if (!identity) throw new ProviderFailure('identity_linked', 'This account is already linked; sign in again')
      return { user: existing, linkedNow: true }
    }
    if (!settings.allowSignup) throw new ProviderFailure('signup_closed', `There is no account for this ${label} sign-in, and new accounts cannot be created this way`)
    return { user: await createAccount(profile, provider, profile.email, client), linkedNow: false }
  }

  async function linkTo(
    userId: number,
    tokenVersion: number | undefined,
    sessionId: string | undefined,
    provider: string,
    label: string,
    profile: ProviderProfile,
    client: ClientInfo,
  ): Promise<'linked' | 'already'> {
    const user = await users.findById(userId)
    if (!user?.isActive) throw new ProviderFailure('account_gone', 'Your account is not available; sign in again')
    // Started before the owner signed out everywhere or changed the password (perhaps by whoever they
    // were taking the account back from): answered like an expired link.
    if (user.tokenVersion !== tokenVersion) throw new ProviderFailure('invalid_state', `The link with ${label} expired or was already used; start again`)
    const existing = await identities.find(provider, profile.subject)
    if (existing) {
      if (existing.userId === userId) return 'already'
      throw new ProviderFailure('identity_linked_elsewhere', `This ${label} account is already linked to another account`)
    }
    const row = await db.transaction(async (tx) => {
      // Checked again under the user's row lock: a take-back committing since the check above must not be
      // followed by the link (see account-locks).
      if (!(await locks.userAt(userId, tokenVersion, tx))) throw new ProviderFailure('invalid_state', `The link with ${label} expired or was already used; start again`)
      // The starting session signed out (as stolen, say) since: its link dies with it, like its API keys.
      if (sessionId === undefined || !(await locks.liveSession(sessionId, userId, deps.now(), tx))) {
        throw new ProviderFailure('invalid_state', `The link with ${label} expired or was already used; start again`)
      }
      const inserted = await identities.insert({ userId, provider, subject: profile.subject, email: profile.email ?? null }, tx)
      if (inserted) {
        await audit.record(
          { action: 'user.identity_linked', actorId: userId, targetId: userId, ip: client.ip, details: { provider, email: profile.email ? maskEmail(profile.email) : null } },
          tx,
        )
      }
      return inserted
    })
    if (!row) throw new ProviderFailure('identity_linked_elsewhere', `This ${label} account is already linked to another account`)
    return 'linked'
  }

  return {
    /** Resolves once every provider's client is loaded (GitHub's ready); OIDC discovery goes on in the background. */
    async start(): Promise<void> {
      await Promise.all([...clients.values()].map((client) => client.start()))
    },

    stop(): void {
      for (const client of clients.values()) client.stop()
    },

    providers(): { name: string; label: string }[] {
      return settings.providers.map(({ name, label }) => ({ name, label }))
    },

    /** The provider's authorization URL, with state, nonce and PKCE kept server-side for the callback. */
    /**
     * `binding` is the value of a cookie the route sets on the starting browser. Without it, someone
     * could start a sign-in to their own provider account and have a victim's browser finish it
     * (login CSRF), signing the victim in as them.
     */
    async authorize(name: string, redirectTo: string, binding: string, link?: LinkStarter): Promise<string> {
      const client = requireClient(name)
      const checks = await client.newChecks()
      const { state } = checks
      const url = client.authorizationUrl(checks)
      if (!url) throw new Errors.ServiceUnavailable(`Sign-in with ${client.settings.label} is not available yet: its provider could not be reached; try again shortly`)
      const pending: PendingAuthorization = {
        provider: name,
        nonce: checks.nonce,
        codeVerifier: checks.codeVerifier,
        redirectTo,
        binding: sha256(binding),
        ...(link ? { linkUserId: link.userId, linkTokenVersion: link.tokenVersion, linkSessionId: link.sessionId } : {}),
      }
      await cache.set(stateKey(state), pending, OAUTH_TTL_SECONDS)
      return url.href
    },

    /**
     * Handles the provider's redirect and answers where the browser goes next (`location`): the console's
     * callback page with a one-time code, a "linked" notice, or a readable error. Every failure is audited.
     * `linked` names the account a provider account was linked to just now (on the Security page, or by
     * email at a sign-in), whose owner is to be told.
     */
    async callback(name: string, query: Record<string, string | undefined>, rawQuery: string, binding: string | undefined, client: ClientInfo): Promise<CallbackOutcome> {
      const provider = requireClient(name)
      const label = provider.settings.label
      const state = query.state
      const pending = state ? await take<PendingAuthorization>(stateKey(state)) : undefined
      const failed = async (...args: Parameters<typeof fail>) => ({ location: await fail(...args) })
      if (!pending || pending.provider !== name) {
        return failed(name, 'invalid_state', `The sign-in with ${label} expired or was already used; start again`, client)
      }
      if (!binding || !safeEqual(sha256(binding), pending.binding)) {
        return failed(name, 'browser_mismatch', `This sign-in with ${label} was started in another browser; start again here`, client, { userId: pending.linkUserId })
      }
      if (query.error) {
        const denied = query.error === 'access_denied'
        return failed(name, denied ? 'access_denied' : 'provider_error', denied ? `Sign-in with ${label} was cancelled` : `${label} could not sign you in (${query.error.slice(0, 64)})`, client, {
          userId: pending.linkUserId,
          details: { error: query.error.slice(0, 64) },
        })
      }
      let profile: ProviderProfile
      try {
        const callbackUrl = new URL(`${config.publicUrl}/api/v1/auth/oauth/${name}/callback?${rawQuery}`)
        profile = await provider.exchange(callbackUrl, { state: state!, nonce: pending.nonce, codeVerifier: pending.codeVerifier })
      } catch (error) {
        const failure = describeFailure(error)
        return failed(name, failure.reason, failure.message, client, { userId: pending.linkUserId, details: failure.details })
      }

      const next = pending.redirectTo
      try {
        if (pending.linkUserId !== undefined) {
          const outcome = await linkTo(pending.linkUserId, pending.linkTokenVersion, pending.linkSessionId, name, label, profile, client)
          return {
            location: `${CALLBACK_PAGE}?${new URLSearchParams({ linked: name, ...(outcome === 'already' ? { already: '1' } : {}), next })}`,
            ...(outcome === 'linked' ? { linked: { userId: pending.linkUserId, provider: label } } : {}),
          }
        }
        const { user, linkedNow } = await resolveAccount(name, label, profile, client)
        const linked = linkedNow ? { linked: { userId: user.id, provider: label } } : {}
        if (!user.isActive) return { ...linked, location: await fail(name, 'inactive_user', 'This account is disabled', client) }
        if (config.requireEmailVerification && !user.emailVerified) {
          return { ...linked, location: await fail(name, 'email_not_verified', 'Verify your email address before signing in', client) }
        }
        const code = randomToken(32)
        const exchange: PendingExchange = {
          userId: user.id,
          provider: name,
          mfaTrusted: settings.trustProviderMfa && profile.amr.includes('mfa'),
          tokenVersion: user.tokenVersion,
          binding: pending.binding,
        }
        await cache.set(exchangeKey(code), exchange, OAUTH_TTL_SECONDS)
        return { ...linked, location: `${CALLBACK_PAGE}?${new URLSearchParams({ code, next })}` }
      } catch (error) {
        if (!(error instanceof ProviderFailure)) throw error
        return failed(name, error.reason, error.message, client, { userId: pending.linkUserId, details: error.details })
      }
    },

    /** Trades the one-time code for the session's tokens, or for the 2FA step when the account has it. */
    async exchange(code: string, binding: string | undefined, client: ClientInfo): Promise<TokenPair | TwoFactorChallenge> {
      const pending = await take<PendingExchange>(exchangeKey(code))
      if (!pending) throw new Errors.InvalidOAuthCode()
      if (!binding || !safeEqual(sha256(binding), pending.binding)) {
        await audit.record({ action: 'auth.oauth_failed', actorId: null, targetId: pending.userId, ip: client.ip, details: { provider: pending.provider, reason: 'browser_mismatch', step: 'exchange' } })
        throw new Errors.InvalidOAuthCode()
      }
      const user = await users.findById(pending.userId)
      // Gone, or taken back (signed out everywhere, password reset or changed) since the code was made.
      if (!user || user.tokenVersion !== pending.tokenVersion) throw new Errors.InvalidOAuthCode()
      if (!user.isActive) throw new Errors.InactiveUser()
      const method = `oauth:${pending.provider}`
      if (user.twoFaEnabled && !pending.mfaTrusted) return deps.startTwoFactor(user, client, method)
      return deps.completeLogin(user, client, method)
    },

    async listIdentities(userId: number): Promise<UserIdentityRow[]> {
      return identities.listForUser(userId)
    },

    /** Unlinks an identity, unless it is the account's last way to sign in. */
    async unlink(userId: number, identityId: string, client: ClientInfo): Promise<void> {
      await db.transaction(async (tx) => {
        await identities.lockOwner(userId, tx)
        const user = await users.findById(userId, tx)
        if (!user) throw new Errors.InvalidToken()
        const linked = await identities.listForUser(userId, tx)
        const target = linked.find((identity) => identity.id === identityId)
        if (!target) throw new Errors.NotFound('No such linked sign-in')
        const otherWays = linked.length - 1 + (user.hasPassword ? 1 : 0) + (await identities.countPasskeys(userId, tx))
        if (otherWays === 0) {
          throw new Errors.LastSignInMethod('This is the only way to sign in to this account: set a password (Forgot password) or link another provider first')
        }
        await identities.remove(userId, identityId, tx)
        await audit.record({ action: 'user.identity_unlinked', actorId: userId, targetId: userId, ip: client.ip, details: { provider: target.provider } }, tx)
      })
      await deps.invalidateUser(userId)
    },
  }
}

export type OAuthService = ReturnType<typeof createOAuthService>
