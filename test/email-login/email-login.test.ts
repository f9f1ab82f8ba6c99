import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { oneTimeTokens } from '../../src/db/schema.js'
import { authHeader, codeFrom, controllableClock, createUser, mailsTo, setUserColumns, tokenFrom, userRow, waitForMail, wrongCode } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const SUBJECT = /^Sign in to /

async function requestLogin(app: App, email: string) {
  const response = await app.inject({ method: 'POST', url: '/api/v1/auth/email-login', payload: { email } })
  expect(response.statusCode, response.body).toBe(202)
  return response
}

const verify = (app: App, payload: Record<string, string>) => app.inject({ method: 'POST', url: '/api/v1/auth/email-login/verify', payload })

async function authMethodsOf(app: App, accessToken: string): Promise<string[]> {
  const response = await app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: authHeader(accessToken) })
  return (response.json() as { current: boolean; auth_methods: string[] }[]).find((session) => session.current)!.auth_methods
}

describe('email sign-in', () => {
  it('mails a link and a code; the link signs in once (`email_link`) and uses up the code', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    await requestLogin(app, user.email.toUpperCase())
    const mail = await waitForMail(app, user.email, { subject: SUBJECT })
    expect(mail.text).toContain('http://localhost:8000/email-login?token=')
    const token = tokenFrom(mail)
    const code = codeFrom(mail)

    const signedIn = await verify(app, { token })
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    expect(await authMethodsOf(app, signedIn.json().access_token)).toEqual(['email_link'])
    expect((await userRow(app, user.id))?.emailVerified).toBe(true)

    const again = await verify(app, { token })
    expect(again.statusCode).toBe(400)
    expect(again.json().code).toBe('invalid_or_expired_token')
    const codeAfter = await verify(app, { email: user.email, code })
    expect(codeAfter.statusCode).toBe(400)
    expect(codeAfter.json().code).toBe('invalid_code')
  })

  it('signs in with the email and code (`email_code`), which uses up the link', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    await requestLogin(app, user.email)
    const mail = await waitForMail(app, user.email, { subject: SUBJECT })
    const signedIn = await verify(app, { email: user.email, code: codeFrom(mail) })
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    expect(await authMethodsOf(app, signedIn.json().access_token)).toEqual(['email_code'])
    expect((await verify(app, { token: tokenFrom(mail) })).statusCode).toBe(400)
  })

  it('answers 202 for an unknown or inactive address and mails nothing', async () => {
    const app = await context.buildApp()
    const inactive = await createUser(app)
    await setUserColumns(app, inactive.id, { isActive: false })
    const unknown = await requestLogin(app, 'nobody-here@example.com')
    const known = await requestLogin(app, inactive.email)
    expect(unknown.json()).toEqual(known.json())
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await mailsTo(app, 'nobody-here@example.com')).toEqual([])
    expect((await mailsTo(app, inactive.email)).filter((mail) => SUBJECT.test(mail.subject))).toEqual([])
    const code = await verify(app, { email: 'nobody-here@example.com', code: '123456' })
    expect(code.statusCode).toBe(400)
    expect(code.json().code).toBe('invalid_code')
  })

  it('ends the sign-in after five wrong codes, the right one included after that', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    await requestLogin(app, user.email)
    const mail = await waitForMail(app, user.email, { subject: SUBJECT })
    const code = codeFrom(mail)
    const details: string[] = []
    for (let index = 0; index < 5; index += 1) details.push((await verify(app, { email: user.email, code: wrongCode(code) })).json().detail)
    expect(details.at(-1)).toMatch(/Invalid or expired sign-in code/)
    expect((await verify(app, { email: user.email, code })).statusCode).toBe(400)
    expect((await verify(app, { token: tokenFrom(mail) })).statusCode).toBe(400)
    const left = await app.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.purpose, 'email_login')))
    expect(left).toEqual([])
  })

  it('caps wrong codes per address across mails (TWO_FA_FAILURES_PER_ACCOUNT), an unknown address alike', async () => {
    const app = await context.buildApp({ TWO_FA_FAILURES_PER_ACCOUNT: '7', RATE_LIMIT_ENABLED: 'true', AUTH_RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000' })
    const user = await createUser(app)
    await requestLogin(app, user.email)
    const first = await waitForMail(app, user.email, { subject: SUBJECT })
    for (let index = 0; index < 5; index += 1) await verify(app, { email: user.email, code: wrongCode(codeFrom(first)) })
    // A new mail starts new tries for its own code, but not a new budget for the address.
    await requestLogin(app, user.email)
    const second = await waitForMail(app, user.email, { subject: SUBJECT, exclude: [first.id] })
    const code = codeFrom(second)
    for (let index = 0; index < 2; index += 1) expect((await verify(app, { email: user.email, code: wrongCode(code) })).statusCode).toBe(400)
    const locked = await verify(app, { email: user.email, code })
    expect(locked.statusCode).toBe(429)
    expect(locked.headers['retry-after']).toEqual(expect.any(String))
    // The link of that mail still works: the cap is on guessing codes.
    expect((await verify(app, { token: tokenFrom(second) })).statusCode).toBe(200)

    const unknown = 'nobody-here@example.com'
    const answers: number[] = []
    for (let index = 0; index < 8; index += 1) answers.push((await verify(app, { email: unknown, code: '123456' })).statusCode)
    expect(answers).toEqual([400, 400, 400, 400, 400, 400, 400, 429])
  })

  it('answers a registered and an unknown address alike, through the fifth wrong code and after', async () => {
    const app = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', AUTH_RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000' })
    const user = await createUser(app)
    const unknown = `nobody-${user.username}@example.com`
    const answersFor = async (email: string) => {
      await requestLogin(app, email)
      // A code that is certainly wrong: for the registered address, not the one mailed.
      const code = email === user.email ? wrongCode(codeFrom(await waitForMail(app, email, { subject: SUBJECT }))) : '000000'
      const answers: { status: number; body: unknown }[] = []
      for (let index = 0; index < 7; index += 1) {
        const response = await verify(app, { email, code })
        answers.push({ status: response.statusCode, body: response.json() })
      }
      return answers
    }
    const registered = await answersFor(user.email)
    expect(registered[4]).toEqual({ status: 400, body: { detail: 'Invalid or expired sign-in code; ask for a new email', code: 'invalid_code' } })
    expect(registered).toEqual(await answersFor(unknown))
  })

  it('expires after ten minutes', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await createUser(app)
    await requestLogin(app, user.email)
    const mail = await waitForMail(app, user.email, { subject: SUBJECT })
    clock.advance(10 * 60_000 + 1000)
    expect((await verify(app, { token: tokenFrom(mail) })).statusCode).toBe(400)
    expect((await verify(app, { email: user.email, code: codeFrom(mail) })).statusCode).toBe(400)
  })

  it('a newer request replaces the earlier link and code', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    await requestLogin(app, user.email)
    const first = await waitForMail(app, user.email, { subject: SUBJECT })
    await requestLogin(app, user.email)
    const second = await waitForMail(app, user.email, { subject: SUBJECT, exclude: [first.id] })
    expect((await verify(app, { token: tokenFrom(first) })).statusCode).toBe(400)
    expect((await verify(app, { token: tokenFrom(second) })).statusCode).toBe(200)
  })

  it('asks for the second factor when 2FA is on (`email_link+...` once it is given)', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    await setUserColumns(app, user.id, { twoFaEnabled: true, twoFaMethod: 'email' })
    await requestLogin(app, user.email)
    const mail = await waitForMail(app, user.email, { subject: SUBJECT })
    const challenge = await verify(app, { token: tokenFrom(mail) })
    expect(challenge.statusCode, challenge.body).toBe(200)
    expect(challenge.json()).toMatchObject({ requires_2fa: true, method: 'email' })
    const codeMail = await waitForMail(app, user.email, { subject: /sign-in code/i })
    const done = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-2fa', payload: { challenge_token: challenge.json().challenge_token, code: codeFrom(codeMail) } })
    expect(done.statusCode, done.body).toBe(200)
    expect(await authMethodsOf(app, done.json().access_token)).toEqual(['email_link+email_code'])
  })

  it('mails at most the per-recipient limit, silently', async () => {
    const app = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', MAIL_RATE_LIMIT_PER_RECIPIENT: '2', AUTH_RATE_LIMIT_PER_MINUTE: '100' })
    const user = await createUser(app)
    for (let index = 0; index < 4; index += 1) await requestLogin(app, user.email)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect((await mailsTo(app, user.email)).filter((mail) => SUBJECT.test(mail.subject))).toHaveLength(2)
  })

  it('is off with EMAIL_LOGIN_ENABLED=false', async () => {
    const app = await context.buildApp({ EMAIL_LOGIN_ENABLED: 'false' })
    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/email-login', payload: { email: 'a@example.com' } })
    expect(response.statusCode).toBe(404)
    expect(response.json().detail).toMatch(/EMAIL_LOGIN_ENABLED/)
  })

  it('mails in the user’s language', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    await setUserColumns(app, user.id, { language: 'fr' })
    await requestLogin(app, user.email)
    const mail = await waitForMail(app, user.email, { subject: /Connexion à/ })
    expect(mail.text).toMatch(/Ou saisissez ce code/)
    expect(codeFrom(mail)).toMatch(/^\d{6}$/)
  })
})
