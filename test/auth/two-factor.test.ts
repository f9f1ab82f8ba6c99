import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { totpAt } from '../../src/modules/auth/totp.js'
import {
  SIGN_IN_CODE_SUBJECT,
  authHeader,
  codeFrom,
  controllableClock,
  mailsTo,
  signedInUser,
  waitForMail,
  wrongCode,
  type SignedInUser,
  type TokenPair,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const post = (target: App, url: string, payload?: unknown, headers?: Record<string, string>) =>
  target.inject({ method: 'POST', url: `/api/v1/auth/${url}`, ...(payload === undefined ? {} : { payload: payload as object }), ...(headers ? { headers } : {}) })

const me = (target: App, token: string) => target.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(token) })

/** The newest sign-in code mailed to the user after the mails already seen. */
async function nextCode(target: App, email: string, seen: string[]): Promise<string> {
  return codeFrom(await waitForMail(target, email, { subject: SIGN_IN_CODE_SUBJECT, exclude: seen }))
}

const mailIds = async (target: App, email: string) => (await mailsTo(target, email)).map((mail) => mail.id)

/** Turns on email 2FA through the API and returns the recovery codes. */
async function enableEmail2fa(target: App, user: SignedInUser): Promise<string[]> {
  const seen = await mailIds(target, user.email)
  expect((await post(target, 'enable-2fa', undefined, user.headers)).statusCode).toBe(200)
  const confirm = await post(target, 'enable-2fa', { code: await nextCode(target, user.email, seen) }, user.headers)
  expect(confirm.statusCode, confirm.body).toBe(200)
  return confirm.json().recovery_codes as string[]
}

interface Challenge {
  challenge_token: string
  method: 'email' | 'totp'
  /** The mailed code (email method only). */
  code?: string
}

async function startLogin(target: App, user: SignedInUser): Promise<Challenge> {
  const seen = await mailIds(target, user.email)
  const response = await post(target, 'login', { username_or_email: user.username, password: user.password })
  expect(response.statusCode, response.body).toBe(200)
  const body = response.json()
  expect(body).toEqual({ requires_2fa: true, challenge_token: expect.any(String), method: expect.any(String) })
  if (body.method !== 'email') return body
  return { ...body, code: await nextCode(target, user.email, seen) }
}

const verify = (target: App, challenge_token: string, code: string) => post(target, 'verify-2fa', { challenge_token, code })

async function expectTokenPairFor(target: App, response: { statusCode: number; body: string; json: () => unknown }, userId: number) {
  expect(response.statusCode, response.body).toBe(200)
  const pair = response.json() as TokenPair
  expect(pair).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: expect.any(Number) })
  expect((await me(target, pair.access_token)).json().id).toBe(userId)
}

describe('email 2FA', () => {
  it('enable-2fa without a body asks for confirmation and mails a 6-digit code', async () => {
    const user = await signedInUser(app)
    const seen = await mailIds(app, user.email)
    const response = await post(app, 'enable-2fa', undefined, user.headers)
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ two_fa_enabled: false, confirmation_required: true })
    expect(await nextCode(app, user.email, seen)).toMatch(/^\d{6}$/)
    expect((await me(app, user.tokens.access_token)).json().two_fa_enabled).toBe(false)
  })

  it('enable-2fa with the mailed code turns 2FA on and returns 10 recovery codes', async () => {
    const user = await signedInUser(app)
    const seen = await mailIds(app, user.email)
    await post(app, 'enable-2fa', undefined, user.headers)
    const response = await post(app, 'enable-2fa', { code: await nextCode(app, user.email, seen) }, user.headers)
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json()
    expect(body.two_fa_enabled).toBe(true)
    expect(body.recovery_codes).toHaveLength(10)
    expect(new Set(body.recovery_codes).size).toBe(10)
    expect((await me(app, user.tokens.access_token)).json().two_fa_enabled).toBe(true)
  })

  it('enable-2fa with a wrong code leaves 2FA off', async () => {
    const user = await signedInUser(app)
    const seen = await mailIds(app, user.email)
    await post(app, 'enable-2fa', undefined, user.headers)
    const code = await nextCode(app, user.email, seen)
    const response = await post(app, 'enable-2fa', { code: wrongCode(code) }, user.headers)
    expect(response.statusCode).toBeGreaterThanOrEqual(400)
    expect(response.statusCode).toBeLessThan(500)
    expect((await me(app, user.tokens.access_token)).json().two_fa_enabled).toBe(false)
  })

  it('a login is finished with the mailed code', async () => {
    const user = await signedInUser(app)
    await enableEmail2fa(app, user)
    const challenge = await startLogin(app, user)
    expect(challenge.method).toBe('email')
    await expectTokenPairFor(app, await verify(app, challenge.challenge_token, challenge.code!), user.id)
  })

  it('a code finishes one login only', async () => {
    const user = await signedInUser(app)
    await enableEmail2fa(app, user)
    const challenge = await startLogin(app, user)
    expect((await verify(app, challenge.challenge_token, challenge.code!)).statusCode).toBe(200)
    expect((await verify(app, challenge.challenge_token, challenge.code!)).statusCode).toBe(401)
    const next = await startLogin(app, user)
    expect((await verify(app, next.challenge_token, challenge.code!)).statusCode).toBe(401)
  })

  it('five wrong codes kill the challenge: even the right code then fails with 401', async () => {
    const user = await signedInUser(app)
    await enableEmail2fa(app, user)
    const challenge = await startLogin(app, user)
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expect((await verify(app, challenge.challenge_token, wrongCode(challenge.code!))).statusCode, `attempt ${attempt}`).toBe(401)
    }
    expect((await verify(app, challenge.challenge_token, challenge.code!)).statusCode).toBe(401)
    // A new login starts over.
    const fresh = await startLogin(app, user)
    expect((await verify(app, fresh.challenge_token, fresh.code!)).statusCode).toBe(200)
  })

  it('four wrong codes still leave the right code working', async () => {
    const user = await signedInUser(app)
    await enableEmail2fa(app, user)
    const challenge = await startLogin(app, user)
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      expect((await verify(app, challenge.challenge_token, wrongCode(challenge.code!))).statusCode).toBe(401)
    }
    expect((await verify(app, challenge.challenge_token, challenge.code!)).statusCode).toBe(200)
  })

  it('a recovery code replaces the mailed code, once', async () => {
    const user = await signedInUser(app)
    const recoveryCodes = await enableEmail2fa(app, user)
    const first = await startLogin(app, user)
    await expectTokenPairFor(app, await verify(app, first.challenge_token, recoveryCodes[0]!), user.id)

    const second = await startLogin(app, user)
    expect((await verify(app, second.challenge_token, recoveryCodes[0]!)).statusCode).toBe(401)
    // Another unused recovery code still works.
    expect((await verify(app, second.challenge_token, recoveryCodes[1]!)).statusCode).toBe(200)
  })

  it('the code expires after TWO_FA_CODE_EXPIRE_MINUTES', async () => {
    const clock = controllableClock()
    const timed = await context.buildApp({ TWO_FA_CODE_EXPIRE_MINUTES: '3' }, { now: clock.now })
    const user = await signedInUser(timed)
    await enableEmail2fa(timed, user)

    const inTime = await startLogin(timed, user)
    clock.advance(3 * 60_000 - 1_000)
    expect((await verify(timed, inTime.challenge_token, inTime.code!)).statusCode).toBe(200)

    const late = await startLogin(timed, user)
    clock.advance(3 * 60_000 + 1_000)
    expect((await verify(timed, late.challenge_token, late.code!)).statusCode).toBe(401)
  })

  it('resend-2fa within 60 s answers 429; after 61 s it mails a new code that works', async () => {
    const clock = controllableClock()
    const timed = await context.buildApp({}, { now: clock.now })
    const user = await signedInUser(timed)
    await enableEmail2fa(timed, user)
    const challenge = await startLogin(timed, user)

    clock.advance(30_000)
    expect((await post(timed, 'resend-2fa', { challenge_token: challenge.challenge_token })).statusCode).toBe(429)

    clock.advance(31_000)
    const seen = await mailIds(timed, user.email)
    const resent = await post(timed, 'resend-2fa', { challenge_token: challenge.challenge_token })
    expect(resent.statusCode, resent.body).toBe(200)
    const newCode = await nextCode(timed, user.email, seen)
    await expectTokenPairFor(timed, await verify(timed, challenge.challenge_token, newCode), user.id)
  })

  it('disable-2fa refuses a wrong password with 400 and turns 2FA off with the right one', async () => {
    const user = await signedInUser(app)
    await enableEmail2fa(app, user)

    const wrong = await post(app, 'disable-2fa', { password: 'Not-my-password-1' }, user.headers)
    expect(wrong.statusCode).toBe(400)
    expect((await me(app, user.tokens.access_token)).json().two_fa_enabled).toBe(true)

    const right = await post(app, 'disable-2fa', { password: user.password }, user.headers)
    expect(right.statusCode, right.body).toBe(200)
    expect(right.json().two_fa_enabled).toBe(false)
    expect((await me(app, user.tokens.access_token)).json().two_fa_enabled).toBe(false)

    const login = await post(app, 'login', { username_or_email: user.username, password: user.password })
    expect(login.statusCode).toBe(200)
    expect(login.json()).toHaveProperty('access_token')
  })
})

describe('authenticator app (TOTP)', () => {
  async function setUpTotp() {
    const clock = controllableClock()
    const timed = await context.buildApp({}, { now: clock.now })
    const user = await signedInUser(timed)
    const setup = await post(timed, 'totp/setup', undefined, user.headers)
    expect(setup.statusCode, setup.body).toBe(200)
    const { secret, otpauth_url } = setup.json() as { secret: string; otpauth_url: string }
    return { clock, timed, user, secret, otpauth_url }
  }

  it('totp/setup answers a secret and an otpauth URL carrying it', async () => {
    const { secret, otpauth_url } = await setUpTotp()
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/)
    expect(otpauth_url).toMatch(/^otpauth:\/\/totp\//)
    expect(new URL(otpauth_url).searchParams.get('secret')).toBe(secret)
  })

  it('totp/confirm with a wrong code leaves 2FA off', async () => {
    const { clock, timed, user, secret } = await setUpTotp()
    const response = await post(timed, 'totp/confirm', { code: wrongCode(totpAt(secret, clock.current())) }, user.headers)
    expect(response.statusCode).toBe(400)
    expect((await me(timed, user.tokens.access_token)).json().two_fa_enabled).toBe(false)
  })

  it('after totp/confirm a login asks for a TOTP code and a fresh one finishes it', async () => {
    const { clock, timed, user, secret } = await setUpTotp()
    const confirm = await post(timed, 'totp/confirm', { code: totpAt(secret, clock.current()) }, user.headers)
    expect(confirm.statusCode, confirm.body).toBe(200)
    expect(confirm.json().two_fa_enabled).toBe(true)
    expect((await me(timed, user.tokens.access_token)).json().two_fa_enabled).toBe(true)

    clock.advance(30_000)
    const challenge = await startLogin(timed, user)
    expect(challenge.method).toBe('totp')
    await expectTokenPairFor(timed, await verify(timed, challenge.challenge_token, totpAt(secret, clock.current())), user.id)
  })

  it('a TOTP code cannot be used twice', async () => {
    const { clock, timed, user, secret } = await setUpTotp()
    const confirmCode = totpAt(secret, clock.current())
    expect((await post(timed, 'totp/confirm', { code: confirmCode }, user.headers)).statusCode).toBe(200)

    // The code that confirmed the app does not also sign in.
    const first = await startLogin(timed, user)
    expect((await verify(timed, first.challenge_token, confirmCode)).statusCode).toBe(401)

    clock.advance(30_000)
    const code = totpAt(secret, clock.current())
    expect((await verify(timed, first.challenge_token, code)).statusCode).toBe(200)

    const second = await startLogin(timed, user)
    expect((await verify(timed, second.challenge_token, code)).statusCode).toBe(401)
    clock.advance(30_000)
    expect((await verify(timed, second.challenge_token, totpAt(secret, clock.current()))).statusCode).toBe(200)
  })
})

describe('recovery codes', () => {
  it('recovery-codes issues a fresh set and the old codes stop working', async () => {
    const user = await signedInUser(app)
    const oldCodes = await enableEmail2fa(app, user)
    const response = await post(app, 'recovery-codes', { password: user.password }, user.headers)
    expect(response.statusCode, response.body).toBe(200)
    const newCodes = response.json().recovery_codes as string[]
    expect(newCodes).toHaveLength(10)
    expect(newCodes.filter((code) => oldCodes.includes(code))).toEqual([])

    const challenge = await startLogin(app, user)
    expect((await verify(app, challenge.challenge_token, oldCodes[0]!)).statusCode).toBe(401)
    expect((await verify(app, challenge.challenge_token, newCodes[0]!)).statusCode).toBe(200)
  })
})
