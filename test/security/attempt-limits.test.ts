import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { authHeader, mailsTo, randomIp, registerUser, signedInUser, waitForMail, wrongCode, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { auditEntries, call, enableEmail2fa, expectTooManyRequests, startTwoFactorLogin, type Answer } from './attacker.js'

// Issue #14 points 4-7: the per-account counters that stop guessing a password or a second factor,
// probed the way an attacker would (many addresses, many challenges, parallel requests, and the
// "confirm your password" endpoints as a side door).

const context = useTestContext()
/**
 * The per-account limits on, at their defaults; the per-IP route limits and the global limit set out
 * of reach, so what these tests see is the per-account counting alone (an attacker has many addresses).
 */
const ACCOUNT_LIMITS_ONLY = { RATE_LIMIT_ENABLED: 'true', AUTH_RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000' }
const WRONG_PASSWORD = 'Not-the-password-123'

/** Users are made and set up through an app without limits (same database), so setup spends no budget. */
let setup: App
let limited: App
let admin: SignedInUser

beforeAll(async () => {
  setup = await context.buildApp()
  limited = await context.buildApp(ACCOUNT_LIMITS_ONLY)
  admin = await signedInUser(setup, 'admin')
})

const login = (user: { username: string }, password: string, ip: string) =>
  call(limited, 'POST', '/api/v1/auth/login', { payload: { username_or_email: user.username, password }, ip })
const verify2fa = (challenge_token: string, code: string, ip: string) => call(limited, 'POST', '/api/v1/auth/verify-2fa', { payload: { challenge_token, code }, ip })

describe('wrong 2FA codes, counted per account across challenges (point 4)', () => {
  it('after 10 wrong codes spread over new password logins, the 11th verify-2fa gets 429 with Retry-After, even on a new challenge with the right code', async () => {
    const user = await signedInUser(setup)
    const bystander = await signedInUser(setup)
    await enableEmail2fa(setup, user)
    await enableEmail2fa(setup, bystander)

    // Each challenge allows 5 tries; the attacker (who has the password) simply logs in again.
    for (let round = 1; round <= 2; round += 1) {
      const { challenge, code } = await startTwoFactorLogin(limited, user, randomIp())
      for (let attempt = 1; attempt <= 5; attempt += 1) {
        const response = await verify2fa(challenge, wrongCode(code), randomIp())
        expect(response.statusCode, `round ${round}, attempt ${attempt}: ${response.body}`).toBe(401)
      }
    }

    const fresh = await startTwoFactorLogin(limited, user, randomIp())
    const locked = await verify2fa(fresh.challenge, fresh.code, randomIp())
    expectTooManyRequests(locked, '11th code, right one, new challenge')
    expect(locked.body).not.toContain('access_token')
    expectTooManyRequests(await verify2fa(fresh.challenge, wrongCode(fresh.code), randomIp()), '12th code')

    const entries = await auditEntries(setup, admin.headers, user.id, 'auth.2fa_locked')
    expect(entries.length).toBeGreaterThanOrEqual(1)
    expect(entries[0]).toMatchObject({ actor_id: user.id, target_id: user.id })

    // The owner hears about it once, not once per refused guess.
    await waitForMail(limited, user.email, { subject: /too many wrong/i })
    expectTooManyRequests(await verify2fa(fresh.challenge, wrongCode(fresh.code), randomIp()), '13th code')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await mailsTo(limited, user.email)).filter((mail) => /too many wrong/i.test(mail.subject))).toHaveLength(1)

    // The lock is the account's: other accounts sign in as usual.
    const theirs = await startTwoFactorLogin(limited, bystander, randomIp())
    expect((await verify2fa(theirs.challenge, theirs.code, randomIp())).statusCode).toBe(200)
  })
})

describe('parallel wrong passwords (point 5)', () => {
  it('from 40 addresses at once: at most LOGIN_RATE_LIMIT_PER_ACCOUNT (30) are answered 401, the rest 429', async () => {
    const user = await registerUser(setup)
    const responses = await Promise.all(Array.from({ length: 40 }, () => login(user, WRONG_PASSWORD, randomIp())))
    const statuses = responses.map((response) => response.statusCode)
    expect(statuses.filter((status) => status !== 401 && status !== 429), statuses.join(',')).toEqual([])
    const refused = responses.filter((response) => response.statusCode === 429)
    expect(statuses.filter((status) => status === 401).length, statuses.join(',')).toBeLessThanOrEqual(30)
    expect(refused.length).toBeGreaterThanOrEqual(10)
    for (const response of refused) expectTooManyRequests(response, 'raced attempt')
  })

  it('from one address at once: at most 10 are answered 401', async () => {
    const user = await registerUser(setup)
    const ip = randomIp()
    const responses = await Promise.all(Array.from({ length: 40 }, () => login(user, WRONG_PASSWORD, ip)))
    const statuses = responses.map((response) => response.statusCode)
    expect(statuses.filter((status) => status !== 401 && status !== 429), statuses.join(',')).toEqual([])
    expect(statuses.filter((status) => status === 401).length, statuses.join(',')).toBeLessThanOrEqual(10)
  })
})

describe('lockout as a weapon (point 6)', () => {
  it('10 wrong passwords from one address stop that address for that account, but not the owner elsewhere nor that address for other accounts', async () => {
    const user = await registerUser(setup)
    const other = await registerUser(setup)
    const attacker = randomIp()
    for (let attempt = 1; attempt <= 10; attempt += 1) {
      expect((await login(user, WRONG_PASSWORD, attacker)).statusCode, `attempt ${attempt}`).toBe(401)
    }
    expectTooManyRequests(await login(user, WRONG_PASSWORD, attacker), '11th from the attacker')
    // Even the right password from that address waits: the address is what is stopped.
    expectTooManyRequests(await login(user, user.password, attacker), 'right password from the attacker address')

    const owner = await login(user, user.password, randomIp())
    expect(owner.statusCode, owner.body).toBe(200)
    expect(owner.json()).toHaveProperty('access_token')
    expect((await login(other, other.password, attacker)).statusCode).toBe(200)
  })

  it('the account-wide lock needs failures from several addresses: 30 across 3 addresses lock the owner everywhere', async () => {
    const user = await registerUser(setup)
    for (const attacker of [randomIp(), randomIp(), randomIp()]) {
      for (let attempt = 1; attempt <= 10; attempt += 1) expect((await login(user, WRONG_PASSWORD, attacker)).statusCode).toBe(401)
    }
    expectTooManyRequests(await login(user, user.password, randomIp()), 'owner after 30 failures')
  })
})

describe('password re-checks count like logins (point 7)', () => {
  type Check = [string, (user: SignedInUser, password: string, ip: string) => Promise<Answer>]
  const checks: Check[] = [
    ['POST /users/me/password', (user, password, ip) =>
      call(limited, 'POST', '/api/v1/users/me/password', { headers: user.headers, payload: { current_password: password, new_password: 'Fresh-passphrase-88' }, ip })],
    ['POST /auth/disable-2fa', (user, password, ip) => call(limited, 'POST', '/api/v1/auth/disable-2fa', { headers: user.headers, payload: { password }, ip })],
    ['POST /auth/recovery-codes', (user, password, ip) => call(limited, 'POST', '/api/v1/auth/recovery-codes', { headers: user.headers, payload: { password }, ip })],
    ['POST /auth/reauthenticate', (user, password, ip) => call(limited, 'POST', '/api/v1/auth/reauthenticate', { headers: user.headers, payload: { password }, ip })],
    ['POST /api-keys (password proof)', (user, password, ip) => call(limited, 'POST', '/api/v1/api-keys/', { headers: user.headers, payload: { name: 'k', password }, ip })],
  ]

  it.each(checks)('a wrong password at %s answers 400 and is audited as auth.password_check_failed', async (_name, send) => {
    const user = await signedInUser(setup)
    const response = await send(user, WRONG_PASSWORD, randomIp())
    expect(response.statusCode, response.body).toBe(400)
    expect(await auditEntries(setup, admin.headers, user.id, 'auth.password_check_failed')).toHaveLength(1)
  })

  it('10 wrong passwords from one address, over logins and every re-check, make each of them answer 429; the owner elsewhere still gets in', async () => {
    const user = await signedInUser(setup)
    const attacker = randomIp()
    expect((await login(user, WRONG_PASSWORD, attacker)).statusCode).toBe(401)
    expect((await login(user, WRONG_PASSWORD, attacker)).statusCode).toBe(401)
    for (const [name, send] of checks.slice(0, 4)) {
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        const response = await send(user, WRONG_PASSWORD, attacker)
        expect(response.statusCode, `${name} #${attempt}: ${response.body}`).toBe(400)
      }
    }

    // The limit is reached: nothing from this address checks the password any more, right or wrong.
    for (const [name, send] of checks) {
      expectTooManyRequests(await send(user, WRONG_PASSWORD, attacker), `${name}, wrong`)
      expectTooManyRequests(await send(user, user.password, attacker), `${name}, right`)
    }
    expectTooManyRequests(await login(user, user.password, attacker), 'login from the attacker address')

    const audited = await auditEntries(setup, admin.headers, user.id, 'auth.password_check_failed')
    expect(audited).toHaveLength(8)
    expect(new Set(audited.map((entry) => entry.details.field))).toEqual(new Set(['current_password', 'password']))

    const elsewhere = await call(limited, 'POST', '/api/v1/auth/reauthenticate', { headers: user.headers, payload: { password: user.password }, ip: randomIp() })
    expect(elsewhere.statusCode, elsewhere.body).toBe(200)
    expect((await call(limited, 'GET', '/api/v1/users/me', { headers: authHeader(elsewhere.json().access_token) })).statusCode).toBe(200)
  })
})
