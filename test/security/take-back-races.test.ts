import { and, eq, isNull } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { apiKeys, passkeys, sessions } from '../../src/db/schema.js'
import { authHeader, loginAs, registerUser, signedInUser, type SignedInUser } from '../helpers/factories.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, call, enableEmail2fa, gate, mailedSignIn, ORIGIN, startTwoFactorLogin, type Answer } from './attacker.js'

// A request that passed its checks (a password, a 2FA code, a live session) before the owner took the
// account back must not add a credential after: each credential-adding transaction re-checks the
// account's token version and, for keys and passkeys, the session that asks (STYLE §14, attacker
// review F2). The races are made deterministic by holding the request at a gate on a service method
// it calls after its checks, letting the take-back commit, then letting the request go on.

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

/** The owner of the address signs in with the mailed code: for an unverified account, its first proof. */
async function proveAddress(email: string): Promise<Answer> {
  const { code } = await mailedSignIn(app, email)
  const answer = await call(app, 'POST', '/api/v1/auth/email-login/verify', { payload: { email, code } })
  expect(answer.statusCode, answer.body).toBe(200)
  return answer
}

const sessionIdOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).sid as string
const liveSessions = (userId: number) => app.db.select({ id: sessions.id }).from(sessions).where(and(eq(sessions.userId, userId), isNull(sessions.endedAt)))
const liveKeys = (userId: number) => app.db.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))

/** The take-backs that end the asking session: each is run while the request waits at its gate. */
const takeBacks: Record<string, (user: SignedInUser) => Promise<void>> = {
  'the first proof of the unverified address': async (user) => {
    await proveAddress(user.email)
  },
  'sign out everywhere (from another session)': async (user) => {
    const other = await loginAs(app, user)
    expect((await call(app, 'POST', '/api/v1/auth/logout-all', { headers: authHeader(other.access_token) })).statusCode).toBe(200)
  },
  'the asking session signed out from the list': async (user) => {
    const other = await loginAs(app, user)
    const answer = await call(app, 'DELETE', `/api/v1/auth/sessions/${sessionIdOf(user.tokens.access_token)}`, { headers: authHeader(other.access_token) })
    expect(answer.statusCode, answer.body).toBe(204)
  },
}

describe('a sign-in finishing across a take-back opens no session', () => {
  it("refuses a password sign-in whose password was checked before the address's owner first proved it", async () => {
    const squatter = await registerUser(app)
    const held = gate(app.attemptLimits, 'reservePassword')
    const login = call(app, 'POST', '/api/v1/auth/login', { payload: { username_or_email: squatter.username, password: squatter.password } })
    await held.entered
    const owner = await proveAddress(squatter.email)
    held.release()

    const answer = await login
    expect(answer.statusCode, answer.body).toBe(401)
    expect(answer.json().code).toBe('invalid_credentials')
    expect((await liveSessions(squatter.id)).map((row) => row.id)).toEqual([sessionIdOf(owner.json().access_token)])
  })

  it('refuses a 2FA code checked before the owner signed out everywhere', async () => {
    const user = await signedInUser(app)
    await enableEmail2fa(app, user)
    const { challenge, code } = await startTwoFactorLogin(app, user)
    const held = gate(app.attemptLimits, 'reserveSecondFactor')
    const verify = call(app, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token: challenge, code } })
    await held.entered
    expect((await call(app, 'POST', '/api/v1/auth/logout-all', { headers: user.headers })).statusCode).toBe(200)
    held.release()

    const answer = await verify
    expect(answer.statusCode, answer.body).toBe(401)
    expect(answer.json().code).toBe('invalid_2fa_challenge')
    expect(await liveSessions(user.id)).toEqual([])
  })
})

describe('an API key asked for across a take-back is not created', () => {
  for (const [name, takeBack] of Object.entries(takeBacks)) {
    it(`refuses the key when ${name} commits while the request is under way`, async () => {
      const user = await signedInUser(app)
      const held = gate(app.apiKeys, 'create')
      const creating = call(app, 'POST', '/api/v1/api-keys/', { headers: user.headers, payload: { name: 'late', scopes: ['read', 'write'] } })
      await held.entered
      await takeBack(user)
      held.release()

      const answer = await creating
      expect(answer.statusCode, answer.body).toBe(401)
      expect(answer.json().code).toBe('not_authenticated')
      expect(await liveKeys(user.id)).toEqual([])
    })
  }

  it('still creates a key when nothing was taken back', async () => {
    const user = await signedInUser(app)
    const created = await call(app, 'POST', '/api/v1/api-keys/', { headers: user.headers, payload: { name: 'fine', scopes: ['read'] } })
    expect(created.statusCode, created.body).toBe(201)
    expect((await call(app, 'GET', '/api/v1/users/me', { headers: apiKeyHeader(created.json().key) })).statusCode).toBe(200)
  })
})

describe('a passkey registered across a take-back is not added', () => {
  for (const [name, takeBack] of Object.entries(takeBacks)) {
    it(`refuses the passkey when ${name} commits while the request is under way`, async () => {
      const user = await signedInUser(app)
      const options = await call(app, 'POST', '/api/v1/auth/passkeys/register/options', { headers: user.headers, payload: {} })
      expect(options.statusCode, options.body).toBe(200)
      const { response } = new SoftwareAuthenticator(ORIGIN).register(options.json())
      const held = gate(app.passkeys, 'register')
      const registering = call(app, 'POST', '/api/v1/auth/passkeys/register/verify', { headers: user.headers, payload: { response, name: 'late' } })
      await held.entered
      await takeBack(user)
      held.release()

      const answer = await registering
      expect(answer.statusCode, answer.body).toBe(401)
      expect(answer.json().code).toBe('not_authenticated')
      expect(await app.db.select().from(passkeys).where(eq(passkeys.userId, user.id))).toEqual([])
    })
  }
})
