import { describe, expect, it } from 'vitest'
import {
  authHeader,
  controllableClock,
  createUser,
  loginAs,
  RESET_PASSWORD_SUBJECT,
  tokenFrom,
  VERIFY_EMAIL_SUBJECT,
  waitForMail,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

/** Lifetimes of refresh tokens and mailed links, checked by moving the app's clock rather than waiting. */
const context = useTestContext()

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

describe('refresh tokens', () => {
  it('live exactly REFRESH_TOKEN_EXPIRE_DAYS: refused once that lifetime has passed', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ REFRESH_TOKEN_EXPIRE_DAYS: '2' }, { now: clock.now })
    const user = await createUser(app)
    const refresh = (token: string) => app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token } })

    clock.advance(2 * DAY - MINUTE)
    const renewed = await refresh((await loginAs(app, user)).refresh_token)
    expect(renewed.statusCode, renewed.body).toBe(200)

    // Each refresh starts a full lifetime again; a minute past it, the token is dead.
    const next = renewed.json().refresh_token as string
    clock.advance(2 * DAY + MINUTE)
    const expired = await refresh(next)
    expect(expired.statusCode, expired.body).toBe(401)
  })

  it('are refused after the default lifetime of 7 days, not before', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await createUser(app)
    const first = await loginAs(app, user)
    const second = await loginAs(app, user)
    const refresh = (token: string) => app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token } })

    clock.advance(7 * DAY - MINUTE)
    expect((await refresh(first.refresh_token)).statusCode).toBe(200)
    clock.advance(2 * MINUTE)
    expect((await refresh(second.refresh_token)).statusCode).toBe(401)
  })
})

describe('mailed links', () => {
  it('a password-reset link works for an hour and is refused after it', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await createUser(app)
    const requestLink = async (exclude: string[]) => {
      expect((await app.inject({ method: 'POST', url: '/api/v1/auth/forgot-password', payload: { email: user.email } })).statusCode).toBe(202)
      return waitForMail(app, user.email, { subject: RESET_PASSWORD_SUBJECT, exclude })
    }
    const reset = (token: string, password: string) =>
      app.inject({ method: 'POST', url: '/api/v1/auth/reset-password', payload: { token, new_password: password } })

    const late = await requestLink([])
    clock.advance(HOUR + MINUTE)
    const refused = await reset(tokenFrom(late), 'Expired-link-passphrase-31')
    expect(refused.statusCode, refused.body).toBe(400)
    await loginAs(app, user)

    const timely = await requestLink([late.id])
    clock.advance(HOUR - MINUTE)
    const accepted = await reset(tokenFrom(timely), 'Timely-link-passphrase-32')
    expect(accepted.statusCode, accepted.body).toBe(200)
    await loginAs(app, { username: user.username, password: 'Timely-link-passphrase-32' })
  })

  it('an email-verification link works for 24 hours and is refused after it', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await createUser(app)
    const verify = (token: string) => app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } })
    const verified = async () => {
      const tokens = await loginAs(app, user)
      const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })
      return { verified: me.json().email_verified as boolean, headers: authHeader(tokens.access_token) }
    }

    const late = await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT })
    clock.advance(DAY + MINUTE)
    const refused = await verify(tokenFrom(late))
    expect(refused.statusCode, refused.body).toBe(400)
    const before = await verified()
    expect(before.verified).toBe(false)

    const resent = await app.inject({ method: 'POST', url: '/api/v1/auth/resend-verification', headers: before.headers })
    expect(resent.statusCode, resent.body).toBe(200)
    const timely = await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT, exclude: [late.id] })
    clock.advance(DAY - MINUTE)
    const accepted = await verify(tokenFrom(timely))
    expect(accepted.statusCode, accepted.body).toBe(200)
    expect((await verified()).verified).toBe(true)
  })
})
