import { describe, expect, it } from 'vitest'
import { authHeader, signedInUser, tokenFrom, VERIFY_EMAIL_SUBJECT, waitForMail } from '../helpers/factories.js'

const CHANGE_EMAIL_SUBJECT = /confirm your new email/i
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

describe('email and profile edge cases', () => {
  it('refuses a verification link mailed to the old address after the email changes', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const token = tokenFrom(await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT }))
    const changed = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}`, headers: user.headers, payload: { email: `new-${user.email}` } })
    expect(changed.json()).toMatchObject({ email: user.email, pending_email: `new-${user.email}` })
    const confirm = tokenFrom(await waitForMail(app, `new-${user.email}`, { subject: CHANGE_EMAIL_SUBJECT }))
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: confirm } })).statusCode).toBe(200)
    const verified = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } })
    expect(verified.statusCode).toBe(400)
    const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers })
    expect(me.json()).toMatchObject({ email: `new-${user.email}`, email_verified: true, pending_email: null })
  })

  it('clears an optional profile field when it is sent as null', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app, 'user', { first_name: 'Ada', bio: 'hello' })
    const cleared = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}`, headers: authHeader(user.tokens.access_token), payload: { first_name: null, bio: null } })
    expect(cleared.statusCode).toBe(200)
    expect(cleared.json()).toMatchObject({ first_name: null, bio: null })
  })
})
