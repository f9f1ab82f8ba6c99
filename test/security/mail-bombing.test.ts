import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { RESET_PASSWORD_SUBJECT, mailsTo, registerUser, signedInUser, uniqueName, waitForMail } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { call, expectTooManyRequests, mailIds, type Answer } from './attacker.js'

// Issue #14 point 9: mail is the one thing an attacker can aim at a stranger. The cap is on the
// recipient address (5 per 10 minutes), whoever asks and through whichever endpoint.

const context = useTestContext()
// Per-IP route limits and the global limit out of reach: the recipient cap alone is under test.
const MAIL_CAP_ONLY = { RATE_LIMIT_ENABLED: 'true', AUTH_RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000' }
const MAIL_WINDOW_SECONDS = 10 * 60

let setup: App
let limited: App

beforeAll(async () => {
  setup = await context.buildApp()
  limited = await context.buildApp(MAIL_CAP_ONLY)
})

const post = (url: string, headers: Record<string, string>, payload?: unknown) => call(limited, 'POST', url, { headers, ...(payload === undefined ? {} : { payload }) })

describe('mails a signed-in user can ask for', () => {
  it('resend-verification, test-2fa and enable-2fa share 5 mails per recipient: the 6th within 10 minutes is 429 with Retry-After at each', async () => {
    const user = await signedInUser(setup)
    const senders: Array<[string, () => Promise<Answer>]> = [
      ['resend-verification', () => post('/api/v1/auth/resend-verification', user.headers)],
      ['test-2fa', () => post('/api/v1/auth/test-2fa', user.headers)],
      ['enable-2fa', () => post('/api/v1/auth/enable-2fa', user.headers)],
    ]
    const allowed = [senders[0]!, senders[1]!, senders[2]!, senders[0]!, senders[1]!]
    for (const [name, send] of allowed) {
      const response = await send()
      expect(response.statusCode, `${name}: ${response.body}`).toBe(200)
    }
    for (const [name, send] of senders) expectTooManyRequests(await send(), `6th mail through ${name}`, MAIL_WINDOW_SECONDS)
    expect(await mailsTo(limited, user.email)).toHaveLength(5)
  })
})

describe('mails aimed at a stranger', () => {
  it('email-change links to one address are capped whoever asks: the 6th account gets 429 and the address no 6th mail', async () => {
    const victim = `${uniqueName('victim')}@example.com`
    for (let account = 1; account <= 5; account += 1) {
      const attacker = await signedInUser(setup)
      const response = await call(limited, 'PUT', `/api/v1/users/update/${attacker.id}`, { headers: attacker.headers, payload: { email: victim } })
      expect(response.statusCode, `account ${account}: ${response.body}`).toBe(200)
    }
    const sixth = await signedInUser(setup)
    const refused = await call(limited, 'PUT', `/api/v1/users/update/${sixth.id}`, { headers: sixth.headers, payload: { email: victim } })
    expectTooManyRequests(refused, '6th account', MAIL_WINDOW_SECONDS)
    // A refused request changes nothing.
    expect((await call(limited, 'GET', '/api/v1/users/me', { headers: sixth.headers })).json()).toMatchObject({ pending_email: null })
    expect(await mailsTo(limited, victim)).toHaveLength(5)
  })

  it('forgot-password stays 202 for every request, but only 5 reset mails arrive', async () => {
    const user = await registerUser(setup)
    const marker = await registerUser(setup)
    for (let attempt = 1; attempt <= 7; attempt += 1) {
      const response = await call(limited, 'POST', '/api/v1/auth/forgot-password', { payload: { email: user.email } })
      // The answer must not tell that the cap was hit (nor whether the address exists).
      expect(response.statusCode, `request ${attempt}`).toBe(202)
    }
    // Resets are sent after the answer: a later request for another address marks when they are done.
    const seen = await mailIds(limited, marker.email)
    expect((await call(limited, 'POST', '/api/v1/auth/forgot-password', { payload: { email: marker.email } })).statusCode).toBe(202)
    await waitForMail(limited, marker.email, { subject: RESET_PASSWORD_SUBJECT, exclude: seen })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await mailsTo(limited, user.email)).filter((mail) => RESET_PASSWORD_SUBJECT.test(mail.subject))).toHaveLength(5)
  })
})

describe('security notices aimed at a stranger', () => {
  // Registration does not prove the address: anyone can open an account on a stranger's address and,
  // knowing their own password, trigger every notice the server sends to "the account's address".
  async function accountOnStrangersAddress() {
    const stranger = `${uniqueName('stranger')}@example.com`
    const attacker = await signedInUser(setup, 'user', { email: stranger })
    return { stranger, attacker }
  }
  /** Notices of one kind that reached the address: at least the first (notices still go out), at most the cap. */
  async function expectCapped(address: string, subject: RegExp) {
    const count = (await mailsTo(limited, address)).filter((mail) => subject.test(mail.subject)).length
    expect(count, `${String(subject)} mails to the stranger`).toBeGreaterThanOrEqual(1)
    expect(count, `${String(subject)} mails to the stranger`).toBeLessThanOrEqual(5)
  }

  it('"new address requested" notices to the old address are capped at 5 per 10 minutes', async () => {
    const { stranger, attacker } = await accountOnStrangersAddress()
    for (let request = 1; request <= 8; request += 1) {
      // A different new address each time, so the cap on the new address never applies.
      const response = await call(limited, 'PUT', `/api/v1/users/update/${attacker.id}`, {
        headers: attacker.headers,
        payload: { email: `${uniqueName('elsewhere')}@example.com`, password: attacker.password },
      })
      expect([200, 429], response.body).toContain(response.statusCode)
    }
    await expectCapped(stranger, /new email address was requested/i)
  })

  it('"signed out everywhere" notices are capped at 5 per 10 minutes', async () => {
    const { stranger, attacker } = await accountOnStrangersAddress()
    for (let round = 1; round <= 8; round += 1) {
      const login = await call(limited, 'POST', '/api/v1/auth/login', { payload: { username_or_email: attacker.username, password: attacker.password } })
      expect(login.statusCode, login.body).toBe(200)
      const response = await call(limited, 'POST', '/api/v1/auth/logout-all', { headers: { authorization: `Bearer ${login.json().access_token}` } })
      expect([200, 429], response.body).toContain(response.statusCode)
    }
    await expectCapped(stranger, /signed out .*everywhere/i)
  })

  it('"password changed" notices are capped at 5 per 10 minutes', async () => {
    const { stranger, attacker } = await accountOnStrangersAddress()
    const passwords = [attacker.password, 'Other-passphrase-55']
    let current = 0
    let headers = attacker.headers
    for (let change = 1; change <= 8; change += 1) {
      // Back and forth between two passwords: each change is a notice.
      const response = await call(limited, 'POST', '/api/v1/users/me/password', {
        headers,
        payload: { current_password: passwords[current], new_password: passwords[1 - current] },
      })
      expect([200, 429], response.body).toContain(response.statusCode)
      if (response.statusCode === 200) {
        current = 1 - current
        headers = { authorization: `Bearer ${response.json().access_token}` }
      }
    }
    await expectCapped(stranger, /password was changed/i)
  })
})
