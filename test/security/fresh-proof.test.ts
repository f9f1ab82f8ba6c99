import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { totpAt } from '../../src/modules/auth/totp.js'
import { authHeader, controllableClock, loginAs, signedInUser, uniqueName, type SignedInUser, type TestClock, type TokenPair } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, call, createApiKey, enableEmail2fa, expectReauthenticationRequired, startTwoFactorLogin, type Answer } from './attacker.js'

// Issue #14 point 3 and "Fresh proof": a token thief holds a session whose last proof is old. Every
// action that would let them keep the account (rebind 2FA, mint a key, move the address) must ask for
// a proof the thief does not have.

const context = useTestContext()
let clock: TestClock
let app: App

beforeAll(async () => {
  clock = controllableClock()
  app = await context.buildApp({}, { now: clock.now })
})

/** Just past REAUTH_MAX_AGE_SECONDS (600 by default), well within the 30-minute access token. */
const STALE_MS = 601_000
const WRONG_PASSWORD = 'Not-the-password-123'

const post = (url: string, headers: Record<string, string>, payload?: unknown) => call(app, 'POST', url, { headers, ...(payload === undefined ? {} : { payload }) })
const changeOwnEmail = (user: { id: number }, headers: Record<string, string>, extra: Record<string, unknown> = {}) =>
  call(app, 'PUT', `/api/v1/users/update/${user.id}`, { headers, payload: { email: `${uniqueName('moved')}@example.com`, ...extra } })
const me = async (headers: Record<string, string>) => (await call(app, 'GET', '/api/v1/users/me', { headers })).json()
const someCode = () => totpAt('JBSWY3DPEHPK3PXP', clock.current())

/** The sensitive actions whose body has no required password: without a fresh proof they answer reauthentication_required. */
const withoutRequiredPassword: Array<[string, (user: SignedInUser, headers: Record<string, string>) => Promise<Answer>]> = [
  ['totp/setup', (_user, headers) => post('/api/v1/auth/totp/setup', headers)],
  ['totp/confirm', (_user, headers) => post('/api/v1/auth/totp/confirm', headers, { code: someCode() })],
  ['enable-2fa (mail a code)', (_user, headers) => post('/api/v1/auth/enable-2fa', headers)],
  ['enable-2fa (confirm a code)', (_user, headers) => post('/api/v1/auth/enable-2fa', headers, { code: '123456' })],
  ['POST /api-keys', (_user, headers) => post('/api/v1/api-keys/', headers, { name: 'persistence' })],
  ['own email change', (user, headers) => changeOwnEmail(user, headers)],
]

/** A user who signed in, then whose token went stale: what a thief replays later. */
async function staleUser(): Promise<SignedInUser> {
  const user = await signedInUser(app)
  clock.advance(STALE_MS)
  return user
}

describe('a stolen token whose proof is older than REAUTH_MAX_AGE_SECONDS', () => {
  it.each(withoutRequiredPassword)('gets 403 reauthentication_required at %s, and nothing changes', async (name, send) => {
    const user = await staleUser()
    expectReauthenticationRequired(await send(user, user.headers), name)
    expect(await me(user.headers)).toMatchObject({ email: user.email, pending_email: null, two_fa_enabled: false })
    expect((await call(app, 'GET', '/api/v1/api-keys/', { headers: user.headers })).json()).toEqual([])
  })

  it('cannot pass any sensitive action with a wrong password (400): recovery codes, 2FA, keys and the address stay as they were', async () => {
    const user = await signedInUser(app)
    const recoveryCodes = await enableEmail2fa(app, user)
    clock.advance(STALE_MS)

    const guesses: Array<[string, Promise<Answer>]> = [
      ['recovery-codes', post('/api/v1/auth/recovery-codes', user.headers, { password: WRONG_PASSWORD })],
      ['disable-2fa', post('/api/v1/auth/disable-2fa', user.headers, { password: WRONG_PASSWORD })],
      ['totp/setup', post('/api/v1/auth/totp/setup', user.headers, { password: WRONG_PASSWORD })],
      ['POST /api-keys', post('/api/v1/api-keys/', user.headers, { name: 'guess', password: WRONG_PASSWORD })],
      ['own email change', changeOwnEmail(user, user.headers, { password: WRONG_PASSWORD })],
    ]
    for (const [name, pending] of guesses) {
      const response = await pending
      expect(response.statusCode, `${name}: ${response.body}`).toBe(400)
    }
    expect(await me(user.headers)).toMatchObject({ two_fa_enabled: true, two_fa_method: 'email', pending_email: null })
    expect((await call(app, 'GET', '/api/v1/api-keys/', { headers: user.headers })).json()).toEqual([])
    // The old recovery codes were not replaced: one still finishes a login.
    const { challenge } = await startTwoFactorLogin(app, user)
    expect((await call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: challenge, code: recoveryCodes[0] } })).statusCode).toBe(200)
    // What is not sensitive still works with the stale token.
    expect((await call(app, 'PUT', `/api/v1/users/update/${user.id}`, { headers: user.headers, payload: { first_name: 'Still' } })).statusCode).toBe(200)
  })
})

describe('the password in the same request', () => {
  it('proves the caller there and then at every sensitive action', async () => {
    const user = await staleUser()
    const password = user.password
    const setup = await post('/api/v1/auth/totp/setup', user.headers, { password })
    expect(setup.statusCode, setup.body).toBe(200)
    const { secret } = setup.json() as { secret: string }
    const confirm = await post('/api/v1/auth/totp/confirm', user.headers, { code: totpAt(secret, clock.current()), password })
    expect(confirm.statusCode, confirm.body).toBe(200)
    expect(confirm.json()).toMatchObject({ two_fa_enabled: true, method: 'totp' })

    const codes = await post('/api/v1/auth/recovery-codes', user.headers, { password })
    expect(codes.statusCode, codes.body).toBe(200)
    expect(codes.json().recovery_codes).toHaveLength(10)
    expect((await post('/api/v1/api-keys/', user.headers, { name: 'proved', password })).statusCode).toBe(201)
    const moved = await changeOwnEmail(user, user.headers, { password })
    expect(moved.statusCode, moved.body).toBe(200)
    expect(moved.json().pending_email).toEqual(expect.any(String))
    // Switching from the authenticator to emailed codes starts with a mailed code.
    const enable = await post('/api/v1/auth/enable-2fa', user.headers, { password })
    expect(enable.statusCode, enable.body).toBe(200)
    expect(enable.json()).toMatchObject({ confirmation_required: true })
    const disable = await post('/api/v1/auth/disable-2fa', user.headers, { password })
    expect(disable.statusCode, disable.body).toBe(200)
    expect(await me(user.headers)).toMatchObject({ two_fa_enabled: false })
  })

  it('is refused with 400 when wrong, even on a fresh session', async () => {
    const user = await signedInUser(app)
    expect((await post('/api/v1/api-keys/', user.headers, { name: 'guess', password: WRONG_PASSWORD })).statusCode).toBe(400)
    expect((await post('/api/v1/auth/totp/setup', user.headers, { password: WRONG_PASSWORD })).statusCode).toBe(400)
    expect((await changeOwnEmail(user, user.headers, { password: WRONG_PASSWORD })).statusCode).toBe(400)
    expect(await me(user.headers)).toMatchObject({ pending_email: null })
  })
})

describe('POST /auth/reauthenticate', () => {
  it('with the password answers a token pair whose access token passes every sensitive action', async () => {
    const user = await staleUser()
    const response = await post('/api/v1/auth/reauthenticate', user.headers, { password: user.password })
    expect(response.statusCode, response.body).toBe(200)
    const pair = response.json() as TokenPair
    expect(pair).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: expect.any(Number) })
    const fresh = authHeader(pair.access_token)

    const setup = await post('/api/v1/auth/totp/setup', fresh)
    expect(setup.statusCode, setup.body).toBe(200)
    const confirm = await post('/api/v1/auth/totp/confirm', fresh, { code: totpAt(setup.json().secret, clock.current()) })
    expect(confirm.statusCode, confirm.body).toBe(200)
    expect((await post('/api/v1/auth/enable-2fa', fresh)).statusCode).toBe(200)
    expect((await post('/api/v1/api-keys/', fresh, { name: 'after reauth' })).statusCode).toBe(201)
    expect((await changeOwnEmail(user, fresh)).statusCode).toBe(200)
    // The stale token it replaced did not become fresh.
    expectReauthenticationRequired(await post('/api/v1/api-keys/', user.headers, { name: 'old token' }), 'old token after reauthenticate')
  })

  it('with a wrong password answers 400 and issues nothing', async () => {
    const user = await staleUser()
    const response = await post('/api/v1/auth/reauthenticate', user.headers, { password: WRONG_PASSWORD })
    expect(response.statusCode, response.body).toBe(400)
    expect(response.body).not.toContain('access_token')
  })

  it('with a recovery code is a proof for a 2FA user, and the code is used up', async () => {
    const user = await signedInUser(app)
    const recoveryCodes = await enableEmail2fa(app, user)
    clock.advance(STALE_MS)
    const response = await post('/api/v1/auth/reauthenticate', user.headers, { code: recoveryCodes[0] })
    expect(response.statusCode, response.body).toBe(200)
    expect((await post('/api/v1/api-keys/', authHeader(response.json().access_token), { name: 'after code' })).statusCode).toBe(201)
    expect((await post('/api/v1/auth/reauthenticate', user.headers, { code: recoveryCodes[0] })).statusCode).toBe(400)
  })

  it('cannot revive a session that was signed out (401), though its access token has not expired', async () => {
    const user = await signedInUser(app)
    expect((await call(app, 'POST', '/api/v1/auth/logout', { payload: { refresh_token: user.tokens.refresh_token } })).statusCode).toBe(200)
    const response = await post('/api/v1/auth/reauthenticate', user.headers, { password: user.password })
    expect(response.statusCode, response.body).toBe(401)
    expect(response.body).not.toContain('access_token')
  })

  it('cannot revive a session ended by logout-all (401)', async () => {
    const user = await signedInUser(app)
    const other = await loginAs(app, user)
    expect((await post('/api/v1/auth/logout-all', authHeader(other.access_token))).statusCode).toBe(200)
    expect((await post('/api/v1/auth/reauthenticate', user.headers, { password: user.password })).statusCode).toBe(401)
  })

  it("revokes the session's earlier refresh token, so a copy of it cannot mint tokens any more", async () => {
    const user = await staleUser()
    expect((await post('/api/v1/auth/reauthenticate', user.headers, { password: user.password })).statusCode).toBe(200)
    expect((await call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: user.tokens.refresh_token } })).statusCode).toBe(401)
  })
})

describe('a refresh', () => {
  it('does not make a stale session fresh again: the refreshed token still gets 403', async () => {
    const user = await staleUser()
    const refreshed = await call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: user.tokens.refresh_token } })
    expect(refreshed.statusCode, refreshed.body).toBe(200)
    const headers = authHeader(refreshed.json().access_token)
    for (const [name, send] of withoutRequiredPassword) expectReauthenticationRequired(await send(user, headers), `${name} after refresh`)
  })

  it('keeps the proof time of a re-authentication, which then ages like any other', async () => {
    const user = await staleUser()
    const reauth = (await post('/api/v1/auth/reauthenticate', user.headers, { password: user.password })).json() as TokenPair
    clock.advance(60_000)
    const refreshed = (await call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: reauth.refresh_token } })).json() as TokenPair
    expect((await post('/api/v1/api-keys/', authHeader(refreshed.access_token), { name: 'within window' })).statusCode).toBe(201)
    clock.advance(STALE_MS)
    const later = (await call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: refreshed.refresh_token } })).json() as TokenPair
    expectReauthenticationRequired(await post('/api/v1/api-keys/', authHeader(later.access_token), { name: 'too late' }), 'refreshed after the window')
  })
})

describe('the freshness window', () => {
  it('is REAUTH_MAX_AGE_SECONDS, 600 by default: 590 s after sign-in passes, 611 s does not', async () => {
    const user = await signedInUser(app)
    clock.advance(590_000)
    expect((await post('/api/v1/api-keys/', user.headers, { name: 'in time' })).statusCode).toBe(201)
    clock.advance(21_000)
    expectReauthenticationRequired(await post('/api/v1/api-keys/', user.headers, { name: 'late' }), 'after 611 s')
  })

  it('follows REAUTH_MAX_AGE_SECONDS', async () => {
    const strictClock = controllableClock()
    const strict = await context.buildApp({ REAUTH_MAX_AGE_SECONDS: '60' }, { now: strictClock.now })
    const user = await signedInUser(strict)
    strictClock.advance(61_000)
    expectReauthenticationRequired(await call(strict, 'POST', '/api/v1/api-keys/', { headers: user.headers, payload: { name: 'late' } }), 'after 61 s of 60')
  })

  it('counts a completed 2FA login as a proof', async () => {
    const user = await signedInUser(app)
    await enableEmail2fa(app, user)
    clock.advance(STALE_MS)
    expectReauthenticationRequired(await post('/api/v1/api-keys/', user.headers, { name: 'stale' }), 'before the new login')
    const { challenge, code } = await startTwoFactorLogin(app, user)
    const verified = await call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: challenge, code } })
    expect(verified.statusCode, verified.body).toBe(200)
    expect((await post('/api/v1/api-keys/', authHeader(verified.json().access_token), { name: 'after 2fa' })).statusCode).toBe(201)
  })
})

describe('an API key', () => {
  it('is refused (403) at every sensitive action and at reauthenticate, even with the right password in the body', async () => {
    const user = await signedInUser(app)
    const { key } = await createApiKey(app, user.headers, ['read', 'write'])
    const headers = apiKeyHeader(key)
    const password = user.password
    const attempts: Array<[string, Promise<Answer>]> = [
      ['totp/setup', post('/api/v1/auth/totp/setup', headers, { password })],
      ['totp/confirm', post('/api/v1/auth/totp/confirm', headers, { code: someCode(), password })],
      ['enable-2fa', post('/api/v1/auth/enable-2fa', headers, { password })],
      ['recovery-codes', post('/api/v1/auth/recovery-codes', headers, { password })],
      ['disable-2fa', post('/api/v1/auth/disable-2fa', headers, { password })],
      ['POST /api-keys', post('/api/v1/api-keys/', headers, { name: 'minted by a key', password })],
      ['own email change', changeOwnEmail(user, headers, { password })],
      ['reauthenticate', post('/api/v1/auth/reauthenticate', headers, { password })],
    ]
    for (const [name, pending] of attempts) {
      const response = await pending
      expect(response.statusCode, `${name}: ${response.body}`).toBe(403)
      expect(response.body, name).not.toContain('access_token')
    }
    expect((await call(app, 'GET', '/api/v1/api-keys/', { headers: user.headers })).json()).toHaveLength(1)
    expect(await me(user.headers)).toMatchObject({ email: user.email, pending_email: null, two_fa_enabled: false })
  })
})

describe("the seed's flow", () => {
  it('log in, then POST /auth/enable-2fa with no body, mails a code because the login is the proof; the same call 10 minutes later needs one', async () => {
    const user = await signedInUser(app)
    const response = await post('/api/v1/auth/enable-2fa', user.headers)
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ two_fa_enabled: false, confirmation_required: true })
    // curl with -H 'Content-Type: application/json' and no data sends an empty JSON body.
    const tokens = await loginAs(app, user)
    const curlLike = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/enable-2fa',
      headers: { ...authHeader(tokens.access_token), 'content-type': 'application/json' },
      payload: '',
    })
    expect(curlLike.statusCode, curlLike.body).toBe(200)
    clock.advance(STALE_MS)
    expectReauthenticationRequired(await post('/api/v1/auth/enable-2fa', authHeader(tokens.access_token)), 'the seed call after 601 s')
  })
})
