import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { controllableClock, createUser, signedInUser, type TokenPair } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { auditOf, listSessions, me, refresh, sessionIdOf, signIn } from './helpers.js'

const context = useTestContext()

const MINUTE = 60_000

async function rotate(app: App, pair: TokenPair): Promise<TokenPair> {
  const response = await refresh(app, pair.refresh_token)
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as TokenPair
}

describe('absolute lifetime (SESSION_MAX_LIFETIME_HOURS)', () => {
  it('ends a session 30 minutes after sign-in with SESSION_MAX_LIFETIME_HOURS=0.5, however often it refreshes', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ SESSION_MAX_LIFETIME_HOURS: '0.5' }, { now: clock.now })
    const user = await createUser(app)
    const start = await signIn(app, user)
    const id = sessionIdOf(start.access_token)

    // Refreshing every 10 minutes keeps it going...
    let pair = start
    for (const minute of [10, 20]) {
      clock.advance(10 * MINUTE)
      pair = await rotate(app, pair)
      expect(sessionIdOf(pair.access_token), `minute ${minute}`).toBe(id)
    }
    clock.advance(5 * MINUTE)
    const atMinute25 = await rotate(app, pair)
    // A second sign-in (ending at minute 55) to look at the list with once the first has ended.
    const observer = await signIn(app, user)
    expect((await listSessions(app, observer.access_token)).map((session) => session.id)).toContain(id)

    // ...until minute 30: the token issued at minute 25 does not outlive the session.
    clock.advance(5 * MINUTE + 1_000)
    const late = await refresh(app, atMinute25.refresh_token)
    expect(late.statusCode, late.body).toBe(401)
    expect((await listSessions(app, observer.access_token)).map((session) => session.id)).toEqual([sessionIdOf(observer.access_token)])

    const admin = await signedInUser(app, 'admin')
    const ended = (await auditOf(app, admin.headers, 'session.ended', user.id)).filter((entry) => entry.details.session_id === id)
    expect(ended.map((entry) => entry.details.reason)).toEqual(['expired'])
  })

  it('refuses the access token issued at minute 25 once the session reached its end at minute 30', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ SESSION_MAX_LIFETIME_HOURS: '0.5' }, { now: clock.now })
    const user = await createUser(app)
    const start = await signIn(app, user)
    clock.advance(25 * MINUTE)
    const atMinute25 = await rotate(app, start)
    expect((await me(app, atMinute25.access_token)).statusCode).toBe(200)
    // The access token alone would live until minute 55; the session it belongs to ends at minute 30.
    clock.advance(5 * MINUTE + 1_000)
    expect((await me(app, atMinute25.access_token)).statusCode).toBe(401)
  })

  it('still refreshes one second before the absolute end, and that token dies at the end', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ SESSION_MAX_LIFETIME_HOURS: '0.5' }, { now: clock.now })
    const user = await createUser(app)
    const start = await signIn(app, user)
    clock.advance(30 * MINUTE - 1_000)
    const lastPair = await rotate(app, start)
    expect((await me(app, lastPair.access_token)).statusCode).toBe(200)
    clock.advance(2_000)
    expect((await refresh(app, lastPair.refresh_token)).statusCode).toBe(401)
  })

  it('ends a session of the default lifetime (720 h) 30 days after sign-in, though it refreshed every 6 days', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await createUser(app)
    let pair = await signIn(app, user)
    // Idle expiry (REFRESH_TOKEN_EXPIRE_DAYS) is reset by each refresh; the absolute end of 30 days is not.
    for (let day = 6; day < 30; day += 6) {
      clock.advance(6 * 24 * 60 * MINUTE)
      pair = await rotate(app, pair)
    }
    clock.advance(6 * 24 * 60 * MINUTE + 1_000)
    expect((await refresh(app, pair.refresh_token)).statusCode).toBe(401)
  })
})

describe('refresh retry grace (REFRESH_REUSE_GRACE_SECONDS)', () => {
  it('answers a just-rotated token presented again within the grace with a working pair of the same session', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await createUser(app)
    const start = await signIn(app, user)
    const id = sessionIdOf(start.access_token)
    const first = await rotate(app, start)

    // The client lost the answer and tries again, 5 s later (default grace: 10 s).
    clock.advance(5_000)
    const retry = await refresh(app, start.refresh_token)
    expect(retry.statusCode, retry.body).toBe(200)
    const again = retry.json() as TokenPair
    expect(sessionIdOf(again.access_token)).toBe(id)
    expect((await me(app, again.access_token)).statusCode).toBe(200)
    expect((await me(app, first.access_token)).statusCode).toBe(200)
    const next = await rotate(app, again)
    expect(sessionIdOf(next.access_token)).toBe(id)
    expect((await listSessions(app, next.access_token)).map((session) => [session.id, session.current])).toEqual([[id, true]])
  })

  it('ends the session when the rotated token comes back after the grace', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ REFRESH_REUSE_GRACE_SECONDS: '10' }, { now: clock.now })
    const user = await createUser(app)
    const start = await signIn(app, user)
    const observer = await signIn(app, user)
    const first = await rotate(app, start)

    clock.advance(11_000)
    expect((await refresh(app, start.refresh_token)).statusCode).toBe(401)
    expect((await me(app, first.access_token)).statusCode).toBe(401)
    expect((await refresh(app, first.refresh_token)).statusCode).toBe(401)
    expect((await listSessions(app, observer.access_token)).map((session) => session.id)).toEqual([sessionIdOf(observer.access_token)])
  })

  it('accepts a fractional grace and refuses just past it', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ REFRESH_REUSE_GRACE_SECONDS: '1.5' }, { now: clock.now })
    const user = await createUser(app)
    const inTime = await signIn(app, user)
    await rotate(app, inTime)
    clock.advance(1_400)
    expect((await refresh(app, inTime.refresh_token)).statusCode).toBe(200)

    const late = await signIn(app, user)
    await rotate(app, late)
    clock.advance(1_600)
    expect((await refresh(app, late.refresh_token)).statusCode).toBe(401)
  })

  it('gives nothing to a retry within the grace once the session was ended', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    const observer = await signIn(app, user)
    for (const end of ['logout', 'delete'] as const) {
      const start = await signIn(app, user)
      const first = await rotate(app, start)
      const ended =
        end === 'logout'
          ? await app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token: first.refresh_token } })
          : await app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${sessionIdOf(start.access_token)}`, headers: { authorization: `Bearer ${observer.access_token}` } })
      expect(ended.statusCode, `${end}: ${ended.body}`).toBeLessThan(300)
      // Within the grace window, but the session is over: a retry must not bring it back.
      expect((await refresh(app, start.refresh_token)).statusCode, end).toBe(401)
    }
    expect((await listSessions(app, observer.access_token)).map((session) => session.id)).toEqual([sessionIdOf(observer.access_token)])
  })

  it('with REFRESH_REUSE_GRACE_SECONDS=0, refuses the rotated token at once and ends the session', async () => {
    const app = await context.buildApp({ REFRESH_REUSE_GRACE_SECONDS: '0' })
    const user = await createUser(app)
    const start = await signIn(app, user)
    const first = await rotate(app, start)
    expect((await refresh(app, start.refresh_token)).statusCode).toBe(401)
    expect((await refresh(app, first.refresh_token)).statusCode).toBe(401)
    expect((await me(app, first.access_token)).statusCode).toBe(401)
  })

  it('turns concurrent refreshes of one token into pairs of one session, never two sessions', async () => {
    const app = await context.buildApp()
    for (let round = 0; round < 3; round += 1) {
      const user = await createUser(app)
      const start = await signIn(app, user)
      const id = sessionIdOf(start.access_token)
      const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(app, start.refresh_token)))
      const statuses = answers.map((answer) => answer.statusCode)
      expect(statuses.every((status) => status === 200 || status === 401), `round ${round}: ${statuses.join(',')}`).toBe(true)
      const pairs = answers.filter((answer) => answer.statusCode === 200).map((answer) => answer.json() as TokenPair)
      expect(pairs.length, `round ${round}: ${statuses.join(',')}`).toBeGreaterThan(0)
      expect(new Set(pairs.map((pair) => sessionIdOf(pair.access_token)))).toEqual(new Set([id]))
      const listed = await listSessions(app, pairs[0]!.access_token)
      expect(listed.map((session) => session.id), `round ${round}`).toEqual([id])
    }
  })
})
