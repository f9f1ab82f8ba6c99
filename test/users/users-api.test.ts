import { sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import {
  DEFAULT_PASSWORD,
  authHeader,
  createUser,
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

const PUBLIC_FIELDS = [
  'id',
  'username',
  'email',
  'first_name',
  'last_name',
  'phone_number',
  'phone_verified',
  'avatar_url',
  'bio',
  'timezone',
  'language',
  'role',
  'is_active',
  'two_fa_enabled',
  'email_verified',
  'last_login_at',
  'created_at',
  'updated_at',
]

const get = (url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers })
const put = (url: string, headers: Record<string, string>, payload: object) => app.inject({ method: 'PUT', url, headers, payload })
const update = (userId: number, headers: Record<string, string>, payload: object) => put(`/api/v1/users/update/${userId}`, headers, payload)

interface UserPage {
  items: Array<Record<string, unknown> & { id: number }>
  total: number
  skip: number
  limit: number
}

function expectValidationDetail(response: { statusCode: number; json: () => unknown }, field: string) {
  expect(response.statusCode).toBe(422)
  const { detail } = response.json() as { detail: unknown }
  expect(Array.isArray(detail), `detail should be a list, got ${JSON.stringify(detail)}`).toBe(true)
  for (const issue of detail as unknown[]) expect(issue).toEqual({ loc: expect.any(Array), msg: expect.any(String), type: expect.any(String) })
  expect((detail as Array<{ loc: unknown[] }>).some((issue) => issue.loc.includes(field)), `an issue at ${field}`).toBe(true)
}

describe('GET /users/me', () => {
  it('returns the caller with every public field and nothing secret', async () => {
    const user = await signedInUser(app)
    const response = await get('/api/v1/users/me', user.headers)
    expect(response.statusCode).toBe(200)
    const body = response.json()
    for (const field of PUBLIC_FIELDS) expect(body, field).toHaveProperty(field)
    expect(body).toMatchObject({ id: user.id, username: user.username, email: user.email, role: 'user', timezone: 'UTC', language: 'en' })
    expectNoSecrets(body)
  })

  it('answers with and without the trailing slash', async () => {
    const user = await signedInUser(app)
    expect((await get('/api/v1/users/me/', user.headers)).statusCode).toBe(200)
    expect((await get('/api/v1/users/me', user.headers)).statusCode).toBe(200)
  })
})

describe('GET /users/ (list)', () => {
  /** Users sharing a first name no other test uses, so a search finds exactly them. */
  async function tagged(count: number, roles: Array<'user' | 'admin'> = []) {
    const tag = uniqueName('tag')
    const created = []
    for (let index = 0; index < count; index += 1) created.push(await createUser(app, roles[index] ?? 'user', { first_name: tag }))
    return { tag, created }
  }

  it('lists users for an admin as {items, total, skip, limit}, without secrets', async () => {
    const admin = await signedInUser(app, 'admin')
    const response = await get('/api/v1/users/', admin.headers)
    expect(response.statusCode, response.body).toBe(200)
    const page = response.json() as UserPage
    expect(page).toEqual({ items: expect.any(Array), total: expect.any(Number), skip: 0, limit: 20 })
    expect(page.items.length).toBeGreaterThan(0)
    expect(page.items.length).toBeLessThanOrEqual(20)
    expect(page.total).toBeGreaterThanOrEqual(page.items.length)
    expectNoSecrets(page)
  })

  it('answers without the trailing slash too', async () => {
    const admin = await signedInUser(app, 'admin')
    expect((await get('/api/v1/users', admin.headers)).statusCode).toBe(200)
  })

  it('shows a user exactly as GET /users/get/{id} does, timestamps included (the list has them written by the database)', async () => {
    const admin = await signedInUser(app, 'admin')
    const { tag, created } = await tagged(1)
    const user = created[0] as { id: number }
    // Microseconds the API cuts to milliseconds, and a sign-in time, so all three timestamps are set.
    await setUserColumns(app, user.id, {
      createdAt: new Date('2025-03-04T05:06:07.891Z'),
      lastLoginAt: new Date('2026-01-02T03:04:05.006Z'),
    })
    await app.db.execute(sql`update users set updated_at = '2026-07-08 09:10:11.999999+02' where id = ${user.id}`)
    const single = (await get(`/api/v1/users/get/${user.id}`, admin.headers)).json() as Record<string, unknown>
    expect(single).toMatchObject({ created_at: '2025-03-04T05:06:07.891Z', last_login_at: '2026-01-02T03:04:05.006Z', updated_at: '2026-07-08T07:10:11.999Z' })
    const page = (await get(`/api/v1/users/?search=${tag}`, admin.headers)).json() as UserPage
    expect(page.items).toEqual([single])
  })

  it('pages with skip and limit', async () => {
    const admin = await signedInUser(app, 'admin')
    const { tag, created } = await tagged(3)
    const first = (await get(`/api/v1/users/?search=${tag}&limit=2&skip=0`, admin.headers)).json() as UserPage
    const second = (await get(`/api/v1/users/?search=${tag}&limit=2&skip=2`, admin.headers)).json() as UserPage
    expect(first).toMatchObject({ total: 3, skip: 0, limit: 2 })
    expect(first.items).toHaveLength(2)
    expect(second).toMatchObject({ total: 3, skip: 2, limit: 2 })
    expect(second.items).toHaveLength(1)
    const seen = [...first.items, ...second.items].map((item) => item.id).sort((a, b) => a - b)
    expect(seen).toEqual(created.map((user) => user.id).sort((a, b) => a - b))
  })

  it('gives the total with a page past the end and with no match at all', async () => {
    const admin = await signedInUser(app, 'admin')
    const { tag } = await tagged(3)
    // The page and its total come from one statement; a page with no row has nothing to carry the total.
    const past = (await get(`/api/v1/users/?search=${tag}&limit=2&skip=10`, admin.headers)).json() as UserPage
    expect(past).toEqual({ items: [], total: 3, skip: 10, limit: 2 })
    const none = (await get(`/api/v1/users/?search=${tag}-nobody`, admin.headers)).json() as UserPage
    expect(none).toMatchObject({ items: [], total: 0 })
  })

  it('searches username, email, first and last name', async () => {
    const admin = await signedInUser(app, 'admin')
    const lastName = uniqueName('Last')
    const user = await createUser(app, 'user', { last_name: lastName })
    for (const term of [user.username, user.email, lastName, lastName.toUpperCase()]) {
      const page = (await get(`/api/v1/users/?search=${encodeURIComponent(term)}`, admin.headers)).json() as UserPage
      expect(page.items.map((item) => item.id), term).toEqual([user.id])
    }
  })

  it('filters by role', async () => {
    const admin = await signedInUser(app, 'admin')
    const { tag, created } = await tagged(3, ['user', 'admin', 'user'])
    const page = (await get(`/api/v1/users/?search=${tag}&role=admin`, admin.headers)).json() as UserPage
    expect(page.items.map((item) => item.id)).toEqual([created[1]!.id])
    expect(page.total).toBe(1)
  })

  it('filters by is_active', async () => {
    const admin = await signedInUser(app, 'admin')
    const { tag, created } = await tagged(3)
    await setUserColumns(app, created[0]!.id, { isActive: false })
    const inactive = (await get(`/api/v1/users/?search=${tag}&is_active=false`, admin.headers)).json() as UserPage
    const active = (await get(`/api/v1/users/?search=${tag}&is_active=true`, admin.headers)).json() as UserPage
    expect(inactive.items.map((item) => item.id)).toEqual([created[0]!.id])
    expect(active.items.map((item) => item.id).sort()).toEqual([created[1]!.id, created[2]!.id].sort())
  })

  it('reads overlapping identical pages once, and answers each with a read made after it was asked', async () => {
    const { tag, created } = await tagged(2)
    const filters = { search: tag }
    const page = { skip: 0, limit: 20 }
    const search = () => app.repositories.users.search(filters, page)
    // The second and third ask while the first is still being read: they share the read after it.
    const [first, second, third] = await Promise.all([search(), search(), search()])
    expect(first.total).toBe(2)
    expect(second).toBe(third)
    expect(second).not.toBe(first)
    expect(second).toEqual(first)

    // A change committed while an identical read may still be running shows in every list asked for after
    // it (test/foundation/coalesce-reads.test.ts pins the waiting itself, with runs finished by hand).
    const running = search()
    await setUserColumns(app, created[0]!.id, { firstName: 'Moved' })
    const afterChange = await search()
    expect(afterChange.items.map((item) => item.id)).toEqual([created[1]!.id])
    expect(afterChange.total).toBe(1)
    await running

    const admin = await signedInUser(app, 'admin')
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(`/api/v1/users/?search=${tag}`, admin.headers)))
    for (const answer of answers) expect(answer.json()).toEqual({ items: [expect.objectContaining({ id: created[1]!.id })], total: 1, skip: 0, limit: 20 })
  })

  it('is refused to a plain user with 403', async () => {
    const user = await signedInUser(app)
    expect((await get('/api/v1/users/', user.headers)).statusCode).toBe(403)
  })

  it('answers a limit over 100 with 422', async () => {
    const admin = await signedInUser(app, 'admin')
    expectValidationDetail(await get('/api/v1/users/?limit=101', admin.headers), 'limit')
  })
})

describe('GET /users/role/{role}', () => {
  it('lists the users of a role for an admin', async () => {
    const admin = await signedInUser(app, 'admin')
    const response = await get('/api/v1/users/role/admin?limit=100', admin.headers)
    expect(response.statusCode, response.body).toBe(200)
    const page = response.json() as UserPage
    expect(page).toMatchObject({ skip: 0, limit: 100 })
    expect(page.items.every((item) => item.role === 'admin')).toBe(true)
    expect(page.items.map((item) => item.id)).toContain(admin.id)
    expectNoSecrets(page)
  })

  it('is refused to a plain user with 403', async () => {
    const user = await signedInUser(app)
    expect((await get('/api/v1/users/role/user', user.headers)).statusCode).toBe(403)
  })

  it('answers an unknown role with 422', async () => {
    const admin = await signedInUser(app, 'admin')
    expect((await get('/api/v1/users/role/overlord', admin.headers)).statusCode).toBe(422)
  })
})

describe('GET /users/get/{user_id}', () => {
  it('lets a user read their own record', async () => {
    const user = await signedInUser(app)
    const body = await fetchUser(app, user.headers, user.id)
    expect(body).toMatchObject({ id: user.id, username: user.username })
    expectNoSecrets(body)
  })

  it('lets an admin read anyone', async () => {
    const admin = await signedInUser(app, 'admin')
    const other = await registerUser(app)
    expect((await fetchUser(app, admin.headers, other.id)).username).toBe(other.username)
  })

  it("refuses a plain user someone else's record with 403", async () => {
    const user = await signedInUser(app)
    const other = await registerUser(app)
    expect((await get(`/api/v1/users/get/${other.id}`, user.headers)).statusCode).toBe(403)
  })

  it('answers an unknown id with 404 for an admin and 403 for a plain user', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await signedInUser(app)
    expect((await get('/api/v1/users/get/2000000000', admin.headers)).statusCode).toBe(404)
    expect((await get('/api/v1/users/get/2000000000', user.headers)).statusCode).toBe(403)
  })

  it('answers a non-numeric id with 422 located in the path', async () => {
    const user = await signedInUser(app)
    const response = await get('/api/v1/users/get/abc', user.headers)
    expectValidationDetail(response, 'user_id')
    expect((response.json() as { detail: Array<{ loc: unknown[] }> }).detail[0]!.loc[0]).toBe('path')
  })
})

describe('PUT /users/update/{user_id}', () => {
  it('lets a user change own profile fields, partially', async () => {
    const user = await signedInUser(app, 'user', { first_name: 'Before', bio: 'Keeps this bio' })
    const changes = {
      first_name: 'After',
      last_name: 'Person',
      phone_number: '+15551234567',
      avatar_url: 'https://example.com/a.png',
      timezone: 'Asia/Tokyo',
      language: 'de',
    }
    const response = await update(user.id, user.headers, changes)
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ ...changes, bio: 'Keeps this bio', username: user.username, email: user.email })
    expectNoSecrets(response.json())
    expect(await fetchUser(app, user.headers, user.id)).toMatchObject({ ...changes, bio: 'Keeps this bio' })
  })

  it('lets a user change own username at once and own email once confirmed; the email is stored lowercased', async () => {
    const user = await signedInUser(app)
    const username = uniqueName('renamed')
    const response = await update(user.id, user.headers, { username, email: `${username}@Example.ORG` })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ username, email: user.email, pending_email: `${username}@example.org` })
  })

  const forbiddenChanges: Array<[string, Record<string, unknown>, (user: Record<string, unknown>) => unknown, unknown]> = [
    ['role admin', { role: 'admin' }, (user) => user.role, 'user'],
    ['role superadmin', { role: 'superadmin' }, (user) => user.role, 'user'],
    ['is_active', { is_active: false }, (user) => user.is_active, true],
    ['email_verified', { email_verified: true }, (user) => user.email_verified, false],
    ['phone_verified', { phone_verified: true }, (user) => user.phone_verified, false],
    ['two_fa_enabled', { two_fa_enabled: true }, (user) => user.two_fa_enabled, false],
  ]
  for (const [name, body, read, unchanged] of forbiddenChanges) {
    it(`refuses a user setting own ${name} with 403 and leaves it unchanged`, async () => {
      const user = await signedInUser(app, 'user', { first_name: 'Original' })
      const response = await update(user.id, user.headers, { ...body, first_name: 'Sneaky' })
      expect(response.statusCode, response.body).toBe(403)
      const after = await fetchUser(app, user.headers, user.id)
      expect(read(after)).toBe(unchanged)
      // The request is refused as a whole: the harmless field in it was not applied either.
      expect(after.first_name).toBe('Original')
    })
  }

  it("refuses a plain user updating someone else with 403", async () => {
    const user = await signedInUser(app)
    const other = await createUser(app, 'user', { first_name: 'Untouched' })
    expect((await update(other.id, user.headers, { first_name: 'Hacked' })).statusCode).toBe(403)
    const admin = await signedInUser(app, 'admin')
    expect((await fetchUser(app, admin.headers, other.id)).first_name).toBe('Untouched')
  })

  it('refuses a username or email taken by someone else, also in another case, with 409', async () => {
    const user = await signedInUser(app)
    const other = await registerUser(app)
    for (const payload of [{ username: other.username }, { username: other.username.toUpperCase() }, { email: other.email }, { email: other.email.toUpperCase() }]) {
      expect((await update(user.id, user.headers, payload)).statusCode, JSON.stringify(payload)).toBe(409)
    }
    expect((await fetchUser(app, user.headers, user.id)).username).toBe(user.username)
  })

  it('reports an unknown timezone as a 422 validation error on the timezone field', async () => {
    const user = await signedInUser(app)
    const response = await update(user.id, user.headers, { timezone: 'Mars/Olympus_Mons' })
    expect((await fetchUser(app, user.headers, user.id)).timezone).toBe('UTC')
    expectValidationDetail(response, 'timezone')
  })

  it('refuses a phone number over 20 characters and an avatar URL over 500 characters with 422', async () => {
    const user = await signedInUser(app)
    expectValidationDetail(await update(user.id, user.headers, { phone_number: '+1234567890123456789012' }), 'phone_number')
    expectValidationDetail(await update(user.id, user.headers, { avatar_url: `https://example.com/${'a'.repeat(481)}` }), 'avatar_url')
  })

  it('answers with and without the trailing slash', async () => {
    const user = await signedInUser(app)
    expect((await put(`/api/v1/users/update/${user.id}/`, user.headers, { bio: 'slash' })).statusCode).toBe(200)
  })
})

describe('POST /users/ (admin creates a user)', () => {
  it('creates a user for an admin with 201; the user can log in', async () => {
    const admin = await signedInUser(app, 'admin')
    const username = uniqueName('made')
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/users/',
      headers: admin.headers,
      payload: { username, email: `${username}@Example.com`, password: DEFAULT_PASSWORD, first_name: 'Made' },
    })
    expect(response.statusCode, response.body).toBe(201)
    expect(response.json()).toMatchObject({ username, email: `${username}@example.com`, role: 'user', first_name: 'Made', is_active: true })
    expectNoSecrets(response.json())
    expect((await loginAs(app, { username, password: DEFAULT_PASSWORD })).access_token).toEqual(expect.any(String))
  })

  it('works without the trailing slash', async () => {
    const admin = await signedInUser(app, 'admin')
    const username = uniqueName('made')
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: admin.headers,
      payload: { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD },
    })
    expect(response.statusCode).toBe(201)
  })

  it('is refused to a plain user with 403', async () => {
    const user = await signedInUser(app)
    const username = uniqueName('made')
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/users/',
      headers: user.headers,
      payload: { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD },
    })
    expect(response.statusCode).toBe(403)
  })

  it('refuses a taken username or email with 409', async () => {
    const admin = await signedInUser(app, 'admin')
    const existing = await registerUser(app)
    const username = uniqueName('made')
    for (const payload of [
      { username: existing.username.toUpperCase(), email: `${username}@example.com` },
      { username, email: existing.email.toUpperCase() },
    ]) {
      const response = await app.inject({ method: 'POST', url: '/api/v1/users/', headers: admin.headers, payload: { ...payload, password: DEFAULT_PASSWORD } })
      expect(response.statusCode, JSON.stringify(payload)).toBe(409)
    }
  })

  it('answers a bad body with 422', async () => {
    const admin = await signedInUser(app, 'admin')
    const response = await app.inject({ method: 'POST', url: '/api/v1/users/', headers: admin.headers, payload: { username: uniqueName('made') } })
    expectValidationDetail(response, 'email')
  })
})

describe('DELETE /users/delete/{user_id}', () => {
  it('lets an admin delete a user with 204; the user is gone', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await registerUser(app)
    const response = await app.inject({ method: 'DELETE', url: `/api/v1/users/delete/${user.id}`, headers: admin.headers })
    expect(response.statusCode, response.body).toBe(204)
    expect(response.body).toBe('')
    expect((await get(`/api/v1/users/get/${user.id}`, admin.headers)).statusCode).toBe(404)
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })).statusCode).toBe(401)
  })

  it('is refused to a plain user with 403, even for their own account', async () => {
    const user = await signedInUser(app)
    const other = await registerUser(app)
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/users/delete/${other.id}`, headers: user.headers })).statusCode).toBe(403)
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/users/delete/${user.id}`, headers: user.headers })).statusCode).toBe(403)
    const admin = await signedInUser(app, 'admin')
    expect((await get(`/api/v1/users/get/${other.id}`, admin.headers)).statusCode).toBe(200)
  })

  it('answers an unknown id with 404 for an admin', async () => {
    const admin = await signedInUser(app, 'admin')
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/users/delete/2000000000', headers: admin.headers })).statusCode).toBe(404)
  })
})

describe('POST /users/me/password', () => {
  const change = (headers: Record<string, string>, current_password: string, new_password: string) =>
    app.inject({ method: 'POST', url: '/api/v1/users/me/password', headers, payload: { current_password, new_password } })
  const login = (username: string, password: string) =>
    app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: username, password } })

  it('changes the password: the old one fails, the new one works, and the caller gets a working access token', async () => {
    const user = await signedInUser(app)
    const newPassword = 'Changed-password-42'
    const response = await change(user.headers, user.password, newPassword)
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json()
    expect(body.access_token).toEqual(expect.any(String))
    expect((await get('/api/v1/users/me', authHeader(body.access_token))).statusCode).toBe(200)
    expect((await get('/api/v1/users/me', user.headers)).statusCode).toBe(401)
    expect((await login(user.username, user.password)).statusCode).toBe(401)
    expect((await login(user.username, newPassword)).statusCode).toBe(200)
  })

  it("ends the user's other sessions: their refresh tokens fail", async () => {
    const user = await signedInUser(app)
    const otherSession = await loginAs(app, user)
    expect((await change(user.headers, user.password, 'Changed-password-43')).statusCode).toBe(200)
    const refresh = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: otherSession.refresh_token } })
    expect(refresh.statusCode).toBe(401)
    expect((await get('/api/v1/users/me', authHeader(otherSession.access_token))).statusCode).toBe(401)
  })

  it('refuses a wrong current password and keeps the old password', async () => {
    const user = await signedInUser(app)
    const response = await change(user.headers, 'Not-the-password-1', 'Changed-password-44')
    expect(response.statusCode).toBeGreaterThanOrEqual(400)
    expect(response.statusCode).toBeLessThan(500)
    expect((await login(user.username, user.password)).statusCode).toBe(200)
    expect((await login(user.username, 'Changed-password-44')).statusCode).toBe(401)
  })

  it('refuses a new password outside 8..128 characters with 422', async () => {
    const user = await signedInUser(app)
    expect((await change(user.headers, user.password, 'short')).statusCode).toBe(422)
    expect((await change(user.headers, user.password, 'x1Y2'.repeat(33))).statusCode).toBe(422)
    expect((await login(user.username, user.password)).statusCode).toBe(200)
  })
})
