import { ConfigError } from './config-error.js'
import type { EnvSource } from './env-parsers.js'
import { parseEnv } from './env-parsers.js'

/** One sign-in provider from OAUTH_PROVIDERS and its OAUTH_<NAME>_* block. */
export interface OAuthProviderSettings {
  /** As listed in OAUTH_PROVIDERS, lower case: it appears in URLs (`/oauth/<name>/callback`). */
  readonly name: string
  /** `github` speaks plain OAuth 2.0 with GitHub's user APIs; every other provider is OpenID Connect. */
  readonly kind: 'oidc' | 'github'
  readonly label: string
  readonly clientId: string
  readonly clientSecret: string
  /** OIDC issuer (discovery at `<issuer>/.well-known/openid-configuration`); undefined for GitHub. */
  readonly issuer: string | undefined
  readonly scopes: string
  /** GitHub (or GitHub Enterprise Server) web base, where `/login/oauth/*` lives. */
  readonly githubUrl: string
  /** GitHub REST API base (`/user`, `/user/emails`). */
  readonly githubApiUrl: string
}

export interface OAuthSettings {
  readonly providers: readonly OAuthProviderSettings[]
  /** Link a provider identity to an account with the same (provider-verified) email at sign-in. */
  readonly linkByEmail: boolean
  /** Create an account at the first sign-in through a provider. */
  readonly allowSignup: boolean
  /** Skip the account's own 2FA when the provider asserts it did MFA (`amr` contains `mfa`). */
  readonly trustProviderMfa: boolean
}

const NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/
const PRESET_ISSUERS: Record<string, string> = { google: 'https://accounts.google.com' }
const PRESET_LABELS: Record<string, string> = { google: 'Google', github: 'GitHub', microsoft: 'Microsoft' }
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])

/** Plain http is allowed only to this machine (tests, local development); anything else must be https. */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname)
}

function providerUrl(name: string, value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(`${name} is not a valid URL`)
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackUrl(url))) {
    throw new ConfigError(`${name} must use https:// (plain http only for loopback hosts, got "${value}")`)
  }
  if (url.search || url.hash) throw new ConfigError(`${name} must not have a query or fragment`)
  return value.replace(/\/+$/, '')
}

/** Parses the OAUTH_* settings; throws ConfigError naming the variable at fault. */
export function parseOAuthSettings(source: EnvSource): OAuthSettings {
  const env = parseEnv(source)
  const names = env.list('OAUTH_PROVIDERS', []).map((name) => name.toLowerCase())
  for (const [index, name] of names.entries()) {
    if (!NAME_PATTERN.test(name)) fail(`OAUTH_PROVIDERS: "${name}" must be lower-case letters, digits, "_" or "-", starting with a letter`)
    if (names.indexOf(name) !== index) fail(`OAUTH_PROVIDERS lists "${name}" twice`)
  }
  const providers = names.map((name): OAuthProviderSettings => {
    const prefix = `OAUTH_${name.toUpperCase().replace(/-/g, '_')}_`
    const required = (key: string) => env.optionalString(prefix + key) ?? fail(`${prefix}${key} is required for the "${name}" sign-in provider`)
    const kind = name === 'github' ? 'github' : 'oidc'
    const issuerRaw = env.optionalString(`${prefix}ISSUER`) ?? PRESET_ISSUERS[name]
    if (kind === 'oidc' && issuerRaw === undefined) fail(`${prefix}ISSUER is required for the "${name}" sign-in provider (its OpenID Connect issuer URL)`)
    const githubUrl = providerUrl(`${prefix}URL`, env.string(`${prefix}URL`, 'https://github.com'))
    return {
      name,
      kind,
      label: env.string(`${prefix}LABEL`, PRESET_LABELS[name] ?? name.charAt(0).toUpperCase() + name.slice(1)),
      clientId: required('CLIENT_ID'),
      clientSecret: required('CLIENT_SECRET'),
      issuer: kind === 'oidc' && issuerRaw !== undefined ? providerUrl(`${prefix}ISSUER`, issuerRaw) : undefined,
      scopes: env.string(`${prefix}SCOPES`, kind === 'github' ? 'read:user user:email' : 'openid email profile'),
      githubUrl,
      // Enterprise Server serves its API under the web base; github.com has its own host.
      githubApiUrl: providerUrl(`${prefix}API_URL`, env.string(`${prefix}API_URL`, 'https://api.github.com')),
    }
  })
  for (const provider of providers) {
    if (provider.kind === 'oidc' && !provider.scopes.split(/\s+/).includes('openid')) {
      fail(`OAUTH_${provider.name.toUpperCase().replace(/-/g, '_')}_SCOPES must include "openid" (got "${provider.scopes}")`)
    }
  }
  return {
    providers,
    linkByEmail: env.bool('OAUTH_LINK_BY_EMAIL', false),
    allowSignup: env.bool('OAUTH_ALLOW_SIGNUP', true),
    trustProviderMfa: env.bool('OAUTH_TRUST_PROVIDER_MFA', false),
  }
}

function fail(message: string): never {
  throw new ConfigError(message)
}
