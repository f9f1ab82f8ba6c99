import { describe, expect, it } from 'vitest'
import { codeFrom, signedInUser, SIGN_IN_CODE_SUBJECT, waitForMail, wrongCode } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

/** Turning on email 2FA mails a 6-digit code: a million values, so guesses at it must run out. */
const context = useTestContext()

describe('confirming email 2FA with the mailed code', () => {
  it('refuses even the right code after five wrong ones, until a new code is asked for', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const enable = (payload?: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/api/v1/auth/enable-2fa', headers: user.headers, ...(payload ? { payload } : {}) })

    expect((await enable()).statusCode).toBe(200)
    const first = await waitForMail(app, user.email, { subject: SIGN_IN_CODE_SUBJECT })
    const code = codeFrom(first)

    const answers: string[] = []
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const response = await enable({ code: wrongCode(code) })
      expect(response.statusCode, response.body).toBe(400)
      answers.push(response.json().detail as string)
    }
    expect(answers.slice(0, 4).every((detail) => !/too many/i.test(detail))).toBe(true)
    expect(answers[4]).toMatch(/too many wrong codes/i)

    const late = await enable({ code })
    expect(late.statusCode, late.body).toBe(400)
    const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers })
    expect(me.json()).toMatchObject({ two_fa_enabled: false })

    // A new code starts a new count.
    expect((await enable()).statusCode).toBe(200)
    const second = await waitForMail(app, user.email, { subject: SIGN_IN_CODE_SUBJECT, exclude: [first.id] })
    const enabled = await enable({ code: codeFrom(second) })
    expect(enabled.statusCode, enabled.body).toBe(200)
    expect(enabled.json()).toMatchObject({ two_fa_enabled: true })
  })
})
