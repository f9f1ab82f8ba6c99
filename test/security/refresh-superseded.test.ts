import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { authHeader, controllableClock, createUser, loginAs, signedInUser, type SignedInUser, type TestClock, type TokenPair } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, auditEntries, call, createApiKey } from './attacker.js'

// The refresh retry grace answers a just-rotated token presented again with another pair of the same
// session, and revokes the successor it supersedes. When that retry was a thief's copy, the owner's
// superseded token comes back next: that is the reuse the rotation exists to catch, and it ends the
// session, with the API keys it created, for both holders (attacker review F4).

const context = useTestContext()
let app: App
let clock: TestClock
let admin: SignedInUser

beforeAll(async () => {
  clock = controllableClock()
  app = await context.buildApp({ REFRESH_REUSE_GRACE_SECONDS: '10' }, { now: clock.now })
  admin = await signedInUser(app, 'admin')
})

const refresh = (token: string) => call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: token } })
const me = (headers: Record<string, string>) => call(app, 'GET', '/api/v1/users/me', { headers })

async function rotate(token: string): Promise<TokenPair> {
  const answer = await refresh(token)
  expect(answer.statusCode, answer.body).toBe(200)
  return answer.json() as TokenPair
}

describe('a superseded refresh token presented again', () => {
  it("ends the session and its keys when the owner's token comes back after a copy's retry replaced it", async () => {
    const user = await createUser(app)
    const start = await loginAs(app, user)
    const key = await createApiKey(app, authHeader(start.access_token))
    // The owner rotates; a thief who copied the first token presents it within the grace and gets a pair.
    const owners = await rotate(start.refresh_token)
    clock.advance(2_000)
    const thiefs = await rotate(start.refresh_token)

    // The owner's next refresh, with the token the thief's retry superseded.
    const back = await refresh(owners.refresh_token)
    expect(back.statusCode, back.body).toBe(401)
    expect(back.json().code).toBe('invalid_refresh_token')

    // Both lines of the session are over, and so is the key it created.
    expect((await refresh(thiefs.refresh_token)).statusCode).toBe(401)
    expect((await me(authHeader(thiefs.access_token))).statusCode).toBe(401)
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(401)
    expect(await auditEntries(app, admin.headers, user.id, 'auth.refresh_reuse')).toHaveLength(1)
    expect(await auditEntries(app, admin.headers, user.id, 'auth.refresh_retry')).toHaveLength(1)
  })

  it('still gives a lost answer its retry, and the retried line keeps working', async () => {
    const user = await createUser(app)
    const start = await loginAs(app, user)
    await rotate(start.refresh_token)
    clock.advance(2_000)
    const retried = await rotate(start.refresh_token)
    const next = await rotate(retried.refresh_token)
    expect((await me(authHeader(next.access_token))).statusCode).toBe(200)
    expect(await auditEntries(app, admin.headers, user.id, 'auth.refresh_reuse')).toHaveLength(0)
  })

  it('does not count a token revoked for another reason (signed out, re-authenticated) as reuse', async () => {
    const user = await createUser(app)
    const start = await loginAs(app, user)
    const other = await loginAs(app, user)
    // Re-authenticating revokes the session's earlier refresh tokens: an old tab may still hold one.
    const reauth = await call(app, 'POST', '/api/v1/auth/reauthenticate', { headers: authHeader(start.access_token), payload: { password: user.password } })
    expect(reauth.statusCode, reauth.body).toBe(200)
    expect((await refresh(start.refresh_token)).statusCode).toBe(401)
    expect((await me(authHeader((reauth.json() as TokenPair).access_token))).statusCode).toBe(200)
    expect((await me(authHeader(other.access_token))).statusCode).toBe(200)
    expect(await auditEntries(app, admin.headers, user.id, 'auth.refresh_reuse')).toHaveLength(0)
  })

  it('an old superseded copy found after a plain logout ends nothing: the keys the session made live on', async () => {
    const user = await createUser(app)
    const start = await loginAs(app, user)
    const key = await createApiKey(app, authHeader(start.access_token))
    const lost = await rotate(start.refresh_token)
    clock.advance(2_000)
    const retried = await rotate(start.refresh_token)
    // The owner signs out as usual, which keeps API keys (they are for scripts).
    expect((await call(app, 'POST', '/api/v1/auth/logout', { payload: { refresh_token: retried.refresh_token } })).statusCode).toBeLessThan(300)
    // Later someone presents the superseded copy (from a log or a backup): refused, and nothing more.
    expect((await refresh(lost.refresh_token)).statusCode).toBe(401)
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
    expect(await auditEntries(app, admin.headers, user.id, 'auth.refresh_reuse')).toHaveLength(0)
  })
})
