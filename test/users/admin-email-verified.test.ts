import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import {
  DEFAULT_PASSWORD,
  authHeader,
  controllableClock,
  createUser,
  signedInUser,
  uniqueName,
  userRow,
  type SignedInUser,
  type TestClock,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

// Attacker review F7: an address marked verified is never proven again, so what was set up on the account
// before (a squatter's password, sessions, keys) would survive its owner's first reset. An administrator
// vouching for an address therefore needs a session and a recent proof, like an administrator's email change.

const context = useTestContext()
let app: App
let clock: TestClock

beforeAll(async () => {
  clock = controllableClock()
  app = await context.buildApp({ REAUTH_MAX_AGE_SECONDS: '600' }, { now: clock.now })
})

const newUserBody = (extra: Record<string, unknown> = {}) => {
  const username = uniqueName('made')
  return { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD, ...extra }
}
const create = (headers: Record<string, string>, body: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/v1/users/', headers, payload: body })
const update = (headers: Record<string, string>, userId: number, body: Record<string, unknown>) =>
  app.inject({ method: 'PUT', url: `/api/v1/users/update/${userId}`, headers, payload: body })

async function adminKey(admin: SignedInUser): Promise<Record<string, string>> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/api-keys/', headers: admin.headers, payload: { name: 'admin script', scopes: ['write'] } })
  expect(response.statusCode, response.body).toBe(201)
  return { 'x-api-key': response.json().key }
}

function expectRefused(response: { statusCode: number; json: () => { code?: string }; body: string }, code: 'session_required' | 'reauthentication_required') {
  expect(response.statusCode, response.body).toBe(403)
  expect(response.json().code).toBe(code)
}

/** An admin whose sign-in is older than REAUTH_MAX_AGE_SECONDS (the access token is still valid). */
async function staleAdmin(): Promise<SignedInUser> {
  const admin = await signedInUser(app, 'admin')
  clock.advance(601_000)
  return admin
}

describe('an administrator marking an address verified', () => {
  it('an admin API key may not: 403 session_required at create and update; unverified is fine', async () => {
    const key = await adminKey(await signedInUser(app, 'admin'))
    expectRefused(await create(key, newUserBody({ email_verified: true })), 'session_required')
    const plain = await create(key, newUserBody({ email_verified: false }))
    expect(plain.statusCode, plain.body).toBe(201)

    expectRefused(await update(key, plain.json().id, { email_verified: true }), 'session_required')
    expect((await userRow(app, plain.json().id))?.emailVerified).toBe(false)
    // Other flags still work with a key.
    expect((await update(key, plain.json().id, { phone_verified: true })).statusCode).toBe(200)
  })

  it('a stale session may not: 403 reauthentication_required; the new user’s password in the body is no proof', async () => {
    const admin = await staleAdmin()
    // `password` at create is the new user's: it must not stand in for the admin's proof.
    expectRefused(await create(admin.headers, newUserBody({ email_verified: true, password: admin.password })), 'reauthentication_required')

    const target = await createUser(app)
    expectRefused(await update(admin.headers, target.id, { email_verified: true }), 'reauthentication_required')
    expect((await userRow(app, target.id))?.emailVerified).toBe(false)
    // The admin's own password in the update proves it there and then.
    const proven = await update(admin.headers, target.id, { email_verified: true, password: admin.password })
    expect(proven.statusCode, proven.body).toBe(200)
    expect(proven.json().email_verified).toBe(true)
  })

  it('a freshly signed-in admin may, at create and update', async () => {
    const admin = await signedInUser(app, 'admin')
    const created = await create(admin.headers, newUserBody({ email_verified: true }))
    expect(created.statusCode, created.body).toBe(201)
    expect(created.json().email_verified).toBe(true)

    const target = await createUser(app)
    const updated = await update(admin.headers, target.id, { email_verified: true })
    expect(updated.statusCode, updated.body).toBe(200)
    expect(updated.json().email_verified).toBe(true)
  })

  it('a stale admin may, once reauthenticated', async () => {
    const admin = await staleAdmin()
    const proof = await app.inject({ method: 'POST', url: '/api/v1/auth/reauthenticate', headers: admin.headers, payload: { password: admin.password } })
    expect(proof.statusCode, proof.body).toBe(200)
    const created = await create(authHeader(proof.json().access_token), newUserBody({ email_verified: true }))
    expect(created.statusCode, created.body).toBe(201)
  })
})
