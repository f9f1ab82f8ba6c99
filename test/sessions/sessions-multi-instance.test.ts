import { expect, it } from 'vitest'
import WebSocket from 'ws'
import { createUser } from '../helpers/factories.js'
import { listen } from '../helpers/network.js'
import { describeWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'
import { CURL, FIREFOX_LINUX, afterTwoSessionChecks, closeCodeWithin, closeSocketsAfterAll, endOtherSessions, endSession, listSessions, logout, me, openSocket, refresh, sessionIdOf, signIn } from './helpers.js'

const context = useTestContext()
closeSocketsAfterAll()

/** Two instances on one PostgreSQL and one Redis, as behind a load balancer; sockets are re-checked every 200 ms. */
async function twoInstances() {
  const overrides = { WS_SESSION_CHECK_INTERVAL_MS: '200' }
  return [await context.buildApp(overrides), await context.buildApp(overrides)] as const
}

describeWith('postgres', 'redis')('sessions across two instances', () => {
  it('ending a session on A refuses its access token on B on the next request and closes its socket on B with 4401', async () => {
    const [a, b] = await twoInstances()
    const wsB = (await listen(b)).ws
    const user = await createUser(a)
    const ended = await signIn(b, user, { userAgent: FIREFOX_LINUX })
    const kept = await signIn(a, user, { userAgent: CURL })
    // B has the user's principal cached before A ends the session.
    expect((await me(b, ended.access_token)).statusCode).toBe(200)
    expect((await me(b, kept.access_token)).statusCode).toBe(200)
    const endedSocket = openSocket(`${wsB}/ws/ended-${user.id}?token=${ended.access_token}`)
    const keptSocket = openSocket(`${wsB}/ws/kept-${user.id}?token=${kept.access_token}`)
    await Promise.all([endedSocket.opened, keptSocket.opened])

    const response = await endSession(a, kept.access_token, sessionIdOf(ended.access_token))
    expect(response.statusCode, response.body).toBe(204)

    expect((await me(b, ended.access_token)).statusCode).toBe(401)
    expect((await refresh(b, ended.refresh_token)).statusCode).toBe(401)
    expect((await me(b, kept.access_token)).statusCode).toBe(200)
    expect(await closeCodeWithin(endedSocket)).toBe(4401)
    await afterTwoSessionChecks(b)
    expect(keptSocket.socket.readyState).toBe(WebSocket.OPEN)
    // Both instances list the same single session.
    expect((await listSessions(b, kept.access_token)).map((session) => session.id)).toEqual([sessionIdOf(kept.access_token)])
  })

  it('a logout on A and "sign out all other sessions" on A are refused on B at once', async () => {
    const [a, b] = await twoInstances()
    const user = await createUser(a)
    const [loggedOut, other, current] = [await signIn(b, user), await signIn(b, user), await signIn(a, user)]
    for (const pair of [loggedOut, other, current]) expect((await me(b, pair.access_token)).statusCode).toBe(200)

    expect((await logout(a, loggedOut.refresh_token)).statusCode).toBe(200)
    expect((await me(b, loggedOut.access_token)).statusCode).toBe(401)
    expect((await me(b, other.access_token)).statusCode).toBe(200)

    expect((await endOtherSessions(a, current.access_token)).statusCode).toBe(204)
    expect((await me(b, other.access_token)).statusCode).toBe(401)
    expect((await me(b, current.access_token)).statusCode).toBe(200)
  })

  it('a rotated token retried on B within the grace gets a pair of the same session, not a second session', async () => {
    const [a, b] = await twoInstances()
    const user = await createUser(a)
    const start = await signIn(a, user)
    const first = await refresh(a, start.refresh_token)
    expect(first.statusCode, first.body).toBe(200)
    const retry = await refresh(b, start.refresh_token)
    expect(retry.statusCode, retry.body).toBe(200)
    expect(sessionIdOf(retry.json().access_token)).toBe(sessionIdOf(start.access_token))
    expect((await listSessions(a, retry.json().access_token)).map((session) => session.id)).toEqual([sessionIdOf(start.access_token)])
  })
})
