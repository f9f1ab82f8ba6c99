import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import {
  RESET_PASSWORD_SUBJECT,
  VERIFY_EMAIL_SUBJECT,
  authHeader,
  loginAs,
  mailsTo,
  registerUser,
  signedInUser,
  tokenFrom,
  uniqueName,
  waitForMail,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const post = (url: string, payload: object) => app.inject({ method: 'POST', url: `/api/v1/auth/${url}`, payload })
const login = (username_or_email: string, password: string) => post('login', { username_or_email, password })
const me = (token: string) => app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(token) })

async function resetToken(email: string): Promise<string> {
  const seen = (await mailsTo(app, email)).map((mail) => mail.id)
  const response = await post('forgot-password', { email })
  expect(response.statusCode, response.body).toBe(202)
  return tokenFrom(await waitForMail(app, email, { subject: RESET_PASSWORD_SUBJECT, exclude: seen }))
}

describe('email verification', () => {
  it('registration mails a token that verifies the email', async () => {
    const user = await registerUser(app)
    const mail = await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT })
    expect(mail.text).toMatch(/token=/)

    const response = await post('verify-email', { token: tokenFrom(mail) })
    expect(response.statusCode, response.body).toBe(200)

    const tokens = await loginAs(app, user)
    expect((await me(tokens.access_token)).json().email_verified).toBe(true)
  })

  it('shows email_verified at once to a session opened before verifying', async () => {
    const user = await signedInUser(app)
    expect((await me(user.tokens.access_token)).json().email_verified).toBe(false)
    const mail = await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT })
    expect((await post('verify-email', { token: tokenFrom(mail) })).statusCode).toBe(200)
    expect((await me(user.tokens.access_token)).json().email_verified).toBe(true)
  })

  it('a verification token works only once', async () => {
    const user = await registerUser(app)
    const token = tokenFrom(await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT }))
    expect((await post('verify-email', { token })).statusCode).toBe(200)
    const reuse = await post('verify-email', { token })
    expect(reuse.statusCode).toBe(400)
    expect(reuse.json()).toEqual({ detail: expect.any(String), code: 'invalid_or_expired_token' })
  })

  it('an unknown token is refused with 400', async () => {
    expect((await post('verify-email', { token: 'not-a-real-token' })).statusCode).toBe(400)
  })
})

describe('password reset', () => {
  it('forgot-password answers 202 with the same body for a known and an unknown email', async () => {
    const user = await registerUser(app)
    const known = await post('forgot-password', { email: user.email })
    const unknown = await post('forgot-password', { email: `${uniqueName('nobody')}@example.com` })
    expect(known.statusCode).toBe(202)
    expect(unknown.statusCode).toBe(202)
    expect(unknown.body).toBe(known.body)
    expect(known.json()).toEqual({ detail: expect.any(String) })
  })

  it('mails a reset link to a known address and nothing to an unknown one', async () => {
    const user = await registerUser(app)
    const stranger = `${uniqueName('nobody')}@example.com`
    await post('forgot-password', { email: stranger })
    expect(await resetToken(user.email)).toEqual(expect.any(String))
    // The known address's mail has arrived, and the stranger's request was made before it.
    expect(await mailsTo(app, stranger)).toEqual([])
  })

  it('reset-password sets the new password: the old one fails, the new one works', async () => {
    const user = await registerUser(app)
    const token = await resetToken(user.email)
    const newPassword = 'Reset-to-something-new-5'
    const response = await post('reset-password', { token, new_password: newPassword })
    expect(response.statusCode, response.body).toBe(200)
    expect((await login(user.username, user.password)).statusCode).toBe(401)
    expect((await login(user.username, newPassword)).statusCode).toBe(200)
  })

  it('reset-password ends existing sessions: old refresh and access tokens fail', async () => {
    const user = await signedInUser(app)
    const token = await resetToken(user.email)
    expect((await post('reset-password', { token, new_password: 'Reset-to-something-new-6' })).statusCode).toBe(200)
    expect((await post('refresh', { refresh_token: user.tokens.refresh_token })).statusCode).toBe(401)
    expect((await me(user.tokens.access_token)).statusCode).toBe(401)
  })

  it('a reset token works only once', async () => {
    const user = await registerUser(app)
    const token = await resetToken(user.email)
    expect((await post('reset-password', { token, new_password: 'Reset-to-something-new-7' })).statusCode).toBe(200)
    expect((await post('reset-password', { token, new_password: 'Reset-to-something-new-8' })).statusCode).toBe(400)
    expect((await login(user.username, 'Reset-to-something-new-8')).statusCode).toBe(401)
    expect((await login(user.username, 'Reset-to-something-new-7')).statusCode).toBe(200)
  })

  it('an unknown reset token is refused with 400', async () => {
    expect((await post('reset-password', { token: 'not-a-real-token', new_password: 'Reset-to-something-new-9' })).statusCode).toBe(400)
  })

  it('reset-password refuses a new password outside 8..128 characters with 422 and keeps the token usable', async () => {
    const user = await registerUser(app)
    const token = await resetToken(user.email)
    expect((await post('reset-password', { token, new_password: 'short' })).statusCode).toBe(422)
    expect((await post('reset-password', { token, new_password: 'x1Y2'.repeat(33) })).statusCode).toBe(422)
    expect((await post('reset-password', { token, new_password: 'Reset-after-a-typo-1' })).statusCode).toBe(200)
  })
})
