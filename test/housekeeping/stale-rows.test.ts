import { eq, inArray } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { oneTimeTokens, refreshTokens, sessions, twoFaChallenges } from '../../src/db/schema.js'
import {
  VERIFY_EMAIL_SUBJECT,
  authHeader,
  controllableClock,
  createUser,
  loginAs,
  registerUser,
  setUserColumns,
  tokenFrom,
  waitForMail,
  type TestUser,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

const post = (app: App, url: string, payload: object) => app.inject({ method: 'POST', url: `/api/v1/auth/${url}`, payload })

/** What is left of each user's rows, by table. */
async function rowsOf(app: App, user: TestUser) {
  const [sessionRows, refreshRows, challengeRows, tokenRows] = await Promise.all([
    app.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, user.id)),
    app.db.select({ id: refreshTokens.id }).from(refreshTokens).where(eq(refreshTokens.userId, user.id)),
    app.db.select({ id: twoFaChallenges.id }).from(twoFaChallenges).where(eq(twoFaChallenges.userId, user.id)),
    app.db.select({ id: oneTimeTokens.id, purpose: oneTimeTokens.purpose }).from(oneTimeTokens).where(eq(oneTimeTokens.userId, user.id)),
  ])
  return { sessions: sessionRows.length, refreshTokens: refreshRows.length, challenges: challengeRows.length, oneTimeTokens: tokenRows.map((row) => row.purpose) }
}

/** Starts a login that stops at its email code: a pending 2FA challenge. */
async function pendingChallenge(app: App, user: TestUser): Promise<void> {
  await setUserColumns(app, user.id, { twoFaEnabled: true, twoFaMethod: 'email' })
  const response = await post(app, 'login', { username_or_email: user.username, password: user.password })
  expect(response.json(), response.body).toMatchObject({ requires_2fa: true })
}

describe('housekeeping deletes exactly the stale rows', () => {
  it('drops expired challenges, tokens and refresh tokens, and sessions 30 days after they ended or expired; live rows stay', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0', TWO_FA_CODE_EXPIRE_MINUTES: '10' }, { now: clock.now })
    expect(app.housekeeping.schedule).toBe('off')

    // Day 0: a session ended at once, one left to expire on its own, and a 2FA login never finished.
    const loggedOut = await createUser(app)
    await post(app, 'logout', { refresh_token: (await loginAs(app, loggedOut)).refresh_token })
    const idle = await createUser(app)
    await loginAs(app, idle)
    const abandoned = await createUser(app)
    await pendingChallenge(app, abandoned)

    // Five minutes later another 2FA login is pending; ten minutes in, only the first challenge has expired.
    clock.advance(5 * MINUTE)
    const pending = await createUser(app)
    await pendingChallenge(app, pending)
    clock.advance(7 * MINUTE)
    const early = await app.housekeeping.run()
    expect(early.removed).toEqual({ refresh_tokens: 0, sessions: 0, two_fa_challenges: 1, one_time_tokens: 0, audit_logs: 0 })
    expect((await rowsOf(app, abandoned)).challenges).toBe(0)
    expect((await rowsOf(app, pending)).challenges).toBe(1)

    // Day 31: the logged-out session ended 31 days ago; the idle one expired a day ago (kept for 29 more).
    clock.advance(31 * DAY)
    const active = await createUser(app)
    const activeTokens = await loginAs(app, active)
    const verified = await registerUser(app)
    const link = tokenFrom(await waitForMail(app, verified.email, { subject: VERIFY_EMAIL_SUBJECT }))
    expect((await post(app, 'verify-email', { token: link })).statusCode).toBe(200)

    const month = await app.housekeeping.run()
    expect(month.removed).toEqual({
      // Day-0 refresh tokens (7-day lifetime) of the logged-out and the idle session.
      refresh_tokens: 2,
      sessions: 1,
      two_fa_challenges: 1,
      // Day-0 verification links (24 h) of four users, and the link used today.
      one_time_tokens: 5,
      audit_logs: 0,
    })
    expect(month.total).toBe(9)
    expect(await rowsOf(app, loggedOut)).toEqual({ sessions: 0, refreshTokens: 0, challenges: 0, oneTimeTokens: [] })
    expect(await rowsOf(app, idle)).toEqual({ sessions: 1, refreshTokens: 0, challenges: 0, oneTimeTokens: [] })
    expect(await rowsOf(app, pending)).toEqual({ sessions: 0, refreshTokens: 0, challenges: 0, oneTimeTokens: [] })
    expect(await rowsOf(app, verified)).toEqual({ sessions: 0, refreshTokens: 0, challenges: 0, oneTimeTokens: [] })
    expect(await rowsOf(app, active)).toEqual({ sessions: 1, refreshTokens: 1, challenges: 0, oneTimeTokens: ['verify_email'] })
    // The live session still works: its access token is accepted and its refresh token rotates.
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(activeTokens.access_token) })).statusCode).toBe(200)
    expect((await post(app, 'refresh', { refresh_token: activeTokens.refresh_token })).statusCode).toBe(200)

    // A second run right away finds nothing.
    expect((await app.housekeeping.run()).total).toBe(0)

    // Day 61: the idle session expired 30 days ago now; today's session and its two tokens (7 days) and link
    // (24 h) have run out too, but the session itself only expires at day 61 and stays.
    clock.advance(30 * DAY)
    const later = await app.housekeeping.run()
    expect(later.removed).toEqual({ refresh_tokens: 2, sessions: 1, two_fa_challenges: 0, one_time_tokens: 1, audit_logs: 0 })
    expect((await rowsOf(app, idle)).sessions).toBe(0)
    expect(await rowsOf(app, active)).toEqual({ sessions: 1, refreshTokens: 0, challenges: 0, oneTimeTokens: [] })
  })

  it('deletes a long-ended session together with a refresh token that has not expired yet', async () => {
    const clock = controllableClock(Date.now() + 400 * DAY)
    // Refresh tokens may outlive the 30-day retention of ended sessions; they go with their session.
    const app = await context.buildApp({ HOUSEKEEPING_INTERVAL_MINUTES: '0', REFRESH_TOKEN_EXPIRE_DAYS: '60' }, { now: clock.now })
    const user = await createUser(app)
    const tokens = await loginAs(app, user)
    await post(app, 'logout', { refresh_token: tokens.refresh_token })
    clock.advance(31 * DAY)
    const before = await app.db.select({ id: refreshTokens.id }).from(refreshTokens).where(eq(refreshTokens.userId, user.id))
    expect(before).toHaveLength(1)

    const result = await app.housekeeping.run()
    expect(result.removed.sessions).toBeGreaterThanOrEqual(1)
    expect(await rowsOf(app, user)).toMatchObject({ sessions: 0, refreshTokens: 0 })
    const gone = await app.db.select().from(refreshTokens).where(inArray(refreshTokens.id, before.map((row) => row.id)))
    expect(gone).toEqual([])
  })
})
