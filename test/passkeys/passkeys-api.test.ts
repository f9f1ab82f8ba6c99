import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { loadConfig } from '../../src/config/config.js'
import { auditLogs, passkeys, userIdentities } from '../../src/db/schema.js'
import { authHeader, controllableClock, createUser, setUserColumns, signedInUser, type SignedInUser } from '../helpers/factories.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { TEST_SECRET, usingRedis, useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
// The test context leaves PUBLIC_URL at its default, http://localhost:8000: RP ID `localhost`.
const ORIGIN = 'http://localhost:8000'
const API = '/api/v1/auth/passkeys'

type Json = Record<string, unknown>

async function post(app: App, url: string, payload: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url, payload: payload as Json, headers })
}

/** Registers a passkey for a signed-in user through the API; returns the stored passkey and the authenticator. */
async function addPasskey(app: App, user: SignedInUser, authenticator = new SoftwareAuthenticator(ORIGIN), name = 'My laptop') {
  const options = await post(app, `${API}/register/options`, {}, user.headers)
  expect(options.statusCode, options.body).toBe(200)
  const { response } = authenticator.register(options.json())
  const verified = await post(app, `${API}/register/verify`, { response, name }, user.headers)
  expect(verified.statusCode, verified.body).toBe(201)
  return { passkey: verified.json() as { id: string; name: string }, authenticator }
}

async function loginOptions(app: App, usernameOrEmail?: string) {
  const response = await post(app, `${API}/login/options`, usernameOrEmail ? { username_or_email: usernameOrEmail } : {})
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as { challenge: string; challenge_id: string; rpId: string; allowCredentials?: { id: string }[] }
}

async function authMethodsOf(app: App, accessToken: string): Promise<string[]> {
  const response = await app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: authHeader(accessToken) })
  expect(response.statusCode, response.body).toBe(200)
  return (response.json() as { current: boolean; auth_methods: string[] }[]).find((session) => session.current)!.auth_methods
}

async function auditActions(app: App, userId: number, action: string) {
  return app.db.select().from(auditLogs).where(and(eq(auditLogs.targetId, userId), eq(auditLogs.action, action)))
}

describe('passkey registration', () => {
  it('registers a passkey with a fresh proof, lists it, and excludes it from the next options', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const options = await post(app, `${API}/register/options`, {}, user.headers)
    expect(options.statusCode, options.body).toBe(200)
    const body = options.json()
    expect(body).toMatchObject({ rp: { id: 'localhost' }, user: { name: user.username }, authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' } })
    expect(body.excludeCredentials).toEqual([])

    const authenticator = new SoftwareAuthenticator(ORIGIN)
    const { response } = authenticator.register(body)
    const created = await post(app, `${API}/register/verify`, { response, name: 'My laptop' }, user.headers)
    expect(created.statusCode, created.body).toBe(201)
    expect(created.json()).toMatchObject({ name: 'My laptop', backed_up: true, transports: ['internal'], last_used_at: null })

    const list = await app.inject({ method: 'GET', url: API, headers: user.headers })
    expect(list.json()).toEqual([created.json()])
    const next = await post(app, `${API}/register/options`, {}, user.headers)
    expect(next.json().excludeCredentials).toEqual([expect.objectContaining({ id: response.id })])
    expect(await auditActions(app, user.id, 'user.passkey_added')).toHaveLength(1)
  })

  it('asks for a fresh proof before issuing registration options', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await signedInUser(app)
    clock.advance(11 * 60_000)
    const refused = await post(app, `${API}/register/options`, {}, user.headers)
    expect(refused.statusCode).toBe(403)
    expect(refused.json().code).toBe('reauthentication_required')
    const withPassword = await post(app, `${API}/register/options`, { password: user.password }, user.headers)
    expect(withPassword.statusCode, withPassword.body).toBe(200)
  })

  it('refuses a registration from another origin, for another RP ID, or with a used challenge', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const cases = [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }]
    for (const answer of cases) {
      const options = (await post(app, `${API}/register/options`, {}, user.headers)).json()
      const { response } = new SoftwareAuthenticator(ORIGIN).register(options, answer)
      const refused = await post(app, `${API}/register/verify`, { response }, user.headers)
      expect(refused.statusCode, JSON.stringify(answer)).toBe(400)
      expect(refused.json().code).toBe('passkey_registration_failed')
    }
    const options = (await post(app, `${API}/register/options`, {}, user.headers)).json()
    const { response } = new SoftwareAuthenticator(ORIGIN).register(options)
    expect((await post(app, `${API}/register/verify`, { response }, user.headers)).statusCode).toBe(201)
    const replay = new SoftwareAuthenticator(ORIGIN).register(options)
    const replayed = await post(app, `${API}/register/verify`, { response: replay.response }, user.headers)
    expect(replayed.statusCode).toBe(401)
    expect(replayed.json()).toMatchObject({ code: 'invalid_passkey', detail: expect.stringMatching(/already used/) })
  })

  it('refuses registration options issued to another account', async () => {
    const app = await context.buildApp()
    const alice = await signedInUser(app)
    const bob = await signedInUser(app)
    const options = (await post(app, `${API}/register/options`, {}, alice.headers)).json()
    const { response } = new SoftwareAuthenticator(ORIGIN).register(options)
    const refused = await post(app, `${API}/register/verify`, { response }, bob.headers)
    expect(refused.statusCode).toBe(400)
    expect(refused.json().code).toBe('passkey_registration_failed')
  })
})

describe('passkey sign-in', () => {
  it('signs in with a discoverable passkey: a token pair and a session proven by `passkey`', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const { authenticator, passkey } = await addPasskey(app, user)
    const options = await loginOptions(app)
    expect(options.allowCredentials ?? []).toEqual([])
    const signedIn = await post(app, `${API}/login/verify`, { response: authenticator.authenticate(options), challenge_id: options.challenge_id })
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    expect(signedIn.json()).toMatchObject({ token_type: 'bearer', refresh_token: expect.any(String) })
    expect(await authMethodsOf(app, signedIn.json().access_token)).toEqual(['passkey'])
    const [row] = await app.db.select().from(passkeys).where(eq(passkeys.id, passkey.id))
    expect(row?.counter).toBe(1)
    expect(row?.lastUsedAt).not.toBeNull()
  })

  it('lists the account’s passkeys when the account is named, and an unknown name looks like no name', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const { authenticator } = await addPasskey(app, user)
    const named = await loginOptions(app, user.email)
    expect(named.allowCredentials?.map((item) => item.id)).toEqual([authenticator.credentials[0]!.id.toString('base64url')])
    const unknown = await loginOptions(app, 'nobody-at-all')
    expect(unknown.allowCredentials ?? []).toEqual([])
    const signedIn = await post(app, `${API}/login/verify`, { response: authenticator.authenticate(named, { omitUserHandle: true }) })
    expect(signedIn.statusCode, signedIn.body).toBe(200)
  })

  it('refuses a replayed challenge, a wrong origin, a wrong RP ID, an unknown credential and an expired challenge', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await signedInUser(app)
    const { authenticator } = await addPasskey(app, user)
    const refusedWith = async (make: (options: Awaited<ReturnType<typeof loginOptions>>) => unknown, pattern: RegExp) => {
      const options = await loginOptions(app)
      const response = await post(app, `${API}/login/verify`, { response: make(options) })
      expect(response.statusCode, response.body).toBe(401)
      expect(response.json()).toMatchObject({ code: 'invalid_passkey', detail: expect.stringMatching(pattern) })
    }
    await refusedWith((options) => authenticator.authenticate(options, { origin: 'https://evil.example' }), /origin/i)
    await refusedWith((options) => authenticator.authenticate(options, { rpId: 'evil.example' }), /RP ID/i)
    await refusedWith((options) => new SoftwareAuthenticator(ORIGIN).authenticate(options, { credential: { ...authenticator.credentials[0]!, id: Buffer.alloc(32, 7) } }), /Unknown passkey/)
    await refusedWith((options) => authenticator.authenticate({ ...options, challenge: 'A'.repeat(43) }), /expired or already used/)

    const options = await loginOptions(app)
    const first = authenticator.authenticate(options)
    expect((await post(app, `${API}/login/verify`, { response: first })).statusCode).toBe(200)
    const replayed = await post(app, `${API}/login/verify`, { response: authenticator.authenticate(options) })
    expect(replayed.statusCode).toBe(401)
    expect(replayed.json().detail).toMatch(/already used/)

    const stale = await loginOptions(app)
    clock.advance(5 * 60_000 + 1000)
    const expired = await post(app, `${API}/login/verify`, { response: authenticator.authenticate(stale) })
    expect(expired.statusCode).toBe(401)
    expect(expired.json().detail).toMatch(/expired/)
  })

  it('refuses a credential of another account when the sign-in named an account', async () => {
    const app = await context.buildApp()
    const alice = await signedInUser(app)
    const bob = await signedInUser(app)
    await addPasskey(app, alice)
    const { authenticator: bobs } = await addPasskey(app, bob)
    const options = await loginOptions(app, alice.username)
    const refused = await post(app, `${API}/login/verify`, { response: bobs.authenticate(options, { credential: bobs.credentials[0]! }) })
    expect(refused.statusCode).toBe(401)
    expect(refused.json()).toMatchObject({ code: 'invalid_passkey', detail: 'This passkey belongs to another account' })
    expect(await auditActions(app, alice.id, 'auth.passkey_failed')).toHaveLength(1)
  })

  it('refuses and audits a signature counter that goes backwards (a cloned authenticator)', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const { authenticator, passkey } = await addPasskey(app, user)
    for (let index = 0; index < 3; index += 1) {
      const options = await loginOptions(app)
      expect((await post(app, `${API}/login/verify`, { response: authenticator.authenticate(options) })).statusCode).toBe(200)
    }
    const options = await loginOptions(app)
    const cloned = await post(app, `${API}/login/verify`, { response: authenticator.authenticate(options, { counter: 2 }) })
    expect(cloned.statusCode).toBe(401)
    expect(cloned.json().detail).toMatch(/counter went backwards/)
    const [entry] = await auditActions(app, user.id, 'auth.passkey_counter_regressed')
    expect(entry?.details).toMatchObject({ passkey_id: passkey.id, stored_counter: 3, presented_counter: 2 })
    const [row] = await app.db.select().from(passkeys).where(eq(passkeys.id, passkey.id))
    expect(row?.counter).toBe(3)
  })

  it('skips 2FA for a user-verified passkey and asks for it without user verification', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const { authenticator } = await addPasskey(app, user)
    await setUserColumns(app, user.id, { twoFaEnabled: true, twoFaMethod: 'email' })

    const verified = await post(app, `${API}/login/verify`, { response: authenticator.authenticate(await loginOptions(app)) })
    expect(verified.statusCode, verified.body).toBe(200)
    expect(verified.json().access_token).toEqual(expect.any(String))

    const unverified = await post(app, `${API}/login/verify`, { response: authenticator.authenticate(await loginOptions(app), { userVerified: false }) })
    expect(unverified.statusCode, unverified.body).toBe(200)
    expect(unverified.json()).toMatchObject({ requires_2fa: true, method: 'email', challenge_token: expect.any(String) })

    // The passkey that started this sign-in cannot also be its second factor: a stolen key without a PIN stays one factor.
    const challengeToken = unverified.json().challenge_token as string
    const secondOptions = await post(app, `${API}/2fa/options`, { challenge_token: challengeToken })
    const twice = await post(app, '/api/v1/auth/verify-2fa', {
      challenge_token: challengeToken,
      passkey: authenticator.authenticate(secondOptions.statusCode === 200 ? secondOptions.json() : await loginOptions(app), { userVerified: false }),
    })
    expect(twice.statusCode, twice.body).toBe(400)
    expect(twice.json().access_token).toBeUndefined()
  })

  it('answers 2FA with a passkey: `password+passkey`, bound to its challenge, counted with the 2FA tries', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const other = await signedInUser(app)
    const { authenticator } = await addPasskey(app, user)
    const { authenticator: othersAuthenticator } = await addPasskey(app, other)
    await setUserColumns(app, user.id, { twoFaEnabled: true, twoFaMethod: 'totp' })
    const login = async () => {
      const response = await post(app, '/api/v1/auth/login', { username_or_email: user.username, password: user.password })
      return response.json().challenge_token as string
    }

    const challengeToken = await login()
    const options = await post(app, `${API}/2fa/options`, { challenge_token: challengeToken })
    expect(options.statusCode, options.body).toBe(200)
    // Another account's passkey does not answer this user's challenge.
    const foreign = await post(app, '/api/v1/auth/verify-2fa', { challenge_token: challengeToken, passkey: othersAuthenticator.authenticate(options.json()) })
    expect(foreign.statusCode).toBe(401)
    expect(foreign.json().code).toBe('invalid_passkey')

    const fresh = await post(app, `${API}/2fa/options`, { challenge_token: challengeToken })
    // A sign-in passkey challenge is not a second-factor one.
    const signInOptions = await loginOptions(app)
    const wrongPurpose = await post(app, '/api/v1/auth/verify-2fa', { challenge_token: challengeToken, passkey: authenticator.authenticate(signInOptions) })
    expect(wrongPurpose.statusCode).toBe(401)

    const done = await post(app, '/api/v1/auth/verify-2fa', { challenge_token: challengeToken, passkey: authenticator.authenticate(fresh.json()) })
    expect(done.statusCode, done.body).toBe(200)
    expect(await authMethodsOf(app, done.json().access_token)).toEqual(['password+passkey'])

    // Options of one challenge do not finish another.
    const first = await login()
    const firstOptions = (await post(app, `${API}/2fa/options`, { challenge_token: first })).json()
    const second = await login()
    const crossed = await post(app, '/api/v1/auth/verify-2fa', { challenge_token: second, passkey: authenticator.authenticate(firstOptions) })
    expect(crossed.statusCode).toBe(401)

    // Failures use up the challenge's tries: the fifth kills it.
    const counted = await login()
    const statuses: string[] = []
    for (let index = 0; index < 5; index += 1) {
      const bad = await post(app, '/api/v1/auth/verify-2fa', { challenge_token: counted, passkey: authenticator.authenticate({ challenge: 'B'.repeat(43) }) })
      statuses.push(bad.json().code)
    }
    expect(statuses).toEqual(['invalid_passkey', 'invalid_passkey', 'invalid_passkey', 'invalid_passkey', 'invalid_2fa_challenge'])
    expect((await post(app, `${API}/2fa/options`, { challenge_token: counted })).statusCode).toBe(401)
  })
})

describe('passkey management', () => {
  it('renames and removes a passkey; someone else’s is not found', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const other = await signedInUser(app)
    const { passkey } = await addPasskey(app, user)
    const renamed = await app.inject({ method: 'PATCH', url: `${API}/${passkey.id}`, payload: { name: 'Work phone' }, headers: user.headers })
    expect(renamed.statusCode, renamed.body).toBe(200)
    expect(renamed.json().name).toBe('Work phone')
    expect((await app.inject({ method: 'PATCH', url: `${API}/${passkey.id}`, payload: { name: 'Mine now' }, headers: other.headers })).statusCode).toBe(404)
    expect((await app.inject({ method: 'DELETE', url: `${API}/${passkey.id}`, headers: other.headers })).statusCode).toBe(404)
    const removed = await app.inject({ method: 'DELETE', url: `${API}/${passkey.id}`, headers: user.headers })
    expect(removed.statusCode, removed.body).toBe(204)
    expect((await app.inject({ method: 'GET', url: API, headers: user.headers })).json()).toEqual([])
  })

  it('refuses to remove the last passkey of an account without a password or linked identity', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const { passkey, authenticator } = await addPasskey(app, user)
    await setUserColumns(app, user.id, { hasPassword: false })
    const refused = await app.inject({ method: 'DELETE', url: `${API}/${passkey.id}`, headers: user.headers })
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({ code: 'last_sign_in_method', detail: expect.stringMatching(/last way to sign in/) })

    // With a second passkey, the first may go.
    const second = await addPasskey(app, user, authenticator, 'Phone')
    expect((await app.inject({ method: 'DELETE', url: `${API}/${passkey.id}`, headers: user.headers })).statusCode).toBe(204)
    expect((await app.inject({ method: 'DELETE', url: `${API}/${second.passkey.id}`, headers: user.headers })).statusCode).toBe(409)
    // A linked identity is another way in.
    await app.db.insert(userIdentities).values({ userId: user.id, provider: 'github', subject: `s-${user.id}` })
    expect((await app.inject({ method: 'DELETE', url: `${API}/${second.passkey.id}`, headers: user.headers })).statusCode).toBe(204)
  })

  it('re-authenticates with a user-verified passkey', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await signedInUser(app)
    const { authenticator } = await addPasskey(app, user)
    clock.advance(11 * 60_000)
    const options = await post(app, `${API}/reauthenticate/options`, {}, user.headers)
    expect(options.statusCode, options.body).toBe(200)
    expect(options.json().userVerification).toBe('required')
    const unverified = await post(app, '/api/v1/auth/reauthenticate', { passkey: authenticator.authenticate(options.json(), { userVerified: false }) }, user.headers)
    expect(unverified.statusCode).toBe(401)
    expect(unverified.json().code).toBe('invalid_passkey')

    const again = (await post(app, `${API}/reauthenticate/options`, {}, user.headers)).json()
    const proven = await post(app, '/api/v1/auth/reauthenticate', { passkey: authenticator.authenticate(again) }, user.headers)
    expect(proven.statusCode, proven.body).toBe(200)
    const fresh = authHeader(proven.json().access_token)
    expect((await post(app, `${API}/register/options`, {}, fresh)).statusCode).toBe(200)
  })
})

describe.runIf(usingRedis)('passkey challenges across instances (Redis)', () => {
  it('verifies on one instance a challenge issued by another, once', async () => {
    const first = await context.buildApp()
    const second = await context.buildApp()
    const user = await signedInUser(first)
    const { authenticator } = await addPasskey(first, user)
    const options = await loginOptions(first)
    const answer = authenticator.authenticate(options)
    const signedIn = await post(second, `${API}/login/verify`, { response: answer })
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    const replayed = await post(first, `${API}/login/verify`, { response: answer })
    expect(replayed.statusCode).toBe(401)
    expect(replayed.json().detail).toMatch(/already used/)
  })
})

describe('passkey settings', () => {
  it('turns passkeys off when PUBLIC_URL is an IP address and nothing else is set; the rest of the app runs', async () => {
    const app = await context.buildApp({ PUBLIC_URL: 'http://127.0.0.1:8000' })
    const off = await post(app, `${API}/login/options`, {})
    expect(off.statusCode).toBe(404)
    expect(off.json().detail).toMatch(/Passkeys are off.*IP address/)
    const user = await createUser(app)
    expect((await post(app, '/api/v1/auth/login', { username_or_email: user.username, password: user.password })).statusCode).toBe(200)
  })

  it('stops the boot on a bad value that was set, naming the variable', () => {
    const base = { DEBUG: 'true', SECRET_KEY: TEST_SECRET, PUBLIC_URL: 'https://app.example.com' }
    expect(() => loadConfig({ ...base, WEBAUTHN_RP_ID: 'other.example' })).toThrow(/WEBAUTHN_RP_ID/)
    expect(() => loadConfig({ ...base, WEBAUTHN_RP_ID: '10.0.0.1' })).toThrow(/WEBAUTHN_RP_ID.*IP address/)
    expect(() => loadConfig({ ...base, WEBAUTHN_ORIGINS: 'not a url' })).toThrow(/WEBAUTHN_ORIGINS/)
    expect(() => loadConfig({ ...base, WEBAUTHN_ORIGINS: '["https://app.example.com","https://elsewhere.example"]', WEBAUTHN_RP_ID: 'example.com' })).toThrow(/WEBAUTHN_RP_ID/)
    const parent = loadConfig({ ...base, WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://app.example.com,https://example.com', WEBAUTHN_RP_NAME: 'Example' })
    expect(parent.webauthn).toEqual({ enabled: true, rpId: 'example.com', rpName: 'Example', origins: ['https://app.example.com', 'https://example.com'] })
    expect(loadConfig(base).webauthn).toMatchObject({ enabled: true, rpId: 'app.example.com', origins: ['https://app.example.com'] })
  })
})
