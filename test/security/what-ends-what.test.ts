import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { recoveryCodes } from '../../src/db/schema.js'
import { totpAt } from '../../src/modules/auth/totp.js'
import {
  VERIFY_EMAIL_SUBJECT,
  authHeader,
  controllableClock,
  loginAs,
  setUserColumns,
  signedInUser,
  tokenFrom,
  uniqueName,
  waitForMail,
  type SignedInUser,
  type TestClock,
  type TokenPair,
} from '../helpers/factories.js'
import { githubSettings, startGitHubStandIn, type GitHubStandIn, type GitHubUser } from '../helpers/github-stand-in.js'
import type { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { useTestContext } from '../helpers/test-context.js'
import { exchange, startLink, startSignIn, walk } from '../oauth/oauth-helpers.js'
import {
  addPasskey,
  apiKeyHeader,
  call,
  createApiKey,
  enableEmail2fa,
  expectReauthenticationRequired,
  mailedResetToken,
  mailedSignIn,
  startTwoFactorLogin,
} from './attacker.js'

// docs/SECURITY.md, "What ends what": the rows that say what a change keeps, and the proof some changes
// need (STYLE §14). What each change ends is tested next to it (credential-seams, credentials-revoked-together,
// session-ending); these are the other half: a credential that should survive must not be swept away too.

const context = useTestContext()
let app: App
let clock: TestClock
let github: GitHubStandIn

beforeAll(async () => {
  clock = controllableClock()
  github = await startGitHubStandIn()
  app = await context.buildApp(githubSettings(github), { now: clock.now })
})
afterAll(() => github?.close())

/** Just past REAUTH_MAX_AGE_SECONDS (600 by default), well within the 30-minute access token. */
const STALE_MS = 601_000

const me = (headers: Record<string, string>) => call(app, 'GET', '/api/v1/users/me', { headers })
const refresh = (refreshToken: string) => call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: refreshToken } })
const listOf = async (url: string, headers: Record<string, string>) => {
  const response = await call(app, 'GET', url, { headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as Record<string, unknown>[]
}

/** Links a new GitHub account to the signed-in caller from the Security page. */
async function linkGitHub(headers: Record<string, string>): Promise<GitHubUser> {
  const started = await startLink(app, 'github', headers)
  expect(started.statusCode, started.body).toBe(200)
  const identity = github.addUser()
  github.next = identity.id
  expect((await walk(app, 'github', started.json().authorize_url)).url.searchParams.get('linked')).toBe('github')
  return identity
}

/** A sign-in with a GitHub account linked to a user without 2FA: the session it opens. */
async function signInWithGitHub(identity: GitHubUser): Promise<TokenPair> {
  github.next = identity.id
  const landing = await walk(app, 'github', await startSignIn(app, 'github'))
  expect(landing.error).toBeNull()
  const response = await exchange(app, landing.code!)
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as TokenPair
}

/** A usernameless passkey sign-in: the session it opens. */
async function signInWithPasskey(authenticator: SoftwareAuthenticator): Promise<TokenPair> {
  const options = await call(app, 'POST', '/api/v1/auth/passkeys/login/options', { payload: {} })
  expect(options.statusCode, options.body).toBe(200)
  const response = await call(app, 'POST', '/api/v1/auth/passkeys/login/verify', { payload: { response: authenticator.authenticate(options.json()), challenge_id: options.json().challenge_id } })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as TokenPair
}

/** The session still works: its access token is accepted and its refresh token still rotates. */
async function expectSessionAlive(tokens: TokenPair, what: string): Promise<void> {
  expect((await me(authHeader(tokens.access_token))).statusCode, `${what}: access token`).toBe(200)
  const rotated = await refresh(tokens.refresh_token)
  expect(rotated.statusCode, `${what}: refresh token: ${rotated.body}`).toBe(200)
}

type Ending = 'logout' | 'logout-all' | 'password change' | 'password reset'

/** The owner ends sessions one of the ordinary ways; answers the password they have afterwards. */
async function end(user: SignedInUser, how: Ending): Promise<string> {
  if (how === 'logout') {
    const response = await call(app, 'POST', '/api/v1/auth/logout', { payload: { refresh_token: user.tokens.refresh_token } })
    expect(response.statusCode, response.body).toBeLessThan(300)
    return user.password
  }
  if (how === 'logout-all') {
    const response = await call(app, 'POST', '/api/v1/auth/logout-all', { headers: user.headers })
    expect(response.statusCode, response.body).toBe(200)
    return user.password
  }
  const password = `${user.password}-changed`
  const response =
    how === 'password change'
      ? await call(app, 'POST', '/api/v1/users/me/password', { headers: user.headers, payload: { current_password: user.password, new_password: password } })
      : await call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token: await mailedResetToken(app, user.email), new_password: password } })
  expect(response.statusCode, response.body).toBe(200)
  return password
}

describe.each<Ending>(['logout', 'logout-all', 'password change', 'password reset'])('a %s', (how) => {
  it('keeps 2FA on, the linked identities and the passkeys', async () => {
    const user = await signedInUser(app)
    // A verified address: for an unverified one a reset is the first proof of it, which ends them all (credential-seams).
    await setUserColumns(app, user.id, { emailVerified: true })
    const identity = await linkGitHub(user.headers)
    const { authenticator } = await addPasskey(app, user.headers)
    await enableEmail2fa(app, user)

    const password = await end(user, how)

    // A password sign-in still stops at the second factor, and the mailed code finishes it.
    const waiting = await startTwoFactorLogin(app, { ...user, password })
    const signedIn = await call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: waiting.challenge, code: waiting.code } })
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    const headers = authHeader((signedIn.json() as TokenPair).access_token)
    expect((await me(headers)).json().two_fa_enabled).toBe(true)
    expect(await listOf('/api/v1/auth/identities', headers)).toEqual([expect.objectContaining({ provider: 'github', email: identity.emails[0]!.email })])
    expect(await listOf('/api/v1/auth/passkeys', headers)).toEqual([expect.objectContaining({ name: 'My laptop' })])
    // The passkey still signs in.
    expect((await me(authHeader((await signInWithPasskey(authenticator)).access_token))).json().id).toBe(user.id)
  })
})

describe("an administrator changing a user's email", () => {
  it("keeps that user's sessions, access tokens, API keys and 2FA", async () => {
    const user = await signedInUser(app)
    const otherSession = await loginAs(app, user)
    const key = await createApiKey(app, user.headers)
    await enableEmail2fa(app, user)
    const admin = await signedInUser(app, 'admin')
    const moved = `${uniqueName('moved')}@example.com`

    const changed = await call(app, 'PUT', `/api/v1/users/update/${user.id}`, { headers: admin.headers, payload: { email: moved } })
    expect(changed.statusCode, changed.body).toBe(200)

    const mine = await me(user.headers)
    expect(mine.statusCode, mine.body).toBe(200)
    expect(mine.json()).toMatchObject({ email: moved, two_fa_enabled: true })
    await expectSessionAlive(user.tokens, 'the session that was open')
    await expectSessionAlive(otherSession, 'another session')
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
    expect(await listOf('/api/v1/api-keys/', user.headers)).toEqual([expect.objectContaining({ id: key.id, revoked_at: null })])
  })

  it('ends the links mailed to the old address: verification, password reset and email sign-in', async () => {
    const user = await signedInUser(app)
    const verifyToken = tokenFrom(await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT }))
    const resetToken = await mailedResetToken(app, user.email)
    const signIn = await mailedSignIn(app, user.email)
    const admin = await signedInUser(app, 'admin')

    const changed = await call(app, 'PUT', `/api/v1/users/update/${user.id}`, { headers: admin.headers, payload: { email: `${uniqueName('moved')}@example.com` } })
    expect(changed.statusCode, changed.body).toBe(200)

    // Whoever reads the old mailbox can no longer vouch for the account, reset it, or sign in to it.
    const verified = await call(app, 'POST', '/api/v1/auth/verify-email', { payload: { token: verifyToken } })
    expect(verified.statusCode, verified.body).toBe(400)
    const reset = await call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token: resetToken, new_password: 'Taken-over-passphrase-1' } })
    expect(reset.statusCode, reset.body).toBe(400)
    const byLink = await call(app, 'POST', '/api/v1/auth/email-login/verify', { payload: { token: signIn.token } })
    expect(byLink.statusCode, byLink.body).toBe(400)
    expect(byLink.json().code).toBe('invalid_or_expired_token')

    // The account is as the administrator left it: the new address still unproven, the owner still signed in.
    const mine = await me(user.headers)
    expect(mine.statusCode, mine.body).toBe(200)
    expect(mine.json()).toMatchObject({ email_verified: false })
  })
})

describe('2FA turned off', () => {
  it('deletes the recovery codes, keeps the sessions and keys, and turning it on again does not revive the old codes', async () => {
    const user = await signedInUser(app)
    const oldCodes = await enableEmail2fa(app, user)
    const key = await createApiKey(app, user.headers)

    const off = await call(app, 'POST', '/api/v1/auth/disable-2fa', { headers: user.headers, payload: { password: user.password } })
    expect(off.statusCode, off.body).toBe(200)

    expect(await app.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, user.id))).toEqual([])
    await expectSessionAlive(user.tokens, 'the session')
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)

    // On again with an authenticator app, which keeps the unused codes of an earlier setup: there are none.
    const setup = await call(app, 'POST', '/api/v1/auth/totp/setup', { headers: user.headers })
    expect(setup.statusCode, setup.body).toBe(200)
    const on = await call(app, 'POST', '/api/v1/auth/totp/confirm', { headers: user.headers, payload: { code: totpAt(setup.json().secret, clock.current()) } })
    expect(on.statusCode, on.body).toBe(200)

    const started = await call(app, 'POST', '/api/v1/auth/login', { payload: { username_or_email: user.username, password: user.password } })
    const challenge = started.json().challenge_token as string
    expect(challenge, started.body).toEqual(expect.any(String))
    const withOld = await call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: challenge, code: oldCodes[0] } })
    expect(withOld.statusCode, withOld.body).toBe(401)
    // A new set comes instead, and it works.
    const newCodes = on.json().recovery_codes as string[]
    expect(newCodes).toHaveLength(10)
    const withNew = await call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: challenge, code: newCodes[0] } })
    expect(withNew.statusCode, withNew.body).toBe(200)
  })
})

describe('a passkey removed', () => {
  it('needs a fresh proof; the sessions it opened stay', async () => {
    const user = await signedInUser(app)
    const { passkey, authenticator } = await addPasskey(app, user.headers)
    const opened = await signInWithPasskey(authenticator)
    clock.advance(STALE_MS)

    const remove = (payload?: Record<string, unknown>) => call(app, 'DELETE', `/api/v1/auth/passkeys/${passkey.id}`, { headers: user.headers, ...(payload ? { payload } : {}) })
    expectReauthenticationRequired(await remove(), 'a stale session removing a passkey')
    expect(await listOf('/api/v1/auth/passkeys', user.headers)).toEqual([expect.objectContaining({ id: passkey.id })])

    const removed = await remove({ password: user.password })
    expect(removed.statusCode, removed.body).toBe(204)
    expect(await listOf('/api/v1/auth/passkeys', user.headers)).toEqual([])
    await expectSessionAlive(opened, 'the session the passkey opened')
  })
})

describe('an identity unlinked', () => {
  it('needs a fresh proof; the sessions, the one it opened too, and the API keys stay', async () => {
    const user = await signedInUser(app)
    const identity = await linkGitHub(user.headers)
    const key = await createApiKey(app, user.headers)
    const opened = await signInWithGitHub(identity)
    const [linked] = await listOf('/api/v1/auth/identities', user.headers)
    clock.advance(STALE_MS)

    const unlink = (payload?: Record<string, unknown>) => call(app, 'DELETE', `/api/v1/auth/identities/${linked!.id}`, { headers: user.headers, ...(payload ? { payload } : {}) })
    expectReauthenticationRequired(await unlink(), 'a stale session unlinking an identity')
    expect(await listOf('/api/v1/auth/identities', user.headers)).toHaveLength(1)

    const unlinked = await unlink({ password: user.password })
    expect(unlinked.statusCode, unlinked.body).toBe(200)
    expect(await listOf('/api/v1/auth/identities', user.headers)).toEqual([])
    await expectSessionAlive(opened, 'the session the identity opened')
    await expectSessionAlive(user.tokens, 'the password session')
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
  })
})
