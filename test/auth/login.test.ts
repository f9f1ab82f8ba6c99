import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import {
  DEFAULT_PASSWORD,
  authHeader,
  controllableClock,
  expectNoSecrets,
  fetchUser,
  loginAs,
  registerUser,
  setUserColumns,
  signedInUser,
  uniqueName,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const register = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/v1/auth/register', payload })
const login = (username_or_email: string, password: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email, password } })

function newIdentity() {
  const username = uniqueName()
  return { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD }
}

describe('registration', () => {
  it('needs only username, email and password and answers 201 with the public user and its defaults', async () => {
    const identity = newIdentity()
    const response = await register(identity)
    expect(response.statusCode, response.body).toBe(201)
    const user = response.json()
    expect(user).toMatchObject({
      id: expect.any(Number),
      username: identity.username,
      email: identity.email,
      first_name: null,
      last_name: null,
      phone_number: null,
      phone_verified: false,
      avatar_url: null,
      bio: null,
      timezone: 'UTC',
      language: 'en',
      role: 'user',
      is_active: true,
      two_fa_enabled: false,
      email_verified: false,
      last_login_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    })
    expect(Number.isNaN(Date.parse(user.created_at))).toBe(false)
    expectNoSecrets(user)
  })

  it('accepts the optional profile fields', async () => {
    const identity = newIdentity()
    const profile = {
      first_name: 'Ada',
      last_name: 'Lovelace',
      phone_number: '+44 20 7946 0958',
      avatar_url: 'https://example.com/ada.png',
      bio: 'Wrote the first program.',
      timezone: 'Europe/London',
      language: 'fr',
    }
    const response = await register({ ...identity, ...profile })
    expect(response.statusCode, response.body).toBe(201)
    expect(response.json()).toMatchObject(profile)
  })

  it('stores the email lowercased', async () => {
    const identity = newIdentity()
    const response = await register({ ...identity, email: `Mixed.${identity.username}@Example.COM` })
    expect(response.statusCode, response.body).toBe(201)
    expect(response.json().email).toBe(`mixed.${identity.username}@example.com`)
  })

  it('refuses a duplicate username, also when it differs only in case, with 409', async () => {
    const existing = await registerUser(app)
    for (const username of [existing.username, existing.username.toUpperCase()]) {
      const response = await register({ ...newIdentity(), username })
      expect(response.statusCode, username).toBe(409)
      expect(response.json()).toEqual({ detail: expect.any(String), code: expect.any(String) })
    }
  })

  it('refuses a duplicate email, also when it differs only in case, with 409', async () => {
    const existing = await registerUser(app)
    for (const email of [existing.email, existing.email.toUpperCase()]) {
      const response = await register({ ...newIdentity(), email })
      expect(response.statusCode, email).toBe(409)
    }
  })

  it('accepts role "user"', async () => {
    const response = await register({ ...newIdentity(), role: 'user' })
    expect(response.statusCode, response.body).toBe(201)
    expect(response.json().role).toBe('user')
  })

  it('refuses role admin and superadmin with 403 and creates nobody', async () => {
    for (const role of ['admin', 'superadmin']) {
      const identity = newIdentity()
      const response = await register({ ...identity, role })
      expect(response.statusCode, role).toBe(403)
      expect((await login(identity.username, identity.password)).statusCode).toBe(401)
      // The name is still free: nothing was stored.
      expect((await register(identity)).statusCode).toBe(201)
    }
  })

  it('accepts passwords of 8 to 128 characters and refuses shorter or longer ones with 422', async () => {
    expect((await register({ ...newIdentity(), password: 'Abcdef1!' })).statusCode).toBe(201)
    expect((await register({ ...newIdentity(), password: `${'Ab1!'.repeat(31)}Zy9?` })).statusCode).toBe(201)
    expect((await register({ ...newIdentity(), password: 'Abcde1!' })).statusCode).toBe(422)
    expect((await register({ ...newIdentity(), password: `${'Ab1!'.repeat(32)}x` })).statusCode).toBe(422)
  })

  it('does not truncate long passwords: two 100-character passwords sharing the first 80 differ', async () => {
    const prefix = 'Kq7-'.repeat(20)
    const password = `${prefix}${'a1B2c3D4e5'.repeat(2)}`
    const sibling = `${prefix}${'z9Y8x7W6v5'.repeat(2)}`
    expect(password).toHaveLength(100)
    expect(sibling).toHaveLength(100)
    const user = await registerUser(app, { password })
    expect((await login(user.username, sibling)).statusCode).toBe(401)
    expect((await login(user.username, password)).statusCode).toBe(200)
  })

  it('refuses usernames shorter than 3 or longer than 50 characters with 422', async () => {
    expect((await register({ ...newIdentity(), username: 'ab' })).statusCode).toBe(422)
    expect((await register({ ...newIdentity(), username: `x${uniqueName()}`.padEnd(51, 'y') })).statusCode).toBe(422)
    const fifty = `x${uniqueName()}`.padEnd(50, 'y')
    expect((await register({ ...newIdentity(), username: fifty })).statusCode).toBe(201)
  })

  it('refuses a phone number over 20 characters and an avatar URL over 500 characters with 422', async () => {
    expect((await register({ ...newIdentity(), phone_number: '+1234567890123456789012' })).statusCode).toBe(422)
    expect((await register({ ...newIdentity(), avatar_url: `https://example.com/${'a'.repeat(481)}` })).statusCode).toBe(422)
    expect((await register({ ...newIdentity(), avatar_url: `https://example.com/${'a'.repeat(480)}` })).statusCode).toBe(201)
  })

  it('refuses a timezone that is not an IANA zone with 422', async () => {
    expect((await register({ ...newIdentity(), timezone: 'Mars/Olympus_Mons' })).statusCode).toBe(422)
    const response = await register({ ...newIdentity(), timezone: 'America/New_York' })
    expect(response.statusCode).toBe(201)
    expect(response.json().timezone).toBe('America/New_York')
  })

  it('answers a missing field with 422 and a detail list of {loc, msg, type}', async () => {
    const { username, password } = newIdentity()
    const response = await register({ username, password })
    expect(response.statusCode).toBe(422)
    const { detail } = response.json()
    expect(Array.isArray(detail)).toBe(true)
    for (const issue of detail) expect(issue).toEqual({ loc: expect.any(Array), msg: expect.any(String), type: expect.any(String) })
    expect(detail).toContainEqual(expect.objectContaining({ loc: ['body', 'email'] }))
  })

  it('works with a trailing slash', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/register/', payload: newIdentity() })
    expect(response.statusCode).toBe(201)
  })
})

describe('login', () => {
  it('answers a bearer token pair for the username and for the email', async () => {
    const user = await registerUser(app)
    for (const identifier of [user.username, user.email]) {
      const response = await login(identifier, user.password)
      expect(response.statusCode, response.body).toBe(200)
      const body = response.json()
      expect(body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: expect.any(Number) })
      expect(body.expires_in).toBeGreaterThan(0)
      const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(body.access_token) })
      expect(me.statusCode).toBe(200)
      expect(me.json().id).toBe(user.id)
    }
  })

  it('records last_login_at', async () => {
    const user = await registerUser(app)
    expect(user.body.last_login_at).toBeNull()
    const before = Date.now()
    const tokens = await loginAs(app, user)
    const after = Date.now()
    const me = (await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })).json()
    const at = Date.parse(me.last_login_at)
    expect(at).toBeGreaterThanOrEqual(before - 1000)
    expect(at).toBeLessThanOrEqual(after + 1000)
  })

  it('moves last_login_at forward on every login, as GET /users/me shows', async () => {
    const clock = controllableClock()
    const timed = await context.buildApp({}, { now: clock.now })
    const user = await registerUser(timed)
    const first = await loginAs(timed, user)
    const firstMe = (await timed.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(first.access_token) })).json()
    expect(Date.parse(firstMe.last_login_at)).toBe(clock.current())

    clock.advance(5 * 60_000)
    const second = await loginAs(timed, user)
    expect(Date.parse((await fetchUser(timed, authHeader(second.access_token), user.id)).last_login_at as string)).toBe(clock.current())
    const secondMe = (await timed.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(second.access_token) })).json()
    expect(Date.parse(secondMe.last_login_at)).toBe(clock.current())
  })

  it('answers a wrong password and an unknown username with the identical 401 body', async () => {
    const user = await registerUser(app)
    const wrongPassword = await login(user.username, 'Not-the-password-1')
    const unknownUser = await login(uniqueName('ghost'), 'Not-the-password-1')
    const unknownEmail = await login(`${uniqueName('ghost')}@example.com`, user.password)
    expect(wrongPassword.statusCode).toBe(401)
    expect(unknownUser.statusCode).toBe(401)
    expect(unknownEmail.statusCode).toBe(401)
    expect(unknownUser.body).toBe(wrongPassword.body)
    expect(unknownEmail.body).toBe(wrongPassword.body)
    expect(wrongPassword.json()).toEqual({ detail: expect.any(String), code: expect.any(String) })
  })

  it('refuses an inactive user with 403', async () => {
    const user = await registerUser(app)
    await setUserColumns(app, user.id, { isActive: false })
    const response = await login(user.username, user.password)
    expect(response.statusCode).toBe(403)
    expect(response.json()).not.toHaveProperty('access_token')
  })

  it('answers a user with 2FA on with a challenge and no tokens', async () => {
    const user = await registerUser(app)
    await setUserColumns(app, user.id, { twoFaEnabled: true, twoFaMethod: 'email' })
    const response = await login(user.username, user.password)
    expect(response.statusCode).toBe(200)
    const body = response.json()
    expect(body).toEqual({ requires_2fa: true, challenge_token: expect.any(String), method: 'email' })
    expect(body).not.toHaveProperty('access_token')
    expect(body).not.toHaveProperty('refresh_token')
  })

  it('answers a login body without password with 422', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'someone' } })
    expect(response.statusCode).toBe(422)
    expect(response.json().detail).toContainEqual(expect.objectContaining({ loc: ['body', 'password'] }))
  })

  it('works with a trailing slash', async () => {
    const { username, password } = await signedInUser(app)
    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/login/', payload: { username_or_email: username, password } })
    expect(response.statusCode).toBe(200)
  })
})
