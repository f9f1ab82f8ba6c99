import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { authHeader, loginAs, signedInUser, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, auditEntries, call, createApiKey } from './attacker.js'

// An intruder with a stolen session makes an API key, then logs that session out with its live refresh
// token: the session leaves the list, and an ordinary logout keeps the keys it made. Signing that session
// out as unwanted afterwards must still take its keys along (attacker review F9). The answer keeps its
// contract: an ended session answers 404, like an unknown one (docs/SESSIONS.md).

const context = useTestContext()
let app: App
let admin: SignedInUser

beforeAll(async () => {
  app = await context.buildApp()
  admin = await signedInUser(app, 'admin')
})

const sessionIdOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).sid as string
const me = (headers: Record<string, string>) => call(app, 'GET', '/api/v1/users/me', { headers })
const endSession = (headers: Record<string, string>, id: string) => call(app, 'DELETE', `/api/v1/auth/sessions/${id}`, { headers })

describe('signing out a session that already ended', () => {
  it('revokes the API keys it created, though the session itself answers 404', async () => {
    const owner = await signedInUser(app)
    const stolen = await loginAs(app, owner)
    const key = await createApiKey(app, authHeader(stolen.access_token))
    expect((await call(app, 'POST', '/api/v1/auth/logout', { headers: authHeader(stolen.access_token), payload: { refresh_token: stolen.refresh_token } })).statusCode).toBeLessThan(300)
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)

    const answer = await endSession(owner.headers, sessionIdOf(stolen.access_token))
    expect(answer.statusCode, answer.body).toBe(404)

    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(401)
    const revoked = await auditEntries(app, admin.headers, owner.id, 'api_key.revoke')
    expect(revoked.map((entry) => entry.details)).toEqual([expect.objectContaining({ api_key_id: key.id, reason: 'session_revoked', session_id: sessionIdOf(stolen.access_token) })])
    expect((await me(owner.headers)).statusCode).toBe(200)
  })

  it("touches nothing of another user's ended session", async () => {
    const caller = await signedInUser(app)
    const other = await signedInUser(app)
    const otherSession = await loginAs(app, other)
    const key = await createApiKey(app, authHeader(otherSession.access_token))
    await call(app, 'POST', '/api/v1/auth/logout', { headers: authHeader(otherSession.access_token), payload: { refresh_token: otherSession.refresh_token } })

    expect((await endSession(caller.headers, sessionIdOf(otherSession.access_token))).statusCode).toBe(404)
    expect((await me(apiKeyHeader(key.key))).statusCode).toBe(200)
    expect(await auditEntries(app, admin.headers, other.id, 'api_key.revoke')).toEqual([])
  })
})
