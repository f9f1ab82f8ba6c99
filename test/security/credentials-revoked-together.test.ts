import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { authHeader, loginAs, signedInUser, waitForMail, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, auditEntries, call, createApiKey, mailedResetToken, mailIds } from './attacker.js'

// Issue #14 point 2: an API key minted with a stolen session must not outlive the owner's answer to
// the theft (a password reset, or signing out everywhere).

const context = useTestContext()
let app: App
let admin: SignedInUser

beforeAll(async () => {
  app = await context.buildApp()
  admin = await signedInUser(app, 'admin')
})

const meWithKey = (key: string) => call(app, 'GET', '/api/v1/users/me', { headers: apiKeyHeader(key) })

async function resetPassword(user: SignedInUser, newPassword: string) {
  const token = await mailedResetToken(app, user.email)
  const response = await call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token, new_password: newPassword } })
  expect(response.statusCode, response.body).toBe(200)
}

describe('a password reset', () => {
  it('revokes every API key of the user at once (401 right after), audited as api_key.revoke_all', async () => {
    const user = await signedInUser(app)
    const readKey = await createApiKey(app, user.headers, ['read'])
    const writeKey = await createApiKey(app, user.headers, ['read', 'write'])
    // Used once, so the key sits in the cache the revocation must clear.
    expect((await meWithKey(writeKey.key)).statusCode).toBe(200)
    expect((await meWithKey(readKey.key)).statusCode).toBe(200)

    await resetPassword(user, 'Brand-new-passphrase-42')

    expect((await meWithKey(writeKey.key)).statusCode).toBe(401)
    expect((await meWithKey(readKey.key)).statusCode).toBe(401)
    const entries = await auditEntries(app, admin.headers, user.id, 'api_key.revoke_all')
    expect(entries).toHaveLength(1)
    expect(entries[0]!.details).toMatchObject({ reason: 'password_reset' })
    expect(entries[0]!.details.api_key_ids).toEqual(expect.arrayContaining([readKey.id, writeKey.id]))
    // The keys are listed as revoked, not silently gone.
    const listed = (await call(app, 'GET', '/api/v1/api-keys/', { headers: authHeader((await loginAs(app, { ...user, password: 'Brand-new-passphrase-42' })).access_token) })).json()
    expect(listed.map((key: { revoked_at: string | null }) => key.revoked_at)).toEqual([expect.any(String), expect.any(String)])
  })

  it('mails a confirmation to the user that says the API keys were revoked', async () => {
    const user = await signedInUser(app)
    await createApiKey(app, user.headers)
    await resetPassword(user, 'Brand-new-passphrase-43')
    const notice = await waitForMail(app, user.email, { subject: /password was reset/i })
    expect(notice.text).toMatch(/API key/i)
  })
})

describe('logout-all', () => {
  it('revokes every API key of the user at once (401 right after), audited as api_key.revoke_all; the key itself cannot call it', async () => {
    const user = await signedInUser(app)
    const { id, key } = await createApiKey(app, user.headers)
    expect((await meWithKey(key)).statusCode).toBe(200)
    // A leaked key must not sign the owner out, nor revoke itself to cover its tracks.
    expect((await call(app, 'POST', '/api/v1/auth/logout-all', { headers: apiKeyHeader(key) })).statusCode).toBe(403)
    expect((await meWithKey(key)).statusCode).toBe(200)

    const response = await call(app, 'POST', '/api/v1/auth/logout-all', { headers: user.headers })
    expect(response.statusCode, response.body).toBe(200)

    expect((await meWithKey(key)).statusCode).toBe(401)
    const entries = await auditEntries(app, admin.headers, user.id, 'api_key.revoke_all')
    expect(entries).toEqual([expect.objectContaining({ actor_id: user.id, details: expect.objectContaining({ reason: 'logout_all', api_key_ids: [id] }) })])
  })

  it('mails a "signed out everywhere" notice that says the API keys were revoked', async () => {
    const user = await signedInUser(app)
    await createApiKey(app, user.headers)
    const seen = await mailIds(app, user.email)
    expect((await call(app, 'POST', '/api/v1/auth/logout-all', { headers: user.headers })).statusCode).toBe(200)
    const notice = await waitForMail(app, user.email, { subject: /signed out .*everywhere/i, exclude: seen })
    expect(notice.text).toMatch(/API key/i)
  })

})

describe('a password change', () => {
  it('keeps the API keys but ends the other sessions; only a reset afterwards revokes the keys', async () => {
    const user = await signedInUser(app)
    const { key } = await createApiKey(app, user.headers)
    const otherSession = await loginAs(app, user)

    const response = await call(app, 'POST', '/api/v1/users/me/password', {
      headers: user.headers,
      payload: { current_password: user.password, new_password: 'Changed-passphrase-77' },
    })
    expect(response.statusCode, response.body).toBe(200)

    expect((await meWithKey(key)).statusCode).toBe(200)
    expect((await call(app, 'GET', '/api/v1/users/me', { headers: authHeader(otherSession.access_token) })).statusCode).toBe(401)
    expect((await call(app, 'POST', '/api/v1/auth/refresh', { payload: { refresh_token: otherSession.refresh_token } })).statusCode).toBe(401)
    expect((await call(app, 'GET', '/api/v1/users/me', { headers: authHeader(response.json().access_token) })).statusCode).toBe(200)
    expect(await auditEntries(app, admin.headers, user.id, 'api_key.revoke_all')).toEqual([])

    // The difference is deliberate: a reset is what the owner does after losing the password.
    await resetPassword(user, 'Reset-passphrase-78')
    expect((await meWithKey(key)).statusCode).toBe(401)
  })
})
