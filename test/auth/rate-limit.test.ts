import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { randomIp, registerUser, type TestUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const LIMITS = { RATE_LIMIT_ENABLED: 'true', AUTH_RATE_LIMIT_PER_MINUTE: '3', LOGIN_RATE_LIMIT_PER_ACCOUNT: '3', RATE_LIMIT_PER_MINUTE: '1000' }

/** Users are registered through an app without limits (same database), so setup never spends the budget. */
let setup: App

beforeAll(async () => {
  setup = await context.buildApp()
})

const login = (app: App, user: { username: string }, password: string, remoteAddress: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password }, remoteAddress })

function expectTooMany(response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }) {
  expect(response.statusCode).toBe(429)
  const retryAfter = Number(response.headers['retry-after'])
  expect(retryAfter).toBeGreaterThan(0)
  expect(retryAfter).toBeLessThanOrEqual(15 * 60)
  expect(response.json()).toEqual({ detail: expect.any(String), code: 'rate_limited' })
}

describe('per-IP login limit', () => {
  it('answers the 4th login from one IP within a minute with 429, retry-after and a detail', async () => {
    const app = await context.buildApp(LIMITS)
    const user = await registerUser(setup)
    const ip = randomIp()
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      expect((await login(app, user, user.password, ip)).statusCode, `attempt ${attempt}`).toBe(200)
    }
    const blocked = await login(app, user, user.password, ip)
    expectTooMany(blocked)
    expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(60)
  })

  it('counts each IP on its own', async () => {
    const app = await context.buildApp(LIMITS)
    const users: TestUser[] = [await registerUser(setup), await registerUser(setup)]
    const busy = randomIp()
    for (let attempt = 1; attempt <= 3; attempt += 1) await login(app, users[0]!, users[0]!.password, busy)
    expect((await login(app, users[1]!, users[1]!.password, busy)).statusCode).toBe(429)
    expect((await login(app, users[1]!, users[1]!.password, randomIp())).statusCode).toBe(200)
  })
})

describe('per-account login limit', () => {
  it('locks an account after 3 failed logins coming from different IPs, even for the right password', async () => {
    const app = await context.buildApp(LIMITS)
    const user = await registerUser(setup)
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      expect((await login(app, user, 'Wrong-password-123', randomIp())).statusCode, `attempt ${attempt}`).toBe(401)
    }
    expectTooMany(await login(app, user, user.password, randomIp()))
  })

  it('counts failures against the account whether its username or its email is typed', async () => {
    const app = await context.buildApp(LIMITS)
    const user = await registerUser(setup)
    const attempts = [user.username, user.email, user.username.toUpperCase()]
    for (const identifier of attempts) {
      expect((await login(app, { username: identifier }, 'Wrong-password-123', randomIp())).statusCode, identifier).toBe(401)
    }
    expectTooMany(await login(app, { username: user.email }, user.password, randomIp()))
    expectTooMany(await login(app, user, user.password, randomIp()))
  })

  it('leaves other accounts alone', async () => {
    const app = await context.buildApp(LIMITS)
    const locked = await registerUser(setup)
    const other = await registerUser(setup)
    for (let attempt = 1; attempt <= 3; attempt += 1) await login(app, locked, 'Wrong-password-123', randomIp())
    expect((await login(app, locked, locked.password, randomIp())).statusCode).toBe(429)
    expect((await login(app, other, other.password, randomIp())).statusCode).toBe(200)
  })

  it('does not count successful logins', async () => {
    const app = await context.buildApp(LIMITS)
    const user = await registerUser(setup)
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expect((await login(app, user, user.password, randomIp())).statusCode, `attempt ${attempt}`).toBe(200)
    }
  })
})

describe('with RATE_LIMIT_ENABLED=false', () => {
  it('limits neither IPs nor accounts', async () => {
    const user = await registerUser(setup)
    const ip = randomIp()
    for (let attempt = 1; attempt <= 5; attempt += 1) expect((await login(setup, user, 'Wrong-password-123', ip)).statusCode).toBe(401)
    for (let attempt = 1; attempt <= 5; attempt += 1) expect((await login(setup, user, user.password, ip)).statusCode).toBe(200)
  })
})
