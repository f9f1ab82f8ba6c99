import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { loginAs, setUserColumns, signedInUser, type SignedInUser, type TestUser } from '../helpers/factories.js'
import { githubSettings, startGitHubStandIn, type GitHubStandIn } from '../helpers/github-stand-in.js'
import { useTestContext } from '../helpers/test-context.js'
import { auditOf, exchange, startLink, startSignIn, walk } from '../oauth/oauth-helpers.js'
import { call, enableEmail2fa, gate, mailedResetToken, mailedSignIn, startTwoFactorLogin } from './attacker.js'

// Attacker review, round 3 (STYLE §14): a sign-in or link started before the owner takes the account back
// (signs out everywhere, resets the password) must not finish afterwards. Each is bound to the account's
// token version when it starts, and refused when it changed, with the error of an expired one.

const context = useTestContext()
let app: App
let github: GitHubStandIn

beforeAll(async () => {
  github = await startGitHubStandIn()
  app = await context.buildApp(githubSettings(github))
})
afterAll(() => github?.close())

/**
 * A signed-in user whose address is verified: for an unverified one a password reset is the first proof
 * of the address, which ends everything anyway (credential-seams.test.ts).
 */
async function verifiedUser(): Promise<SignedInUser> {
  const user = await signedInUser(app)
  await setUserColumns(app, user.id, { emailVerified: true })
  return user
}

type TakeBack = 'logout-all' | 'password reset'

/** The owner takes the account back: signs out everywhere (from a session of their own), or resets the password by mail. */
async function takeBack(user: TestUser & { headers?: Record<string, string> }, how: TakeBack): Promise<void> {
  if (how === 'logout-all') {
    const headers = user.headers ?? { authorization: `Bearer ${(await loginAs(app, user)).access_token}` }
    const response = await call(app, 'POST', '/api/v1/auth/logout-all', { headers })
    expect(response.statusCode, response.body).toBe(200)
    return
  }
  const token = await mailedResetToken(app, user.email)
  const response = await call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token, new_password: `Taken-back-${randomBytes(4).toString('hex')}-9` } })
  expect(response.statusCode, response.body).toBe(200)
}

const verifyEmailSignIn = (payload: Record<string, string>) => call(app, 'POST', '/api/v1/auth/email-login/verify', { payload })

describe.each<TakeBack>(['logout-all', 'password reset'])('flows started before a %s', (how) => {
  it('a sign-in waiting for its second factor cannot be finished', async () => {
    const user = await verifiedUser()
    await enableEmail2fa(app, user)
    const waiting = await startTwoFactorLogin(app, user)

    await takeBack(user, how)

    const refused = await call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: waiting.challenge, code: waiting.code } })
    expect(refused.statusCode, refused.body).toBe(401)
    expect(refused.json().code).toBe('invalid_2fa_challenge')
    // Nor can it be kept alive with a new code.
    const resend = await call(app, 'POST', '/api/v1/auth/resend-2fa', { payload: { challenge_token: waiting.challenge } })
    expect(resend.statusCode, resend.body).toBe(401)
  })

  it('a mailed sign-in link and code cannot be used; one mailed afterwards can', async () => {
    const user = await verifiedUser()
    const mailed = await mailedSignIn(app, user.email)

    await takeBack(user, how)

    const byCode = await verifyEmailSignIn({ email: user.email, code: mailed.code })
    expect(byCode.statusCode, byCode.body).toBe(400)
    expect(byCode.json().code).toBe('invalid_code')
    const byLink = await verifyEmailSignIn({ token: mailed.token })
    expect(byLink.statusCode, byLink.body).toBe(400)
    expect(byLink.json().code).toBe('invalid_or_expired_token')

    const fresh = await mailedSignIn(app, user.email)
    expect((await verifyEmailSignIn({ token: fresh.token })).statusCode).toBe(200)
  })
})

describe('a mailed sign-in used just as the account is taken back (review G5)', () => {
  it('is refused when the take-back commits between the check of the mail and the proof of the address', async () => {
    const user = await verifiedUser()
    const { token } = await mailedSignIn(app, user.email)
    // The link is checked and used up; the proof of the address (which opens the sign-in) is held.
    const held = gate(app.authService, 'proveAddress')
    const using = call(app, 'POST', '/api/v1/auth/email-login/verify', { payload: { token } })
    await held.entered
    await takeBack(user, 'logout-all')
    held.release()
    const used = await using
    expect(used.statusCode, used.body).toBe(400)
    expect(used.json().code).toBe('invalid_or_expired_token')
  })
})

describe('flows started after taking the account back', () => {
  it('a 2FA sign-in started afterwards still finishes', async () => {
    const user = await verifiedUser()
    await enableEmail2fa(app, user)
    await takeBack(user, 'logout-all')
    const fresh = await startTwoFactorLogin(app, user)
    const response = await call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: fresh.challenge, code: fresh.code } })
    expect(response.statusCode, response.body).toBe(200)
  })
})

describe('sign-in provider flows started before a logout-all', () => {
  const identitiesOf = async (headers: Record<string, string>) => (await call(app, 'GET', '/api/v1/auth/identities', { headers })).json() as unknown[]

  it('a link to a provider account started before cannot be confirmed', async () => {
    const owner = await verifiedUser()
    // Whoever was in the account starts linking their own GitHub account to it.
    const started = await startLink(app, 'github', owner.headers)
    expect(started.statusCode, started.body).toBe(200)

    await takeBack(owner, 'logout-all')

    github.next = github.addUser().id
    const landing = await walk(app, 'github', started.json().authorize_url)
    expect(landing.error).toBe('The link with GitHub expired or was already used; start again')
    const fresh = await loginAs(app, owner)
    expect(await identitiesOf({ authorization: `Bearer ${fresh.access_token}` })).toEqual([])
    expect((await auditOf(app, 'auth.oauth_failed', owner.id))[0]?.details).toMatchObject({ provider: 'github', reason: 'invalid_state' })
  })

  it("a provider sign-in's exchange code made before cannot be traded for a session", async () => {
    const owner = await verifiedUser()
    const identity = github.addUser()
    const link = await startLink(app, 'github', owner.headers)
    github.next = identity.id
    expect((await walk(app, 'github', link.json().authorize_url)).url.searchParams.get('linked')).toBe('github')

    github.next = identity.id
    const landing = await walk(app, 'github', await startSignIn(app, 'github'))
    expect(landing.code).toBeTruthy()

    await takeBack(owner, 'logout-all')

    const refused = await exchange(app, landing.code!)
    expect(refused.statusCode, refused.body).toBe(400)
    expect(refused.json().code).toBe('invalid_oauth_code')

    // A sign-in started afterwards works.
    github.next = identity.id
    const again = await walk(app, 'github', await startSignIn(app, 'github'))
    expect((await exchange(app, again.code!)).statusCode).toBe(200)
  })
})
