import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { loginAs, signedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

// Attacker review F12: a deactivation ends every way into the account, and reactivating the account brings
// none of them back: not its sessions (refresh tokens), not its access tokens, and not its API keys.

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const setActive = async (adminHeaders: Record<string, string>, userId: number, active: boolean) => {
  const response = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${userId}`, headers: adminHeaders, payload: { is_active: active } })
  expect(response.statusCode, response.body).toBe(200)
}
const meWith = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/api/v1/users/me', headers })

describe('deactivating a user', () => {
  it('revokes their API keys, sessions and access tokens; reactivating revives none of them', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await signedInUser(app)
    const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys/', headers: user.headers, payload: { name: 'script', scopes: ['write'] } })
    expect(created.statusCode, created.body).toBe(201)
    const key = { 'x-api-key': created.json().key as string }
    expect((await meWith(key)).statusCode).toBe(200)

    await setActive(admin.headers, user.id, false)
    expect((await meWith(key)).statusCode).toBe(401)
    await setActive(admin.headers, user.id, true)

    expect((await meWith(key)).statusCode, 'the API key after reactivation').toBe(401)
    expect((await meWith(user.headers)).statusCode, 'the access token after reactivation').toBe(401)
    const refreshed = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
    expect(refreshed.statusCode, 'the refresh token after reactivation').toBe(401)

    // The owner signs in again and sees the key revoked, and the audit log says why.
    const again = await loginAs(app, user)
    const keys = await app.inject({ method: 'GET', url: '/api/v1/api-keys/', headers: { authorization: `Bearer ${again.access_token}` } })
    expect(keys.json()).toEqual([expect.objectContaining({ id: created.json().id, revoked_at: expect.any(String) })])
    const audit = await app.inject({ method: 'GET', url: `/api/v1/audit/?target_id=${user.id}&action=api_key.revoke_all`, headers: admin.headers })
    expect(audit.json().items).toEqual([expect.objectContaining({ details: expect.objectContaining({ reason: 'deactivated', api_key_ids: [created.json().id] }) })])
  })

  it('leaves other users’ keys alone', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await signedInUser(app)
    const other = await signedInUser(app)
    const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys/', headers: other.headers, payload: { name: 'other', scopes: ['read'] } })
    expect(created.statusCode, created.body).toBe(201)
    await setActive(admin.headers, user.id, false)
    expect((await meWith({ 'x-api-key': created.json().key })).statusCode).toBe(200)
  })
})
