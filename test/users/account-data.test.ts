import { eq, or } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { apiKeys, auditLogs, passkeys, sessions, userIdentities } from '../../src/db/schema.js'
import { authHeader, controllableClock, expectNoSecrets, signedInUser, userRow, waitForMail } from '../helpers/factories.js'
import { listen } from '../helpers/network.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

type App = Awaited<ReturnType<typeof context.buildApp>>

/** Values a passkey or an identity stores that must never reach an export (recognisable on sight). */
const PASSKEY_PUBLIC_KEY = 'pQECAyYgASFYIPUBLICKEYMATERIAL'
const PASSKEY_CREDENTIAL_ID = 'Y3JlZGVudGlhbC1pZC1vZi10aGUta2V5'
const IDENTITY_SUBJECT = 'oidc-subject-4711'

/** A passkey and a linked identity as their own modules store them, written straight to the tables. */
async function addSignInMethods(app: App, userId: number) {
  const [passkey] = await app.db
    .insert(passkeys)
    .values({
      userId,
      credentialId: `${PASSKEY_CREDENTIAL_ID}-${userId}`,
      publicKey: PASSKEY_PUBLIC_KEY,
      counter: 7,
      transports: ['internal', 'hybrid'],
      deviceType: 'multiDevice',
      backedUp: true,
      aaguid: 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd',
      name: 'Laptop Touch ID',
      lastUsedAt: new Date('2026-01-02T03:04:05.000Z'),
    })
    .returning()
  const [identity] = await app.db
    .insert(userIdentities)
    .values({ userId, provider: 'google', subject: `${IDENTITY_SUBJECT}-${userId}`, email: 'ada@gmail.example' })
    .returning()
  return { passkey: passkey!, identity: identity! }
}

async function createKey(app: App, headers: Record<string, string>) {
  const response = await app.inject({ method: 'POST', url: '/api/v1/api-keys/', headers, payload: { name: 'script', scopes: ['read', 'write'] } })
  expect(response.statusCode, response.body).toBe(201)
  return response.json() as { id: number; key: string }
}

describe('GET /api/v1/users/me/export', () => {
  it('answers everything stored about the caller, without a secret, as an attachment', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app, 'user', { first_name: 'Ada', language: 'de' })
    const key = await createKey(app, user.headers)
    const response = await app.inject({ method: 'GET', url: '/api/v1/users/me/export', headers: user.headers })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.headers['content-disposition']).toMatch(/attachment; filename="account-export-\d+\.json"/)
    const data = response.json() as Record<string, unknown> & {
      profile: Record<string, unknown>
      sessions: unknown[]
      api_keys: { id: number }[]
      audit_events: { action: string }[]
    }
    expect(data.profile).toMatchObject({ id: user.id, username: user.username, email: user.email, first_name: 'Ada', language: 'de' })
    expect(data.sessions).toHaveLength(1)
    expect(data.api_keys.map((entry) => entry.id)).toEqual([key.id])
    expect(data.audit_events.map((event) => event.action)).toEqual(expect.arrayContaining(['user.register', 'auth.login', 'session.created', 'api_key.create']))
    expect(data).toMatchObject({ passkeys: [], identities: [] })
    expectNoSecrets(data)
    expect(response.body).not.toContain(key.key)
    expect(response.body).not.toContain(user.tokens.refresh_token)
  })

  it('lists passkeys and linked identities with what they are and when they were used, without key material or provider ids', async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const { passkey, identity } = await addSignInMethods(app, user.id)
    const response = await app.inject({ method: 'GET', url: '/api/v1/users/me/export', headers: user.headers })
    expect(response.statusCode, response.body).toBe(200)
    const data = response.json() as { passkeys: Record<string, unknown>[]; identities: Record<string, unknown>[] }
    expect(data.passkeys).toEqual([
      {
        id: passkey.id,
        name: 'Laptop Touch ID',
        created_at: passkey.createdAt.toISOString(),
        last_used_at: '2026-01-02T03:04:05.000Z',
        backed_up: true,
        transports: ['internal', 'hybrid'],
        device_type: 'multiDevice',
      },
    ])
    expect(data.identities).toEqual([
      { id: identity.id, provider: 'google', email: 'ada@gmail.example', created_at: identity.createdAt.toISOString(), last_used_at: null },
    ])
    expectNoSecrets(data)
    for (const stored of [PASSKEY_PUBLIC_KEY, PASSKEY_CREDENTIAL_ID, IDENTITY_SUBJECT]) expect(response.body).not.toContain(stored)
  })

  it("lists only the caller's own passkeys and identities", async () => {
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const other = await signedInUser(app)
    await addSignInMethods(app, other.id)
    const response = await app.inject({ method: 'GET', url: '/api/v1/users/me/export', headers: user.headers })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ passkeys: [], identities: [] })
  })

  it('needs a session with a recent proof: an API key gets 403, a stale session reauthentication_required', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await signedInUser(app)
    const key = await createKey(app, user.headers)
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me/export', headers: { 'x-api-key': key.key } })).statusCode).toBe(403)
    clock.advance(11 * 60_000)
    const stale = await app.inject({ method: 'GET', url: '/api/v1/users/me/export', headers: user.headers })
    expect(stale.statusCode).toBe(403)
    expect(stale.json()).toMatchObject({ code: 'reauthentication_required' })
  })
})

describe('DELETE /api/v1/users/me', () => {
  it('deletes the account with its sessions, keys, passkeys and linked identities, closes its sockets, mails a receipt and keeps an audit entry without personal data', async () => {
    const app = await context.buildApp({ WS_SESSION_CHECK_INTERVAL_MS: '100' })
    const user = await signedInUser(app)
    const key = await createKey(app, user.headers)
    await addSignInMethods(app, user.id)
    const other = await signedInUser(app)
    const kept = await addSignInMethods(app, other.id)
    const server = await listen(app)
    const socket = new WebSocket(`${server.ws}/ws/${user.username}-phone?token=${user.tokens.access_token}`)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)))

    const response = await app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers })
    expect(response.statusCode, response.body).toBe(204)

    expect(await closed).toBe(4401)
    expect(await userRow(app, user.id)).toBeUndefined()
    expect(await app.db.select().from(sessions).where(eq(sessions.userId, user.id))).toEqual([])
    expect(await app.db.select().from(apiKeys).where(eq(apiKeys.userId, user.id))).toEqual([])
    expect(await app.db.select().from(passkeys).where(eq(passkeys.userId, user.id))).toEqual([])
    expect(await app.db.select().from(userIdentities).where(eq(userIdentities.userId, user.id))).toEqual([])
    // Another person's sign-in methods are untouched.
    expect((await app.db.select().from(passkeys).where(eq(passkeys.userId, other.id))).map((row) => row.id)).toEqual([kept.passkey.id])
    expect((await app.db.select().from(userIdentities).where(eq(userIdentities.userId, other.id))).map((row) => row.id)).toEqual([kept.identity.id])
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-api-key': key.key } })).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(user.tokens.access_token) })).statusCode).toBe(401)
    const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })
    expect(login.statusCode).toBe(401)

    const entries = await app.db
      .select()
      .from(auditLogs)
      .where(or(eq(auditLogs.action, 'user.self_delete')))
    const mine = entries.filter((entry) => entry.targetId === user.id)
    expect(mine).toHaveLength(1)
    const text = JSON.stringify(mine[0])
    expect(text).not.toContain(user.username)
    expect(text).not.toContain(user.email)
    expect(mine[0]!.ip).toBeNull()

    const receipt = await waitForMail(app, user.email, { subject: /account was deleted/i })
    expect(receipt.text).toContain(user.username)
  })

  it('needs a fresh proof (password in the body works) and refuses API keys', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await signedInUser(app)
    const key = await createKey(app, user.headers)
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: { 'x-api-key': key.key } })).statusCode).toBe(403)
    clock.advance(11 * 60_000)
    const stale = await app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers })
    expect(stale.json()).toMatchObject({ code: 'reauthentication_required' })
    const wrong = await app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers, payload: { password: 'not-the-password' } })
    expect(wrong.statusCode).toBe(400)
    expect(await userRow(app, user.id)).toBeDefined()
    const right = await app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers, payload: { password: user.password } })
    expect(right.statusCode, right.body).toBe(204)
    expect(await userRow(app, user.id)).toBeUndefined()
  })

  it('refuses the last active superadmin, who must hand over first', async () => {
    const app = await context.buildApp()
    // Make this user the only active superadmin of the database.
    const user = await signedInUser(app, 'superadmin')
    const others = await app.inject({ method: 'GET', url: '/api/v1/users/role/superadmin?limit=100', headers: user.headers })
    for (const other of (others.json() as { items: { id: number }[] }).items) {
      if (other.id !== user.id)
        await app.inject({ method: 'PUT', url: `/api/v1/users/update/${other.id}`, headers: user.headers, payload: { is_active: false } })
    }
    const response = await app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers })
    expect(response.statusCode).toBe(403)
    expect(response.json()).toMatchObject({ code: 'last_superadmin' })
    expect(await userRow(app, user.id)).toBeDefined()
  })
})
