import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { users } from '../../src/db/schema.js'
import { authHeader, codeFrom, createUser, DEFAULT_PASSWORD, loginAs, setUserColumns, SIGN_IN_CODE_SUBJECT, uniqueName, userRow, waitForMail } from '../helpers/factories.js'
import { followToCallback, startOidcProvider, type TestAccount, type TestOidcProvider } from '../helpers/oidc-provider.js'
import { useTestContext } from '../helpers/test-context.js'
import { auditOf, callbackUrl, exchange, land, startSignIn, waitForProvider, walk } from './oauth-helpers.js'

const context = useTestContext()
let idp: TestOidcProvider

const CLIENTS = {
  acme: { clientId: 'carbelsad-rs', clientSecret: randomBytes(16).toString('hex') },
  acmees: { clientId: 'carbelsad-es', clientSecret: randomBytes(16).toString('hex') },
}

beforeAll(async () => {
  idp = await startOidcProvider({
    clients: [
      { ...CLIENTS.acme, redirectUris: [callbackUrl('acme')] },
      { ...CLIENTS.acmees, redirectUris: [callbackUrl('acmees')], idTokenAlg: 'ES256' },
    ],
  })
})
afterAll(() => idp?.close())

function oauthEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OAUTH_PROVIDERS: 'acme,acmees',
    OAUTH_ACME_CLIENT_ID: CLIENTS.acme.clientId,
    OAUTH_ACME_CLIENT_SECRET: CLIENTS.acme.clientSecret,
    OAUTH_ACME_ISSUER: idp.issuer,
    OAUTH_ACME_LABEL: 'Acme ID',
    OAUTH_ACMEES_CLIENT_ID: CLIENTS.acmees.clientId,
    OAUTH_ACMEES_CLIENT_SECRET: CLIENTS.acmees.clientSecret,
    OAUTH_ACMEES_ISSUER: idp.issuer,
    ...extra,
  }
}

async function appWith(extra: Record<string, string> = {}): Promise<App> {
  const app = await context.buildApp(oauthEnv(extra))
  await waitForProvider(app, 'acme')
  await waitForProvider(app, 'acmees')
  return app
}

function account(overrides: Partial<TestAccount> = {}): TestAccount {
  const name = uniqueName('idp')
  return idp.addAccount({ sub: `sub-${randomBytes(6).toString('hex')}`, email: `${name}@idp.example`, email_verified: true, name: 'Ada Lovelace', preferred_username: name, ...overrides })
}

/** A full sign-in as `who` through `provider`: where it lands. */
async function signInAs(app: App, who: TestAccount, provider = 'acme', redirectTo?: string) {
  idp.interaction = { mode: 'auto', accountId: who.sub }
  return walk(app, provider, await startSignIn(app, provider, redirectTo))
}

async function tokensOf(app: App, code: string | null) {
  expect(code).toBeTruthy()
  const response = await exchange(app, code!)
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as { access_token: string; refresh_token: string; requires_2fa?: true; challenge_token?: string }
}

async function sessionMethods(app: App, accessToken: string): Promise<string[]> {
  const response = await app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: authHeader(accessToken) })
  expect(response.statusCode, response.body).toBe(200)
  const current = (response.json() as { current: boolean; auth_methods: string[] }[]).find((session) => session.current)
  return current?.auth_methods ?? []
}

async function me(app: App, accessToken: string) {
  const response = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(accessToken) })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as { id: number; username: string; email: string; email_verified: boolean }
}

async function userByEmail(app: App, email: string) {
  const rows = await app.db.select().from(users).where(eq(users.email, email.toLowerCase()))
  return rows[0]
}

describe('GET /oauth/providers', () => {
  it('lists the configured providers with their labels, publicly', async () => {
    const app = await appWith()
    const response = await app.inject({ method: 'GET', url: '/api/v1/auth/oauth/providers' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual([
      { name: 'acme', label: 'Acme ID' },
      { name: 'acmees', label: 'Acmees' },
    ])
  })

  it('answers an empty list, and 404 for any provider, when none is configured', async () => {
    const app = await context.buildApp()
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/oauth/providers' })).json()).toEqual([])
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/oauth/acme/authorize' })).statusCode).toBe(404)
  })
})

describe('GET /oauth/{name}/authorize', () => {
  it('redirects to the provider with state, nonce and an S256 PKCE challenge, each new every time', async () => {
    const app = await appWith()
    const first = new URL(await startSignIn(app, 'acme'))
    const second = new URL(await startSignIn(app, 'acme'))
    expect(`${first.origin}${first.pathname}`).toBe(`${idp.issuer}/auth`)
    expect(first.searchParams.get('client_id')).toBe(CLIENTS.acme.clientId)
    expect(first.searchParams.get('redirect_uri')).toBe(callbackUrl('acme'))
    expect(first.searchParams.get('response_type')).toBe('code')
    expect(first.searchParams.get('scope')).toBe('openid email profile')
    expect(first.searchParams.get('code_challenge_method')).toBe('S256')
    for (const name of ['state', 'nonce', 'code_challenge']) {
      expect(first.searchParams.get(name)?.length).toBeGreaterThanOrEqual(22)
      expect(first.searchParams.get(name)).not.toBe(second.searchParams.get(name))
    }
  })

  it.each(['//evil.example/x', '/..//evil.example/x', '/.//evil.example', 'https://evil.example/', '/\\evil.example', 'evil.example', '/ok\u0000', 'javascript:alert(1)'])('refuses redirect_to=%j with 400 (no open redirect)', async (target) => {
    const app = await appWith()
    const response = await app.inject({ method: 'GET', url: `/api/v1/auth/oauth/acme/authorize?redirect_to=${encodeURIComponent(target)}` })
    expect(response.statusCode, response.body).toBe(400)
    expect(response.headers.location).toBeUndefined()
  })

  it('carries a relative redirect_to through to the console page', async () => {
    const app = await appWith()
    const landing = await signInAs(app, account(), 'acme', '/security?tab=keys')
    expect(landing.error).toBeNull()
    expect(landing.url.searchParams.get('next')).toBe('/security?tab=keys')
  })
})

describe('a new account', () => {
  it('is created from the profile: verified email, username from preferred_username, no usable password, session oauth:acme', async () => {
    const app = await appWith()
    const who = account()
    const landing = await signInAs(app, who)
    expect(landing.error).toBeNull()
    expect(landing.url.searchParams.get('next')).toBe('/profile')
    const tokens = await tokensOf(app, landing.code)
    const profile = await me(app, tokens.access_token)
    expect(profile).toMatchObject({ username: who.preferred_username, email: who.email, email_verified: true })
    const row = await userRow(app, profile.id)
    expect(row?.hasPassword).toBe(false)
    expect(await sessionMethods(app, tokens.access_token)).toEqual(['oauth:acme'])
    // No password signs in to it, not even an empty-looking one.
    const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: who.email, password: DEFAULT_PASSWORD } })
    expect(login.statusCode).toBe(401)

    const identities = await app.inject({ method: 'GET', url: '/api/v1/auth/identities', headers: authHeader(tokens.access_token) })
    expect(identities.json()).toEqual([{ id: expect.any(String), provider: 'acme', email: who.email, created_at: expect.any(String) }])
  })

  it('keeps the email unverified when the provider does not vouch for it', async () => {
    const app = await appWith()
    const who = account({ email_verified: false })
    const tokens = await tokensOf(app, (await signInAs(app, who)).code)
    expect(await me(app, tokens.access_token)).toMatchObject({ email: who.email, email_verified: false })
  })

  it('gets a unique username when the preferred one is taken', async () => {
    const app = await appWith()
    const taken = await createUser(app)
    const who = account({ preferred_username: taken.username })
    const tokens = await tokensOf(app, (await signInAs(app, who)).code)
    const profile = await me(app, tokens.access_token)
    expect(profile.username).not.toBe(taken.username)
    expect(profile.username.toLowerCase().startsWith(taken.username.toLowerCase())).toBe(true)
  })

  it('is not created when OAUTH_ALLOW_SIGNUP=false: the console gets a readable refusal, and it is audited', async () => {
    const app = await appWith({ OAUTH_ALLOW_SIGNUP: 'false' })
    const who = account()
    const landing = await signInAs(app, who)
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/cannot be created/)
    expect(await userByEmail(app, who.email!)).toBeUndefined()
    expect((await auditOf(app, 'auth.oauth_failed'))[0]?.details).toMatchObject({ provider: 'acme', reason: 'signup_closed' })
  })

  it('can set a first password through forgot/reset password, which marks has_password', async () => {
    const app = await appWith()
    const who = account()
    const profile = await me(app, (await tokensOf(app, (await signInAs(app, who)).code)).access_token)
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/forgot-password', payload: { email: who.email } })).statusCode).toBe(202)
    const mail = await waitForMail(app, who.email!, { subject: /reset your .* password/i })
    const token = /token=([^\s&"'<>]+)/.exec(mail.text)?.[1]
    const reset = await app.inject({ method: 'POST', url: '/api/v1/auth/reset-password', payload: { token: decodeURIComponent(token!), new_password: DEFAULT_PASSWORD } })
    expect(reset.statusCode, reset.body).toBe(200)
    expect((await userRow(app, profile.id))?.hasPassword).toBe(true)
    await loginAs(app, { username: profile.username, password: DEFAULT_PASSWORD })
  })
})

describe('a returning user', () => {
  it('is signed in to the same account by provider + subject, even after changing the address at the provider', async () => {
    const app = await appWith()
    const who = account()
    const first = await me(app, (await tokensOf(app, (await signInAs(app, who)).code)).access_token)
    who.email = `changed-${who.email}`
    const again = await me(app, (await tokensOf(app, (await signInAs(app, who)).code)).access_token)
    expect(again.id).toBe(first.id)
    expect(await userByEmail(app, who.email)).toBeUndefined()
  })

  it('signs in through an ES256 client as well as an RS256 one, checking each signature', async () => {
    const app = await appWith()
    const who = account()
    await tokensOf(app, (await signInAs(app, who, 'acme')).code)
    expect(idp.lastIdTokenHeader?.alg).toBe('RS256')
    const viaEs = await signInAs(app, who, 'acmees')
    expect(idp.lastIdTokenHeader?.alg).toBe('ES256')
    // Another client is another provider entry: the same person is not linked to it, and the address is taken.
    expect(viaEs.error).toMatch(/already uses this email/)
  })

  it('gets the 2FA step when the account has 2FA, and the session records oauth:acme+email_code', async () => {
    const app = await appWith()
    const who = account()
    const profile = await me(app, (await tokensOf(app, (await signInAs(app, who)).code)).access_token)
    await setUserColumns(app, profile.id, { twoFaEnabled: true, twoFaMethod: 'email' })
    const challenge = await tokensOf(app, (await signInAs(app, who)).code)
    expect(challenge.requires_2fa).toBe(true)
    const mail = await waitForMail(app, who.email!, { subject: SIGN_IN_CODE_SUBJECT })
    const verified = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-2fa', payload: { challenge_token: challenge.challenge_token, code: codeFrom(mail) } })
    expect(verified.statusCode, verified.body).toBe(200)
    expect(await sessionMethods(app, verified.json().access_token)).toEqual(['oauth:acme+email_code'])
  })

  it('skips the account 2FA only when the provider asserts MFA and OAUTH_TRUST_PROVIDER_MFA=true', async () => {
    const strict = await appWith()
    const trusting = await appWith({ OAUTH_TRUST_PROVIDER_MFA: 'true' })
    const who = account({ amr: ['pwd', 'mfa'] })
    const profile = await me(strict, (await tokensOf(strict, (await signInAs(strict, who)).code)).access_token)
    await setUserColumns(strict, profile.id, { twoFaEnabled: true, twoFaMethod: 'totp' })
    await trusting.invalidateUser(profile.id)

    expect((await tokensOf(strict, (await signInAs(strict, who)).code)).requires_2fa).toBe(true)
    const trusted = await tokensOf(trusting, (await signInAs(trusting, who)).code)
    expect(trusted.requires_2fa).toBeUndefined()
    expect(await sessionMethods(trusting, trusted.access_token)).toEqual(['oauth:acme'])

    who.amr = ['pwd']
    expect((await tokensOf(trusting, (await signInAs(trusting, who)).code)).requires_2fa).toBe(true)
  })

  it('cannot sign in to a deactivated account', async () => {
    const app = await appWith()
    const who = account()
    const profile = await me(app, (await tokensOf(app, (await signInAs(app, who)).code)).access_token)
    await setUserColumns(app, profile.id, { isActive: false })
    const landing = await signInAs(app, who)
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/disabled/)
  })
})

describe('linking by email', () => {
  it('is refused by default, with a message to sign in and link from Security', async () => {
    const app = await appWith()
    const local = await createUser(app)
    await setUserColumns(app, local.id, { emailVerified: true })
    const landing = await signInAs(app, account({ email: local.email }))
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/Sign in to it, then link Acme ID on the Security page/)
    expect((await auditOf(app, 'auth.oauth_failed'))[0]?.details).toMatchObject({ provider: 'acme', reason: 'email_in_use' })
  })

  it('links and signs in with OAUTH_LINK_BY_EMAIL=true when both sides verified the address', async () => {
    const app = await appWith({ OAUTH_LINK_BY_EMAIL: 'true' })
    const local = await createUser(app)
    await setUserColumns(app, local.id, { emailVerified: true })
    const tokens = await tokensOf(app, (await signInAs(app, account({ email: local.email }))).code)
    expect((await me(app, tokens.access_token)).id).toBe(local.id)
    expect((await auditOf(app, 'user.identity_linked', local.id))[0]?.details).toMatchObject({ provider: 'acme', by: 'email' })
  })

  it('is refused with OAUTH_LINK_BY_EMAIL=true when the provider did not verify the address', async () => {
    const app = await appWith({ OAUTH_LINK_BY_EMAIL: 'true' })
    const local = await createUser(app)
    await setUserColumns(app, local.id, { emailVerified: true })
    const landing = await signInAs(app, account({ email: local.email, email_verified: false }))
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/already uses this email/)
  })

  it('is refused with OAUTH_LINK_BY_EMAIL=true when the local account never verified the address (pre-registered by someone else)', async () => {
    const app = await appWith({ OAUTH_LINK_BY_EMAIL: 'true' })
    const local = await createUser(app)
    const landing = await signInAs(app, account({ email: local.email }))
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/already uses this email/)
  })
})

describe('the callback refuses', () => {
  it('a state it never issued', async () => {
    const app = await appWith()
    const landing = await land(app, new URL(`${callbackUrl('acme')}?code=abc&state=${randomBytes(16).toString('base64url')}`))
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/expired or was already used/)
    expect((await auditOf(app, 'auth.oauth_failed'))[0]?.details).toMatchObject({ provider: 'acme', reason: 'invalid_state' })
  })

  it('a replayed state: the second use of a callback URL gets no session', async () => {
    const app = await appWith()
    const who = account()
    idp.interaction = { mode: 'auto', accountId: who.sub }
    const back = await followToCallback(await startSignIn(app, 'acme'), callbackUrl('acme'))
    const [first, second] = await Promise.all([land(app, back), land(app, back)])
    const codes = [first.code, second.code].filter(Boolean)
    expect(codes).toHaveLength(1)
    const third = await land(app, back)
    expect(third.code).toBeNull()
    expect(third.error).toMatch(/expired or was already used/)
  })

  it('a callback that reaches another browser than the one that started (login CSRF), and the state dies with it', async () => {
    const app = await appWith()
    const attacker = account()
    idp.interaction = { mode: 'auto', accountId: attacker.sub }
    const back = await followToCallback(await startSignIn(app, 'acme'), callbackUrl('acme'))
    const victim = await land(app, back, { browser: 'other' })
    expect(victim.code).toBeNull()
    expect(victim.error).toMatch(/started in another browser/)
    expect((await auditOf(app, 'auth.oauth_failed'))[0]?.details).toMatchObject({ provider: 'acme', reason: 'browser_mismatch' })
    expect((await land(app, back)).error).toMatch(/expired or was already used/)
  })

  it('a state issued for another provider', async () => {
    const app = await appWith()
    const who = account()
    idp.interaction = { mode: 'auto', accountId: who.sub }
    const back = await followToCallback(await startSignIn(app, 'acme'), callbackUrl('acme'))
    const landing = await land(app, new URL(`${callbackUrl('acmees')}${back.search}`))
    expect(landing.error).toMatch(/expired or was already used/)
  })

  it('an ID token whose nonce is not the one sent', async () => {
    const app = await appWith()
    const who = account()
    idp.interaction = { mode: 'auto', accountId: who.sub }
    const landing = await walk(app, 'acme', await startSignIn(app, 'acme'), (url) => url.searchParams.set('nonce', 'not-the-nonce-we-sent-1234567890'))
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/could not be verified/)
    expect((await auditOf(app, 'auth.oauth_failed'))[0]?.details).toMatchObject({ provider: 'acme', reason: 'invalid_response', claim: 'nonce' })
    expect(await userByEmail(app, who.email!)).toBeUndefined()
  })

  it.each([
    ['another audience', { claims: (claims: Record<string, unknown>) => ({ ...claims, aud: 'someone-else' }) }, 'aud'],
    ['an expired ID token', { claims: (claims: Record<string, unknown>) => ({ ...claims, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }) }, 'exp'],
    ['another issuer', { claims: (claims: Record<string, unknown>) => ({ ...claims, iss: 'http://127.0.0.1:1' }) }, 'iss'],
    ['a signature by a key the provider never published', { foreignKey: true }, undefined],
  ])('an ID token with %s', async (_what, tamper, claim) => {
    const app = await appWith()
    const who = account()
    idp.tamper = tamper
    try {
      const landing = await signInAs(app, who)
      expect(landing.code).toBeNull()
      expect(landing.error).toMatch(/could not be verified/)
    } finally {
      idp.tamper = undefined
    }
    const entry = (await auditOf(app, 'auth.oauth_failed'))[0]
    expect(entry?.details).toMatchObject({ provider: 'acme', reason: 'invalid_response' })
    if (claim) expect(entry?.details.claim).toBe(claim)
    expect(await userByEmail(app, who.email!)).toBeUndefined()
  })

  it('a denied consent, with a readable message; the audit names the provider and holds no code or state', async () => {
    const app = await appWith()
    idp.interaction = { mode: 'deny' }
    const authorize = await startSignIn(app, 'acme')
    const state = new URL(authorize).searchParams.get('state')!
    const landing = await walk(app, 'acme', authorize)
    expect(landing.code).toBeNull()
    expect(landing.error).toBe('Sign-in with Acme ID was cancelled')
    const entry = (await auditOf(app, 'auth.oauth_failed'))[0]
    expect(entry?.details).toMatchObject({ provider: 'acme', reason: 'access_denied' })
    expect(JSON.stringify(entry)).not.toContain(state)
  })
})

describe('POST /oauth/exchange', () => {
  it('trades a code once; a second use and an unknown code get 400 invalid_oauth_code', async () => {
    const app = await appWith()
    const landing = await signInAs(app, account())
    expect((await exchange(app, landing.code!)).statusCode).toBe(200)
    const again = await exchange(app, landing.code!)
    expect(again.statusCode).toBe(400)
    expect(again.json().code).toBe('invalid_oauth_code')
    expect((await exchange(app, 'nonsense')).json().code).toBe('invalid_oauth_code')
  })

  it('trades a code only from the browser that signed in: a code sent to someone else signs nobody in', async () => {
    const app = await appWith()
    const landing = await signInAs(app, account())
    // Login CSRF: the attacker copies the code of their own sign-in into a link for the victim.
    const elsewhere = await exchange(app, landing.code!, { browser: 'other' })
    expect(elsewhere.statusCode).toBe(400)
    expect(elsewhere.json().code).toBe('invalid_oauth_code')
    expect(elsewhere.json().access_token).toBeUndefined()
    // Single use holds for the refused attempt too.
    expect((await exchange(app, landing.code!)).statusCode).toBe(400)
  })

  it('puts no token in any URL: the landing carries only a one-time code', async () => {
    const app = await appWith()
    const landing = await signInAs(app, account())
    const tokens = await tokensOf(app, landing.code)
    expect(landing.url.href).not.toContain(tokens.access_token)
    expect(landing.url.href).not.toContain(tokens.refresh_token)
    expect([...landing.url.searchParams.keys()].sort()).toEqual(['code', 'next'])
  })
})

describe('a provider that is down at boot', () => {
  it('does not stop the app: its sign-in answers 503 with a clear detail until discovery succeeds in the background', async () => {
    const down = await startOidcProvider({ clients: [{ ...CLIENTS.acme, redirectUris: [callbackUrl('late')] }] })
    const port = down.port
    await down.close()
    const app = await context.buildApp({
      OAUTH_PROVIDERS: 'late',
      OAUTH_LATE_CLIENT_ID: CLIENTS.acme.clientId,
      OAUTH_LATE_CLIENT_SECRET: CLIENTS.acme.clientSecret,
      OAUTH_LATE_ISSUER: `http://127.0.0.1:${port}`,
    })
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/live' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/oauth/providers' })).json()).toEqual([{ name: 'late', label: 'Late' }])
    const refused = await app.inject({ method: 'GET', url: '/api/v1/auth/oauth/late/authorize' })
    expect(refused.statusCode).toBe(503)
    expect(refused.json()).toMatchObject({ code: 'service_unavailable', detail: expect.stringMatching(/Sign-in with Late is not available yet/) })

    const late = await startOidcProvider({ port, clients: [{ ...CLIENTS.acme, redirectUris: [callbackUrl('late')] }] })
    try {
      await waitForProvider(app, 'late')
      const who = late.addAccount({ sub: 'late-1', email: `${uniqueName('late')}@idp.example`, email_verified: true })
      late.interaction = { mode: 'auto', accountId: who.sub }
      const landing = await walk(app, 'late', await startSignIn(app, 'late'))
      expect(landing.error).toBeNull()
      await tokensOf(app, landing.code)
    } finally {
      await late.close()
    }
  })
})
