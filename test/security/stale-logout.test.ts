import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { authHeader, createUser, type TokenPair } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { signIn } from '../sessions/helpers.js'
import { call } from './attacker.js'

// Attacker review, round 3: a refresh token that was already rotated or revoked is an old copy (a log, a
// backup, a proxy, a shared machine). Presented to POST /auth/logout it must not sign the owner out; the
// answer stays the one every unknown token gets (200, logout is idempotent).

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const logout = (refreshToken: string) => call(app, 'POST', '/api/v1/auth/logout', { payload: { refresh_token: refreshToken } })
const refresh = async (refreshToken: string) => {
  const response = await call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: refreshToken } })
  return { statusCode: response.statusCode, pair: response.statusCode === 200 ? (response.json() as TokenPair) : undefined }
}
const me = async (accessToken: string) => (await call(app, 'GET', '/api/v1/users/me', { headers: authHeader(accessToken) })).statusCode

describe('POST /auth/logout with an old refresh token', () => {
  it('a rotated (used) token does not end the session; the live one still does', async () => {
    const user = await createUser(app)
    const first = await signIn(app, user)
    const { pair: current } = await refresh(first.refresh_token)
    expect(current).toBeDefined()

    const stale = await logout(first.refresh_token)
    expect(stale.statusCode, stale.body).toBe(200)
    expect(stale.json()).toEqual({ detail: 'Logged out' })
    expect(await me(current!.access_token)).toBe(200)
    const next = await refresh(current!.refresh_token)
    expect(next.statusCode).toBe(200)

    // The contract for the live token is unchanged: it ends the session.
    expect((await logout(next.pair!.refresh_token)).statusCode).toBe(200)
    expect(await me(next.pair!.access_token)).toBe(401)
    expect((await refresh(next.pair!.refresh_token)).statusCode).toBe(401)
  })

  it('a revoked token (superseded by a re-authentication) does not end the session', async () => {
    const user = await createUser(app)
    const before = await signIn(app, user)
    const reauthenticated = await call(app, 'POST', '/api/v1/auth/reauthenticate', { headers: authHeader(before.access_token), payload: { password: user.password } })
    expect(reauthenticated.statusCode, reauthenticated.body).toBe(200)
    const after = reauthenticated.json() as TokenPair

    expect((await logout(before.refresh_token)).statusCode).toBe(200)
    expect(await me(after.access_token)).toBe(200)
    expect((await refresh(after.refresh_token)).statusCode).toBe(200)
  })
})
