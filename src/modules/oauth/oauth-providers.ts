import type * as OpenIdClient from 'openid-client'
import { isLoopbackUrl, type OAuthProviderSettings } from '../../config/oauth-settings.js'

/** What the app keeps of an account at a provider. */
export interface ProviderProfile {
  /** The provider's stable id: `sub`, or GitHub's numeric user id. */
  subject: string
  email: string | undefined
  /** Only an address the provider itself says it verified may match or verify an account. */
  emailVerified: boolean
  name: string | undefined
  /** A login name to derive a username from (`preferred_username`, GitHub's `login`). */
  nickname: string | undefined
  /** Authentication methods the provider asserts (`amr`); `mfa` may stand in for the account's own 2FA. */
  amr: string[]
}

/** The per-request secrets of one authorization request, kept server-side until the callback. */
export interface AuthorizationChecks {
  state: string
  nonce: string
  codeVerifier: string
}

/** Why a callback failed, for the audit log and the message the user sees; never a token. */
export class ProviderFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

const DISCOVERY_TIMEOUT_SECONDS = 10
const RETRY_START_MS = 1000
const RETRY_MAX_MS = 60_000

/**
 * openid-client (with jose and oauth4webapi, about 10 MB and 100 ms of start-up) is loaded by the
 * first provider that starts: an app with no sign-in provider configured never loads it.
 */
let openIdClient: Promise<typeof OpenIdClient> | undefined
const loadOpenIdClient = () => {
  openIdClient ??= import('openid-client')
  return openIdClient
}

export interface ProviderClientOptions {
  redirectUri: string
  userAgent: string
  onDiscovered: (provider: string) => void
  onDiscoveryFailed: (provider: string, error: unknown, retryInMs: number) => void
}

/**
 * One configured provider: an OpenID Connect relying party built by discovery, or GitHub's plain
 * OAuth 2.0 from its documented endpoints. Every check of the answer (state, PKCE, ID token issuer,
 * audience, nonce, expiry, signature) is openid-client's; this only picks what to keep.
 */
export function createProviderClient(settings: OAuthProviderSettings, options: ProviderClientOptions) {
  // Set by start(), before anything below runs.
  let oidc: typeof OpenIdClient
  let configuration: OpenIdClient.Configuration | undefined
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let retryDelay = RETRY_START_MS
  let stopped = false

  const insecure = (url: string) => {
    const parsed = new URL(url)
    // openid-client refuses http:// outright; it is let through only to this machine (tests, development).
    return parsed.protocol === 'http:' && isLoopbackUrl(parsed)
  }

  async function discover(): Promise<void> {
    const issuer = settings.issuer!
    const found = await oidc.discovery(new URL(issuer), settings.clientId, settings.clientSecret, undefined, {
      execute: insecure(issuer) ? [oidc.allowInsecureRequests] : [],
      timeout: DISCOVERY_TIMEOUT_SECONDS,
    })
    // The code flow's ID token comes over TLS from the token endpoint, which OIDC deems enough; the
    // signature is checked against the provider's published keys anyway.
    oidc.enableNonRepudiationChecks(found)
    configuration = found
  }

  function scheduleDiscovery(): void {
    if (stopped) return
    discover()
      .then(() => options.onDiscovered(settings.name))
      .catch((error: unknown) => {
        if (stopped) return
        options.onDiscoveryFailed(settings.name, error, retryDelay)
        retryTimer = setTimeout(scheduleDiscovery, retryDelay)
        retryTimer.unref()
        retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS)
      })
  }

  function githubConfiguration(): OpenIdClient.Configuration {
    const base = settings.githubUrl
    const built = new oidc.Configuration(
      { issuer: base, authorization_endpoint: `${base}/login/oauth/authorize`, token_endpoint: `${base}/login/oauth/access_token` },
      settings.clientId,
      settings.clientSecret,
    )
    if (insecure(base)) oidc.allowInsecureRequests(built)
    return built
  }

  async function githubApi<T>(path: string, accessToken: string): Promise<T> {
    const response = await fetch(`${settings.githubApiUrl}${path}`, {
      headers: {
        authorization: `Bearer ${accessToken}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'user-agent': options.userAgent,
      },
      signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_SECONDS * 1000),
    })
    if (!response.ok) throw new ProviderFailure('github_api', 'GitHub did not share the account details', { path, status: response.status })
    return (await response.json()) as T
  }

  async function githubProfile(accessToken: string): Promise<ProviderProfile> {
    const user = await githubApi<{ id?: unknown; login?: unknown; name?: unknown; email?: unknown }>('/user', accessToken)
    if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new ProviderFailure('github_api', 'GitHub did not share the account details', { path: '/user' })
    const emails = await githubApi<{ email?: unknown; primary?: unknown; verified?: unknown }[]>('/user/emails', accessToken).catch(() => [])
    const usable = Array.isArray(emails) ? emails.filter((entry) => typeof entry.email === 'string') : []
    const verified = usable.find((entry) => entry.primary === true && entry.verified === true) ?? usable.find((entry) => entry.verified === true)
    const fallback = usable.find((entry) => entry.primary === true)?.email ?? (typeof user.email === 'string' ? user.email : undefined)
    return {
      subject: String(user.id),
      email: (verified?.email as string | undefined) ?? (fallback as string | undefined),
      emailVerified: verified !== undefined,
      name: typeof user.name === 'string' ? user.name : undefined,
      nickname: typeof user.login === 'string' ? user.login : undefined,
      // GitHub says nothing about how its user signed in.
      amr: [],
    }
  }

  const text = (value: unknown) => (typeof value === 'string' && value.length > 0 ? value : undefined)

  return {
    settings,

    /**
     * Loads openid-client and starts discovery (OIDC); a discovery failure is reported and retried in
     * the background, never thrown. GitHub's configuration is ready when this resolves.
     */
    async start(): Promise<void> {
      oidc = await loadOpenIdClient()
      if (stopped) return
      if (settings.kind === 'github') configuration = githubConfiguration()
      else scheduleDiscovery()
    },

    /** A fresh state, nonce and PKCE verifier for one authorization request, and the verifier's challenge. */
    async newChecks(): Promise<AuthorizationChecks & { codeChallenge: string }> {
      const codeVerifier = oidc.randomPKCECodeVerifier()
      return { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier, codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier) }
    },

    stop(): void {
      stopped = true
      clearTimeout(retryTimer)
    },

    get ready(): boolean {
      return configuration !== undefined
    },

    authorizationUrl(checks: AuthorizationChecks & { codeChallenge: string }): URL | undefined {
      if (!configuration) return undefined
      return oidc.buildAuthorizationUrl(configuration, {
        redirect_uri: options.redirectUri,
        scope: settings.scopes,
        state: checks.state,
        ...(settings.kind === 'oidc' ? { nonce: checks.nonce } : {}),
        code_challenge: checks.codeChallenge,
        code_challenge_method: 'S256',
      })
    },

    /** Trades the code for tokens, checks them, and reads the account. Throws ProviderFailure or openid-client's errors. */
    async exchange(callbackUrl: URL, checks: AuthorizationChecks): Promise<ProviderProfile> {
      if (!configuration) throw new ProviderFailure('not_discovered', 'The sign-in provider is not reachable right now')
      if (settings.kind === 'github') {
        const tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, { pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state })
        return githubProfile(tokens.access_token)
      }
      const tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      })
      const claims = tokens.claims()
      if (!claims) throw new ProviderFailure('no_id_token', 'The provider sent no ID token')
      // Providers that follow the spec to the letter put profile claims in userinfo, not the ID token.
      const info: Record<string, unknown> = configuration.serverMetadata().userinfo_endpoint
        ? await oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub)
        : {}
      const email = text(claims.email) ?? text(info.email)
      const verifiedClaim = text(claims.email) !== undefined ? claims.email_verified : info.email_verified
      return {
        subject: claims.sub,
        email,
        emailVerified: email !== undefined && verifiedClaim === true,
        name: text(claims.name) ?? text(info.name),
        nickname: text(claims.preferred_username) ?? text(info.preferred_username) ?? text(claims.nickname) ?? text(info.nickname),
        amr: Array.isArray(claims.amr) ? claims.amr.filter((value): value is string => typeof value === 'string') : [],
      }
    },
  }
}

export type ProviderClient = ReturnType<typeof createProviderClient>
