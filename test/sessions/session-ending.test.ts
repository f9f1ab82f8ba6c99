import { beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { App } from '../../src/app.js'
import { RESET_PASSWORD_SUBJECT, createUser, mailsTo, signedInUser, tokenFrom, waitForMail, type SignedInUser, type TokenPair } from '../helpers/factories.js'
import { listen } from '../helpers/network.js'
import { useTestContext } from '../helpers/test-context.js'
import {
  CURL,
  FIREFOX_LINUX,
  afterTwoSessionChecks,
  auditOf,
  closeCodeWithin,
  closeSocketsAfterAll,
  endOtherSessions,
  endReasons,
  endSession,
  listSessions,
  logout,
  me,
  openSocket,
  refresh,
  sessionIdOf,
  signIn,
} from './helpers.js'

const context = useTestContext()
closeSocketsAfterAll()
let app: App
let noGrace: App
let admin: SignedInUser
let base: string

beforeAll(async () => {
  // Socket sessions are re-checked every 200 ms, so closes come quickly; the waits stay generous anyway.
  app = await context.buildApp({ WS_SESSION_CHECK_INTERVAL_MS: '200' })
  base = (await listen(app)).ws
  noGrace = await context.buildApp({ REFRESH_REUSE_GRACE_SECONDS: '0' })
  admin = await signedInUser(app, 'admin')
})

const post = (target: App, url: string, payload: object, headers: Record<string, string> = {}) => target.inject({ method: 'POST', url, payload, headers })

/** Two sessions of one new user; both have been used, so the user's principal is cached before anything ends. */
async function twoSessions(target: App = app) {
  const user = await createUser(target)
  const ended = await signIn(target, user, { userAgent: FIREFOX_LINUX })
  const kept = await signIn(target, user, { userAgent: CURL })
  expect((await me(target, ended.access_token)).statusCode).toBe(200)
  expect((await me(target, kept.access_token)).statusCode).toBe(200)
  return { user, ended, kept }
}

/** Rotates a refresh token and returns the new pair. */
async function rotate(target: App, pair: TokenPair): Promise<TokenPair> {
  const response = await refresh(target, pair.refresh_token)
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as TokenPair
}

async function resetPassword(target: App, email: string, newPassword: string) {
  const seen = (await mailsTo(target, email)).map((mail) => mail.id)
  expect((await post(target, '/api/v1/auth/forgot-password', { email })).statusCode).toBe(202)
  const token = tokenFrom(await waitForMail(target, email, { subject: RESET_PASSWORD_SUBJECT, exclude: seen }))
  const response = await post(target, '/api/v1/auth/reset-password', { token, new_password: newPassword })
  expect(response.statusCode, response.body).toBe(200)
}

describe('every way a session ends refuses its access token at once', () => {
  it('logout with its refresh token', async () => {
    const { ended, kept } = await twoSessions()
    expect((await logout(app, ended.refresh_token)).statusCode).toBe(200)
    expect((await me(app, ended.access_token)).statusCode).toBe(401)
    expect((await refresh(app, ended.refresh_token)).statusCode).toBe(401)
    expect((await me(app, kept.access_token)).statusCode).toBe(200)
  })

  it('refresh-token reuse with the retry grace off', async () => {
    const { ended, kept } = await twoSessions(noGrace)
    const successor = await rotate(noGrace, ended)
    expect((await me(noGrace, successor.access_token)).statusCode).toBe(200)

    expect((await refresh(noGrace, ended.refresh_token)).statusCode).toBe(401)
    // Both holders lose the session: the old access token, the successor's access token and its refresh token.
    expect((await me(noGrace, ended.access_token)).statusCode).toBe(401)
    expect((await me(noGrace, successor.access_token)).statusCode).toBe(401)
    expect((await refresh(noGrace, successor.refresh_token)).statusCode).toBe(401)
    expect((await me(noGrace, kept.access_token)).statusCode).toBe(200)
  })

  it('refresh-token reuse after its successor was used (grace on)', async () => {
    const { ended, kept } = await twoSessions()
    const successor = await rotate(app, ended)
    const third = await rotate(app, successor)
    expect((await me(app, third.access_token)).statusCode).toBe(200)

    // Within the grace window, but the successor was already used: this is a copy, not a retry.
    expect((await refresh(app, ended.refresh_token)).statusCode).toBe(401)
    expect((await me(app, third.access_token)).statusCode).toBe(401)
    expect((await me(app, ended.access_token)).statusCode).toBe(401)
    expect((await refresh(app, third.refresh_token)).statusCode).toBe(401)
    expect((await me(app, kept.access_token)).statusCode).toBe(200)
  })

  it('reset-password ends every session', async () => {
    const { user, ended, kept } = await twoSessions()
    await resetPassword(app, user.email, 'Reset-to-something-new-6')
    for (const pair of [ended, kept]) {
      expect((await me(app, pair.access_token)).statusCode).toBe(401)
      expect((await refresh(app, pair.refresh_token)).statusCode).toBe(401)
    }
    const fresh = await signIn(app, { username: user.username, password: 'Reset-to-something-new-6' })
    expect((await listSessions(app, fresh.access_token)).map((session) => session.id)).toEqual([sessionIdOf(fresh.access_token)])
  })

  it('a password change ends the other sessions and keeps the caller\'s', async () => {
    const { user, ended, kept } = await twoSessions()
    const changed = await app.inject({
      method: 'POST',
      url: '/api/v1/users/me/password',
      headers: { authorization: `Bearer ${kept.access_token}` },
      payload: { current_password: user.password, new_password: 'A-brand-new-passphrase-7' },
    })
    expect(changed.statusCode, changed.body).toBe(200)
    expect((await me(app, ended.access_token)).statusCode).toBe(401)
    expect((await refresh(app, ended.refresh_token)).statusCode).toBe(401)

    const newToken = (changed.json() as { access_token: string }).access_token
    expect(sessionIdOf(newToken)).toBe(sessionIdOf(kept.access_token))
    expect((await me(app, newToken)).statusCode).toBe(200)
    expect((await listSessions(app, newToken)).map((session) => session.id)).toEqual([sessionIdOf(kept.access_token)])
    // The caller's session survives the change with a new line of tokens: its earlier refresh token is
    // revoked (a copy of it, or a second line from a retried refresh, must not outlive the change).
    expect((await refresh(app, kept.refresh_token)).statusCode).toBe(401)
    const next = changed.json() as TokenPair
    expect(sessionIdOf((await rotate(app, next)).access_token)).toBe(sessionIdOf(kept.access_token))
  })
})

describe('open WebSockets of an ended session', () => {
  it('close with 4401 however the session ended, while a socket of another session of the same user stays open', async () => {
    const user = await createUser(app)
    const survivor = await signIn(app, user)
    const byDelete = await signIn(app, user)
    const byLogout = await signIn(app, user)
    const byReuse = await signIn(app, user)

    const socketOf = (pair: TokenPair, name: string) => openSocket(`${base}/ws/${name}-${user.id}?token=${pair.access_token}`)
    const sockets = { survivor: socketOf(survivor, 'survivor'), byDelete: socketOf(byDelete, 'delete'), byLogout: socketOf(byLogout, 'logout'), byReuse: socketOf(byReuse, 'reuse') }
    await Promise.all(Object.values(sockets).map((client) => client.opened))

    expect((await endSession(app, survivor.access_token, sessionIdOf(byDelete.access_token))).statusCode).toBe(204)
    expect((await logout(app, byLogout.refresh_token)).statusCode).toBe(200)
    const successor = await rotate(app, byReuse)
    await rotate(app, successor)
    expect((await refresh(app, byReuse.refresh_token)).statusCode).toBe(401)

    // Outcomes are counted, not timed: each ended session's socket is closed, with 4401.
    const outcomes = await Promise.all([sockets.byDelete, sockets.byLogout, sockets.byReuse].map((client) => closeCodeWithin(client)))
    expect(outcomes).toEqual([4401, 4401, 4401])
    await afterTwoSessionChecks(app)
    expect(sockets.survivor.socket.readyState).toBe(WebSocket.OPEN)
  })

  it('of every other session close after "sign out all other sessions"; the current one\'s stays open', async () => {
    const { user, ended, kept } = await twoSessions()
    const endedSocket = openSocket(`${base}/ws/others-${user.id}?token=${ended.access_token}`)
    const keptSocket = openSocket(`${base}/ws/current-${user.id}?token=${kept.access_token}`)
    await Promise.all([endedSocket.opened, keptSocket.opened])

    expect((await endOtherSessions(app, kept.access_token)).statusCode).toBe(204)
    expect(await closeCodeWithin(endedSocket)).toBe(4401)
    await afterTwoSessionChecks(app)
    expect(keptSocket.socket.readyState).toBe(WebSocket.OPEN)
  })
})

describe('audit', () => {
  it('records session.created on each sign-in, with its session id and proof', async () => {
    const user = await createUser(app)
    const pairs = [await signIn(app, user, { userAgent: FIREFOX_LINUX }), await signIn(app, user, { userAgent: CURL })]
    const created = await auditOf(app, admin.headers, 'session.created', user.id)
    expect(created.map((entry) => entry.details.session_id).sort()).toEqual(pairs.map((pair) => sessionIdOf(pair.access_token)).sort())
    for (const entry of created) expect(entry).toMatchObject({ actor_id: user.id, target_id: user.id, details: { method: 'password' } })
    expect(created.map((entry) => entry.details.device).sort()).toEqual(['Firefox on Linux', 'curl'])
  })

  it('records session.ended once per session, with why: logout, revoked, reuse, password_change, password_reset, logout_all', async () => {
    const user = await createUser(app)
    const session = async () => {
      const pair = await signIn(app, user)
      return { pair, id: sessionIdOf(pair.access_token) }
    }
    const [loggedOut, revoked, reused, changedAway, caller] = [await session(), await session(), await session(), await session(), await session()]

    expect((await logout(app, loggedOut.pair.refresh_token)).statusCode).toBe(200)
    expect((await endSession(app, caller.pair.access_token, revoked.id)).statusCode).toBe(204)
    const successor = await rotate(app, reused.pair)
    await rotate(app, successor)
    expect((await refresh(app, reused.pair.refresh_token)).statusCode).toBe(401)
    const changed = await app.inject({
      method: 'POST',
      url: '/api/v1/users/me/password',
      headers: { authorization: `Bearer ${caller.pair.access_token}` },
      payload: { current_password: user.password, new_password: 'Changed-passphrase-77' },
    })
    expect(changed.statusCode, changed.body).toBe(200)
    // The caller's session survived the change; the reset ends it.
    await resetPassword(app, user.email, 'Reset-passphrase-after-88')
    const fresh = { username: user.username, password: 'Reset-passphrase-after-88' }
    const [first, second] = [await signIn(app, fresh), await signIn(app, fresh)]
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: { authorization: `Bearer ${second.access_token}` } })).statusCode).toBe(200)

    expect(await endReasons(app, admin.headers, user.id)).toEqual({
      [loggedOut.id]: ['logout'],
      [revoked.id]: ['revoked'],
      [reused.id]: ['reuse'],
      [changedAway.id]: ['password_change'],
      [caller.id]: ['password_reset'],
      [sessionIdOf(first.access_token)]: ['logout_all'],
      [sessionIdOf(second.access_token)]: ['logout_all'],
    })
    // Who ended it: the owner, when they revoked one of their own sessions.
    const revokedEntry = (await auditOf(app, admin.headers, 'session.ended', user.id)).find((entry) => entry.details.session_id === revoked.id)
    expect(revokedEntry).toMatchObject({ actor_id: user.id, target_id: user.id })
  })
})
