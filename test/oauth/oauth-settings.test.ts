import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { TEST_SECRET } from '../helpers/test-context.js'

const load = (env: Record<string, string>) => loadConfig({ SECRET_KEY: TEST_SECRET, ...env })

describe('OAUTH_* settings', () => {
  it('are off by default: no providers, no sign-up by surprise linking', () => {
    expect(load({}).oauth).toEqual({ providers: [], linkByEmail: false, allowSignup: true, trustProviderMfa: false })
  })

  it('preset Google (issuer, label) and GitHub (web and API bases, scopes)', () => {
    const { providers } = load({
      OAUTH_PROVIDERS: 'google, GitHub',
      OAUTH_GOOGLE_CLIENT_ID: 'g-id',
      OAUTH_GOOGLE_CLIENT_SECRET: 'g-secret',
      OAUTH_GITHUB_CLIENT_ID: 'gh-id',
      OAUTH_GITHUB_CLIENT_SECRET: 'gh-secret',
    }).oauth
    expect(providers[0]).toMatchObject({ name: 'google', kind: 'oidc', label: 'Google', issuer: 'https://accounts.google.com', scopes: 'openid email profile' })
    expect(providers[1]).toMatchObject({
      name: 'github',
      kind: 'github',
      label: 'GitHub',
      issuer: undefined,
      scopes: 'read:user user:email',
      githubUrl: 'https://github.com',
      githubApiUrl: 'https://api.github.com',
    })
  })

  it('take GitHub Enterprise Server bases', () => {
    const [github] = load({
      OAUTH_PROVIDERS: 'github',
      OAUTH_GITHUB_CLIENT_ID: 'id',
      OAUTH_GITHUB_CLIENT_SECRET: 'secret',
      OAUTH_GITHUB_URL: 'https://git.corp.example/',
      OAUTH_GITHUB_API_URL: 'https://git.corp.example/api/v3',
    }).oauth.providers
    expect(github).toMatchObject({ githubUrl: 'https://git.corp.example', githubApiUrl: 'https://git.corp.example/api/v3' })
  })

  it.each([
    [{ OAUTH_PROVIDERS: 'acme', OAUTH_ACME_CLIENT_SECRET: 's', OAUTH_ACME_ISSUER: 'https://id.example' }, /OAUTH_ACME_CLIENT_ID is required/],
    [{ OAUTH_PROVIDERS: 'acme', OAUTH_ACME_CLIENT_ID: 'i', OAUTH_ACME_ISSUER: 'https://id.example' }, /OAUTH_ACME_CLIENT_SECRET is required/],
    [{ OAUTH_PROVIDERS: 'acme', OAUTH_ACME_CLIENT_ID: 'i', OAUTH_ACME_CLIENT_SECRET: 's' }, /OAUTH_ACME_ISSUER is required/],
    [{ OAUTH_PROVIDERS: 'acme', OAUTH_ACME_CLIENT_ID: 'i', OAUTH_ACME_CLIENT_SECRET: 's', OAUTH_ACME_ISSUER: 'http://id.example' }, /OAUTH_ACME_ISSUER must use https:\/\/ \(plain http only for loopback/],
    [{ OAUTH_PROVIDERS: 'acme', OAUTH_ACME_CLIENT_ID: 'i', OAUTH_ACME_CLIENT_SECRET: 's', OAUTH_ACME_ISSUER: 'https://id.example', OAUTH_ACME_SCOPES: 'email' }, /must include "openid"/],
    [{ OAUTH_PROVIDERS: 'ac me' }, /OAUTH_PROVIDERS: "ac me"/],
    [{ OAUTH_PROVIDERS: 'acme,ACME' }, /lists "acme" twice/],
  ])('stop the boot naming the variable at fault (%#)', (env, message) => {
    expect(() => load(env)).toThrow(ConfigError)
    expect(() => load(env)).toThrow(message)
  })

  it('allow a plain-http issuer on loopback only, and name dashes as underscores', () => {
    const [provider] = load({
      OAUTH_PROVIDERS: 'corp-sso',
      OAUTH_CORP_SSO_CLIENT_ID: 'i',
      OAUTH_CORP_SSO_CLIENT_SECRET: 's',
      OAUTH_CORP_SSO_ISSUER: 'http://127.0.0.1:9000/realms/test',
    }).oauth.providers
    expect(provider).toMatchObject({ name: 'corp-sso', label: 'Corp-sso', issuer: 'http://127.0.0.1:9000/realms/test' })
  })
})
