import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { totpAt } from '../../src/modules/auth/totp.js'
import { authHeader, controllableClock, createUser, signedInUser, type TestClock } from '../helpers/factories.js'
import { sleep, waitForValue } from '../helpers/wait.js'
import { useTestContext } from '../helpers/test-context.js'
import { CURL, FIREFOX_LINUX, endOtherSessions, endSession, listResponse, listSessions, me, refresh, sessionIdOf, signIn, type SessionView } from './helpers.js'

const context = useTestContext()
let app: App
let clock: TestClock

beforeAll(async () => {
  // The test clock orders sign-ins and uses deterministically; nothing here depends on real time passing.
  clock = controllableClock()
  app = await context.buildApp({}, { now: clock.now })
})

const iso = (ms: number) => new Date(ms).toISOString()

describe('GET /api/v1/auth/sessions', () => {
  it('lists both sign-ins, newest use first, with the device, address and proof of each, and marks the caller current', async () => {
    const user = await createUser(app)
    const firefox = await signIn(app, user, { userAgent: FIREFOX_LINUX, ip: '198.51.100.10' })
    const firefoxAt = clock.current()
    clock.advance(1_000)
    const curl = await signIn(app, user, { userAgent: CURL, ip: '203.0.113.20' })
    const curlAt = clock.current()

    const listed = await listSessions(app, curl.access_token)
    expect(listed).toEqual([
      {
        id: sessionIdOf(curl.access_token),
        created_at: iso(curlAt),
        last_used_at: iso(curlAt),
        ip: '203.0.113.20',
        user_agent: CURL,
        device: 'curl',
        auth_methods: ['password'],
        current: true,
      },
      {
        id: sessionIdOf(firefox.access_token),
        created_at: iso(firefoxAt),
        last_used_at: iso(firefoxAt),
        ip: '198.51.100.10',
        user_agent: FIREFOX_LINUX,
        device: 'Firefox on Linux',
        auth_methods: ['password'],
        current: false,
      },
    ])

    // The order is by use, not by who asks: the Firefox session sees the same order, itself marked current.
    const fromFirefox = await listSessions(app, firefox.access_token)
    expect(fromFirefox.map((session) => [session.device, session.current])).toEqual([
      ['curl', false],
      ['Firefox on Linux', true],
    ])
  })

  it('lists only the caller\'s own sessions', async () => {
    const alice = await signedInUser(app)
    const bob = await signedInUser(app)
    const listed = await listSessions(app, alice.tokens.access_token)
    expect(listed.map((session) => session.id)).toEqual([sessionIdOf(alice.tokens.access_token)])
    expect(listed.map((session) => session.id)).not.toContain(sessionIdOf(bob.tokens.access_token))
  })

  it('records a TOTP sign-in as "password+totp"', async () => {
    const user = await signedInUser(app)
    const setup = await app.inject({ method: 'POST', url: '/api/v1/auth/totp/setup', headers: user.headers })
    expect(setup.statusCode, setup.body).toBe(200)
    const { secret } = setup.json() as { secret: string }
    const confirmed = await app.inject({ method: 'POST', url: '/api/v1/auth/totp/confirm', headers: user.headers, payload: { code: totpAt(secret, clock.current()) } })
    expect(confirmed.statusCode, confirmed.body).toBe(200)

    // The next 30-second step, so the confirmation code is not replayed.
    clock.advance(30_000)
    const challenge = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password }, headers: { 'user-agent': FIREFOX_LINUX } })
    expect(challenge.json()).toMatchObject({ requires_2fa: true, method: 'totp' })
    const verified = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/verify-2fa',
      payload: { challenge_token: challenge.json().challenge_token, code: totpAt(secret, clock.current()) },
      headers: { 'user-agent': FIREFOX_LINUX },
    })
    expect(verified.statusCode, verified.body).toBe(200)
    const tokens = verified.json() as { access_token: string }

    const listed = await listSessions(app, tokens.access_token)
    const byId = new Map(listed.map((session) => [session.id, session]))
    expect(byId.get(sessionIdOf(tokens.access_token))).toMatchObject({ auth_methods: ['password+totp'], current: true, device: 'Firefox on Linux' })
    // The sign-in from before 2FA was turned on keeps what proved it.
    expect(byId.get(sessionIdOf(user.tokens.access_token))).toMatchObject({ auth_methods: ['password'], current: false })
  })

  it('is refused to an API key (403) and without credentials (401)', async () => {
    const user = await signedInUser(app)
    const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: user.headers, payload: { name: 'script' } })
    expect(created.statusCode, created.body).toBe(201)
    const viaKey = await listResponse(app, { 'x-api-key': created.json().key as string })
    expect(viaKey.statusCode, viaKey.body).toBe(403)
    expect((await listResponse(app, {})).statusCode).toBe(401)
    expect((await listResponse(app, authHeader('not-a-token'))).statusCode).toBe(401)
  })
})

describe('DELETE /api/v1/auth/sessions/{id}', () => {
  it('ends that session: its access token is refused on the next request and its refresh token too', async () => {
    const user = await createUser(app)
    const laptop = await signIn(app, user, { userAgent: FIREFOX_LINUX })
    const phone = await signIn(app, user, { userAgent: CURL })
    // The laptop's principal is cached before the ending: the refusal must not wait for the cache to age.
    expect((await me(app, laptop.access_token)).statusCode).toBe(200)

    const ended = await endSession(app, phone.access_token, sessionIdOf(laptop.access_token))
    expect(ended.statusCode, ended.body).toBe(204)
    expect(ended.body).toBe('')

    expect((await me(app, laptop.access_token)).statusCode).toBe(401)
    expect((await refresh(app, laptop.refresh_token)).statusCode).toBe(401)
    // The session that ended it goes on.
    expect((await me(app, phone.access_token)).statusCode).toBe(200)
    expect((await listSessions(app, phone.access_token)).map((session) => session.id)).toEqual([sessionIdOf(phone.access_token)])
    // Ending it again finds nothing.
    expect((await endSession(app, phone.access_token, sessionIdOf(laptop.access_token))).statusCode).toBe(404)
  })

  it('answers 404 for another user\'s session, which stays alive', async () => {
    const alice = await signedInUser(app)
    const bob = await signedInUser(app)
    const bobSession = sessionIdOf(bob.tokens.access_token)

    const attempt = await endSession(app, alice.tokens.access_token, bobSession)
    expect(attempt.statusCode, attempt.body).toBe(404)

    expect((await me(app, bob.tokens.access_token)).statusCode).toBe(200)
    expect((await listSessions(app, bob.tokens.access_token)).map((session) => session.id)).toEqual([bobSession])
    expect((await refresh(app, bob.tokens.refresh_token)).statusCode).toBe(200)
  })

  it('answers 404 for an unknown id and 422 or 404 (never 500) for a malformed one', async () => {
    const user = await signedInUser(app)
    expect((await endSession(app, user.tokens.access_token, '00000000-0000-4000-8000-000000000000')).statusCode).toBe(404)
    // (Path segments over the server's length limit answer 414 before routing; these stay under it.)
    for (const malformed of ['not-a-uuid', '1', '00000000-0000-4000-8000-00000000000g', '00000000-0000-4000-8000-0000000000000', "x' or '1'='1"]) {
      const response = await endSession(app, user.tokens.access_token, encodeURIComponent(malformed))
      expect([404, 422], `${malformed}: ${response.statusCode} ${response.body}`).toContain(response.statusCode)
    }
    // Nothing above touched the caller's own session.
    expect((await me(app, user.tokens.access_token)).statusCode).toBe(200)
  })

  it('is refused without credentials', async () => {
    const user = await signedInUser(app)
    const response = await app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${sessionIdOf(user.tokens.access_token)}` })
    expect(response.statusCode).toBe(401)
    expect((await me(app, user.tokens.access_token)).statusCode).toBe(200)
  })
})

describe('DELETE /api/v1/auth/sessions', () => {
  it('ends every other session and keeps the current one', async () => {
    const user = await createUser(app)
    const others = [await signIn(app, user, { userAgent: FIREFOX_LINUX }), await signIn(app, user, { userAgent: CURL })]
    const current = await signIn(app, user)
    for (const other of others) expect((await me(app, other.access_token)).statusCode).toBe(200)

    const response = await endOtherSessions(app, current.access_token)
    expect(response.statusCode, response.body).toBe(204)

    for (const other of others) {
      expect((await me(app, other.access_token)).statusCode).toBe(401)
      expect((await refresh(app, other.refresh_token)).statusCode).toBe(401)
    }
    expect((await me(app, current.access_token)).statusCode).toBe(200)
    const listed = await listSessions(app, current.access_token)
    expect(listed.map((session) => [session.id, session.current])).toEqual([[sessionIdOf(current.access_token), true]])
    const rotated = await refresh(app, current.refresh_token)
    expect(rotated.statusCode, rotated.body).toBe(200)
    expect(sessionIdOf(rotated.json().access_token)).toBe(sessionIdOf(current.access_token))
  })
})

describe('last_used_at', () => {
  /** The Firefox session as another session of the same user sees it (listing is itself a use of the lister). */
  async function watched() {
    const user = await createUser(app)
    const used = await signIn(app, user, { userAgent: FIREFOX_LINUX, ip: '198.51.100.30' })
    const observer = await signIn(app, user, { userAgent: CURL })
    const id = sessionIdOf(used.access_token)
    const read = async (): Promise<SessionView> => (await listSessions(app, observer.access_token)).find((session) => session.id === id)!
    return { used, read, signedInAt: clock.current() }
  }

  /** Waits for the recorded last use to become `expected` (the write is not awaited by the request). */
  const becomes = async (read: () => Promise<SessionView>, expected: number) =>
    waitForValue(async () => ((await read()).last_used_at === iso(expected) ? true : undefined), `last_used_at to become ${iso(expected)}`, { timeoutMs: 5_000 })

  it('moves forward when the session is used more than a minute later, and not on every request', async () => {
    const { used, read, signedInAt } = await watched()
    expect((await read()).last_used_at).toBe(iso(signedInAt))

    clock.advance(61_000)
    const usedAt = clock.current()
    expect((await me(app, used.access_token, { ip: '198.51.100.31' })).statusCode).toBe(200)
    await becomes(read, usedAt)
    // The address shown is the one of the last use.
    expect((await read()).ip).toBe('198.51.100.31')

    // Within the next minute, uses are not written: a request is not a database write.
    clock.advance(30_000)
    for (let index = 0; index < 5; index += 1) expect((await me(app, used.access_token)).statusCode).toBe(200)
    await sleep(300)
    expect((await read()).last_used_at).toBe(iso(usedAt))

    // Once a minute has passed since the recorded use, the next use is written again.
    clock.advance(31_000)
    const laterAt = clock.current()
    expect((await me(app, used.access_token)).statusCode).toBe(200)
    await becomes(read, laterAt)
  })

  it('moves forward on the first use more than a minute after the recorded one, even when the session was used in between', async () => {
    const { used, read, signedInAt } = await watched()
    // A use 30 s after sign-in is rightly not written (the recorded use is 30 s old)...
    clock.advance(30_000)
    expect((await me(app, used.access_token)).statusCode).toBe(200)
    await sleep(300)
    expect((await read()).last_used_at).toBe(iso(signedInAt))
    // ...but a use 61 s after the recorded one must be: otherwise "last active" lags by up to two minutes.
    clock.advance(31_000)
    const usedAt = clock.current()
    expect((await me(app, used.access_token)).statusCode).toBe(200)
    await becomes(read, usedAt)
  })

  it('moves forward when the session refreshes', async () => {
    const { used, read } = await watched()
    clock.advance(5 * 60_000)
    const refreshedAt = clock.current()
    const rotated = await refresh(app, used.refresh_token)
    expect(rotated.statusCode, rotated.body).toBe(200)
    await becomes(read, refreshedAt)
  })
})
