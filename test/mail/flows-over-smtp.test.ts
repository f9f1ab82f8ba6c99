import { afterAll, describe, expect, it } from 'vitest'
import { authHeader, codeFrom, createUser, loginAs, tokenFrom } from '../helpers/factories.js'
import { freePort } from '../helpers/network.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitForValue } from '../helpers/wait.js'
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from './helpers.js'

/** The account flows end to end through a real SMTP server, reading codes and links out of delivered mail. */
const context = useTestContext()
const servers: TestSmtpServer[] = []
afterAll(async () => {
  await Promise.allSettled(servers.map((server) => server.close()))
})

async function smtpApp(port: number) {
  return context.buildApp({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_TLS: 'false', SMTP_USER: '' })
}

async function nextMail(server: TestSmtpServer, to: string, subject: RegExp, seen: Set<ReceivedMail>): Promise<ReceivedMail> {
  const found = await waitForValue(
    () => server.messages.find((mail) => !seen.has(mail) && mail.envelopeTo.includes(to) && subject.test(mail.subject)),
    `a mail to ${to} matching ${String(subject)}`,
    { timeoutMs: 15_000 },
  )
  seen.add(found)
  return found
}

describe('account flows over a real SMTP server', () => {
  it('turns on email 2FA and signs in with the mailed code', async () => {
    const smtp = await startSmtpServer()
    servers.push(smtp)
    const app = await smtpApp(smtp.port)
    const seen = new Set<ReceivedMail>()
    const user = await createUser(app)
    const tokens = await loginAs(app, user)

    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/enable-2fa', headers: authHeader(tokens.access_token) })).json()).toMatchObject({
      two_fa_enabled: false,
      confirmation_required: true,
    })
    const enableCode = codeFrom(await nextMail(smtp, user.email, /sign-in code/i, seen))
    const enabled = await app.inject({ method: 'POST', url: '/api/v1/auth/enable-2fa', headers: authHeader(tokens.access_token), payload: { code: enableCode } })
    expect(enabled.json()).toMatchObject({ two_fa_enabled: true })
    expect(enabled.json().recovery_codes).toHaveLength(10)
    await nextMail(smtp, user.email, /two-factor|2fa/i, seen)

    const challenge = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.email, password: user.password } })
    expect(challenge.json()).toMatchObject({ requires_2fa: true, method: 'email' })
    expect(challenge.json().access_token).toBeUndefined()
    const loginCode = codeFrom(await nextMail(smtp, user.email, /sign-in code/i, seen))
    const verified = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-2fa', payload: { challenge_token: challenge.json().challenge_token, code: loginCode } })
    expect(verified.statusCode).toBe(200)
    expect(verified.json()).toMatchObject({ token_type: 'bearer', access_token: expect.any(String), refresh_token: expect.any(String) })
    // Close the app (and its pooled SMTP connections) before the server, or the server waits them out.
    await app.close()
  })

  it('verifies the email address and resets the password from mailed links', async () => {
    const smtp = await startSmtpServer()
    servers.push(smtp)
    const app = await smtpApp(smtp.port)
    const seen = new Set<ReceivedMail>()
    const user = await createUser(app)
    const verifyToken = tokenFrom(await nextMail(smtp, user.email, /confirm your email/i, seen))
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: verifyToken } })).statusCode).toBe(200)

    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/forgot-password', payload: { email: user.email } })).statusCode).toBe(202)
    const resetToken = tokenFrom(await nextMail(smtp, user.email, /reset/i, seen))
    const reset = await app.inject({ method: 'POST', url: '/api/v1/auth/reset-password', payload: { token: resetToken, new_password: 'a-brand-new-password-42' } })
    expect(reset.statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: 'a-brand-new-password-42' } })).statusCode).toBe(200)
    await app.close()
  })

  it('answers while SMTP is down and delivers the mail once it is back', async () => {
    const port = await freePort()
    const app = await smtpApp(port)
    const user = await createUser(app)
    const tokens = await loginAs(app, user)
    const answered = await app.inject({ method: 'POST', url: '/api/v1/auth/test-2fa', headers: authHeader(tokens.access_token) })
    expect(answered.statusCode).toBe(200)

    const smtp = await startSmtpServer(port)
    servers.push(smtp)
    await nextMail(smtp, user.email, /test/i, new Set())
    await app.close()
  }, 30_000)
})
