import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { passkeys, userIdentities } from '../../src/db/schema.js'
import {
  authHeader,
  controllableClock,
  createUser,
  loginAs,
  registerUser,
  setUserColumns,
  signedInUser,
  uniqueName,
  userRow,
  waitForMail,
  type SignedInUser,
  type TokenPair,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, auditEntries, call, createApiKey, mailedSignIn, mailIds } from './attacker.js'

// Attacker review, round 2: for every change to one credential, what happens to the others (STYLE §14).

const context = useTestContext()
let app: App
let admin: SignedInUser

beforeAll(async () => {
  app = await context.buildApp()
  admin = await signedInUser(app, 'admin')
})

const me = (headers: Record<string, string>) => call(app, 'GET', '/api/v1/users/me', { headers })
const refresh = (token: string) => call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: token } })
const sessionIdOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).sid as string

async function emailSignIn(email: string): Promise<TokenPair> {
  const { code } = await mailedSignIn(app, email)
  const response = await call(app, 'POST', '/api/v1/auth/email-login/verify', { payload: { email, code } })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as TokenPair
}

describe('the first proof of an unverified address (account pre-hijacking)', () => {
  it("ends everything the account's first registrant set up when the address's owner signs in by email", async () => {
    // Someone registers the victim's address, never verifies it, and sets up every way back in.
    const squatter = await registerUser(app)
    expect((await userRow(app, squatter.id))?.emailVerified).toBe(false)
    const first = await loginAs(app, squatter)
    const second = await loginAs(app, squatter)
    const key = await createApiKey(app, authHeader(first.access_token))
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
    await app.db.insert(passkeys).values({ userId: squatter.id, credentialId: uniqueName('cred'), publicKey: 'pk', deviceType: 'singleDevice', name: 'squatter' })
    await app.db.insert(userIdentities).values({ userId: squatter.id, provider: 'acme', subject: uniqueName('sub'), email: squatter.email })

    // The address's owner signs in with the code mailed to it.
    const owner = await emailSignIn(squatter.email)

    expect((await me(authHeader(owner.access_token))).statusCode).toBe(200)
    const row = await userRow(app, squatter.id)
    expect(row).toMatchObject({ emailVerified: true, hasPassword: false })
    expect((await call(app, 'POST', '/api/v1/auth/login', { payload: { username_or_email: squatter.username, password: squatter.password } })).statusCode).toBe(401)
    for (const tokens of [first, second]) {
      expect((await me(authHeader(tokens.access_token))).statusCode).toBe(401)
      expect((await refresh(tokens.refresh_token)).statusCode).toBe(401)
    }
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(401)
    expect(await app.db.select().from(passkeys).where(eq(passkeys.userId, squatter.id))).toEqual([])
    expect(await app.db.select().from(userIdentities).where(eq(userIdentities.userId, squatter.id))).toEqual([])
    const entries = await auditEntries(app, admin.headers, squatter.id, 'auth.credentials_reset_on_address_proof')
    expect(entries).toHaveLength(1)
    expect(entries[0]!.details).toMatchObject({ by: 'email_code', had_password: true, sessions_ended: 2, passkeys_removed: 1, identities_removed: 1 })
    // The owner's own session is the only one left.
    const sessions = (await call(app, 'GET', '/api/v1/auth/sessions', { headers: authHeader(owner.access_token) })).json() as { id: string }[]
    expect(sessions.map((session) => session.id)).toEqual([sessionIdOf(owner.access_token)])
  })

  it('keeps the sessions, password and keys of an account whose address was already verified', async () => {
    const user = await signedInUser(app)
    await setUserColumns(app, user.id, { emailVerified: true })
    const key = await createApiKey(app, user.headers)
    await emailSignIn(user.email)
    expect((await me(user.headers)).statusCode).toBe(200)
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
    expect((await loginAs(app, user)).access_token).toEqual(expect.any(String))
  })
})

describe('an API key', () => {
  it('is mailed to its owner when created: its name and prefix, never the key', async () => {
    const user = await signedInUser(app)
    const seen = await mailIds(app, user.email)
    const response = await call(app, 'POST', '/api/v1/api-keys/', { headers: user.headers, payload: { name: 'deploy-bot', scopes: ['read'] } })
    expect(response.statusCode, response.body).toBe(201)
    const { key, prefix } = response.json() as { key: string; prefix: string }
    const mail = await waitForMail(app, user.email, { subject: /API key was created/i, exclude: seen })
    expect(mail.text).toContain('deploy-bot')
    expect(mail.text).toContain(prefix)
    expect(mail.text).not.toContain(key)
    expect(mail.html).not.toContain(key.slice(prefix.length))
  })

  it('dies with the session that created it when that session is signed out from the sessions list', async () => {
    const user = await signedInUser(app)
    const other = await loginAs(app, user)
    const fromOther = await createApiKey(app, authHeader(other.access_token))
    const fromMine = await createApiKey(app, user.headers)
    expect((await me(apiKeyHeader(fromOther.key))).statusCode).toBe(200)

    const ended = await call(app, 'DELETE', `/api/v1/auth/sessions/${sessionIdOf(other.access_token)}`, { headers: user.headers })
    expect(ended.statusCode, ended.body).toBe(204)

    expect((await me(apiKeyHeader(fromOther.key))).statusCode).toBe(401)
    expect((await me(apiKeyHeader(fromMine.key))).statusCode).toBe(200)
    const entries = await auditEntries(app, admin.headers, user.id, 'api_key.revoke')
    expect(entries.map((entry) => entry.details)).toContainEqual(expect.objectContaining({ api_key_id: fromOther.id, reason: 'session_revoked' }))
  })

  it('dies with its session when the owner signs out every other session, or changes the password elsewhere', async () => {
    const user = await signedInUser(app)
    for (const end of ['others', 'password'] as const) {
      const stolen = await loginAs(app, user)
      const key = await createApiKey(app, authHeader(stolen.access_token))
      expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
      const fresh = await loginAs(app, user)
      const response =
        end === 'others'
          ? await call(app, 'DELETE', '/api/v1/auth/sessions/', { headers: authHeader(fresh.access_token) })
          : await call(app, 'POST', '/api/v1/users/me/password', {
              headers: authHeader(fresh.access_token),
              payload: { current_password: user.password, new_password: `${user.password}-x` },
            })
      expect(response.statusCode, response.body).toBeLessThan(300)
      if (end === 'password') user.password = `${user.password}-x`
      expect((await me(apiKeyHeader(key.key))).statusCode, end).toBe(401)
    }
  })

  it("outlives an ordinary logout of the session that created it (keys are for scripts)", async () => {
    const user = await signedInUser(app)
    const key = await createApiKey(app, user.headers)
    expect((await call(app, 'POST', '/api/v1/auth/logout', { payload: { refresh_token: user.tokens.refresh_token } })).statusCode).toBeLessThan(300)
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
  })
})

describe('refresh token lines', () => {
  it('a retry within the grace revokes the replacement it supersedes: one session, one line of tokens', async () => {
    const user = await createUser(app)
    const start = await loginAs(app, user)
    const firstAnswer = await refresh(start.refresh_token)
    expect(firstAnswer.statusCode).toBe(200)
    const retried = await refresh(start.refresh_token)
    expect(retried.statusCode, retried.body).toBe(200)
    const lost = firstAnswer.json() as TokenPair
    const kept = retried.json() as TokenPair
    // The line goes on from the retry's answer, in the same session.
    const next = await refresh(kept.refresh_token)
    expect(next.statusCode, next.body).toBe(200)
    expect(sessionIdOf((next.json() as TokenPair).access_token)).toBe(sessionIdOf(start.access_token))
    // The first replacement, which the client never saw, is dead; presented anyway, someone holds a
    // copy of it: that is reuse, and the session ends (refresh-superseded.test.ts has the details).
    expect((await refresh(lost.refresh_token)).statusCode).toBe(401)
    expect((await refresh((next.json() as TokenPair).refresh_token)).statusCode).toBe(401)
  })

  it("a password change gives the caller's session a new line: its earlier refresh tokens stop working", async () => {
    const user = await signedInUser(app)
    const response = await call(app, 'POST', '/api/v1/users/me/password', {
      headers: user.headers,
      payload: { current_password: user.password, new_password: `${user.password}-new` },
    })
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json() as TokenPair & { detail: string }
    expect(body).toMatchObject({ detail: expect.any(String), access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer' })
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(401)
    const next = await refresh(body.refresh_token)
    expect(next.statusCode, next.body).toBe(200)
    expect(sessionIdOf((next.json() as TokenPair).access_token)).toBe(sessionIdOf(user.tokens.access_token))
  })
})

describe("an administrator changing another user's email", () => {
  it('needs a recent proof: a stale session gets reauthentication_required, an API key session_required', async () => {
    const clock = controllableClock()
    const local = await context.buildApp({ REAUTH_MAX_AGE_SECONDS: '60' }, { now: clock.now })
    const boss = await createUser(local, 'admin')
    const bossTokens = await loginAs(local, boss)
    const key = await createApiKey(local, authHeader(bossTokens.access_token))
    const target = await createUser(local)
    const change = (headers: Record<string, string>, payload: Record<string, unknown>) =>
      call(local, 'PUT', `/api/v1/users/update/${target.id}`, { headers, payload })
    // A refresh keeps the session's proof time: two minutes on, the admin's session is stale.
    clock.advance(120_000)
    const stale = await local.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: bossTokens.refresh_token } })
    const staleHeaders = authHeader((stale.json() as TokenPair).access_token)

    const refused = await change(staleHeaders, { email: `${uniqueName('moved')}@example.com` })
    expect(refused.statusCode).toBe(403)
    expect(refused.json().code).toBe('reauthentication_required')
    const byKey = await change(apiKeyHeader(key.key), { email: `${uniqueName('moved')}@example.com` })
    expect(byKey.statusCode).toBe(403)
    expect(byKey.json().code).toBe('session_required')
    // Other fields stay open to a write key and a stale session, as before.
    expect((await change(apiKeyHeader(key.key), { first_name: 'Renamed' })).statusCode).toBe(200)
    expect((await userRow(local, target.id))?.email).toBe(target.email)

    const newEmail = `${uniqueName('moved')}@example.com`
    const proven = await change(staleHeaders, { email: newEmail, password: boss.password })
    expect(proven.statusCode, proven.body).toBe(200)
    expect((await userRow(local, target.id))?.email).toBe(newEmail)
    const notice = await waitForMail(local, target.email, { subject: /email/i })
    expect(notice.text).toMatch(/administrator/i)
  })
})
