import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { DEFAULT_PASSWORD, createUser, loginAs, randomIp, signedInUser, uniqueName, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App
let auditor: SignedInUser

beforeAll(async () => {
  app = await context.buildApp()
  auditor = await signedInUser(app, 'admin')
})

interface AuditEntry {
  id: number
  action: string
  actor_id: number | null
  target_id: number | null
  ip: string | null
  details: Record<string, unknown>
  created_at: string
}

interface AuditPage {
  items: AuditEntry[]
  total: number
  skip: number
  limit: number
}

async function auditPage(query: string, headers: Record<string, string> = auditor.headers): Promise<AuditPage> {
  const response = await app.inject({ method: 'GET', url: `/api/v1/audit?${query}`, headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as AuditPage
}

/** The entries of one action that satisfy `match` (the newest 100 of that action are searched). */
async function events(action: string, match: (entry: AuditEntry) => boolean): Promise<AuditEntry[]> {
  return (await auditPage(`action=${encodeURIComponent(action)}&limit=100`)).items.filter(match)
}

const post = (url: string, payload: object | undefined, options: { headers?: Record<string, string>; ip?: string } = {}) =>
  app.inject({
    method: 'POST',
    url,
    ...(payload ? { payload } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.ip ? { remoteAddress: options.ip } : {}),
  })

describe('GET /audit', () => {
  it('is refused to a plain user with 403', async () => {
    const user = await signedInUser(app)
    expect((await app.inject({ method: 'GET', url: '/api/v1/audit', headers: user.headers })).statusCode).toBe(403)
  })

  it('needs credentials', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/audit' })).statusCode).toBe(401)
  })

  it('is readable by admins and superadmins as a page {items, total, skip, limit}', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    for (const headers of [auditor.headers, superadmin.headers]) {
      const page = await auditPage('', headers)
      expect(page).toEqual({ items: expect.any(Array), total: expect.any(Number), skip: 0, limit: 20 })
      expect(page.items.length).toBeGreaterThan(0)
      expect(page.total).toBeGreaterThanOrEqual(page.items.length)
    }
    const slash = await app.inject({ method: 'GET', url: '/api/v1/audit/', headers: auditor.headers })
    expect(slash.statusCode).toBe(200)
  })

  it('pages with skip and limit', async () => {
    await createUser(app)
    await createUser(app)
    const first = await auditPage('limit=1&skip=0')
    const second = await auditPage('limit=1&skip=1')
    expect(first).toMatchObject({ skip: 0, limit: 1 })
    expect(second).toMatchObject({ skip: 1, limit: 1 })
    expect(first.items).toHaveLength(1)
    expect(second.items).toHaveLength(1)
    expect(second.items[0]!.id).not.toBe(first.items[0]!.id)
  })

  it('filters by action', async () => {
    const user = await createUser(app)
    await loginAs(app, user)
    const page = await auditPage('action=auth.login&limit=100')
    expect(page.items.length).toBeGreaterThan(0)
    expect(page.items.every((entry) => entry.action === 'auth.login')).toBe(true)
    expect(page.items.some((entry) => entry.target_id === user.id)).toBe(true)
  })
})

describe('audit events', () => {
  it('user.register names the new user and the IP', async () => {
    const ip = randomIp()
    const username = uniqueName()
    const response = await post('/api/v1/auth/register', { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD }, { ip })
    const id = response.json().id as number
    expect(await events('user.register', (entry) => entry.target_id === id)).toEqual([
      expect.objectContaining({ action: 'user.register', actor_id: id, target_id: id, ip }),
    ])
  })

  it('auth.login names the user and the IP', async () => {
    const user = await createUser(app)
    const ip = randomIp()
    await loginAs(app, user, { remoteAddress: ip })
    expect(await events('auth.login', (entry) => entry.target_id === user.id)).toEqual([expect.objectContaining({ actor_id: user.id, target_id: user.id, ip })])
  })

  it('auth.login_failed is recorded for a wrong password and for an unknown user', async () => {
    const user = await createUser(app)
    const ip = randomIp()
    await post('/api/v1/auth/login', { username_or_email: user.username, password: 'Wrong-password-1' }, { ip })
    await post('/api/v1/auth/login', { username_or_email: uniqueName('ghost'), password: 'Wrong-password-1' }, { ip })
    const failures = await events('auth.login_failed', (entry) => entry.ip === ip)
    expect(failures).toHaveLength(2)
    expect(failures).toContainEqual(expect.objectContaining({ target_id: user.id, ip }))
    expect(failures).toContainEqual(expect.objectContaining({ target_id: null, ip }))
  })

  it('auth.refresh_reuse is recorded when a rotated refresh token comes back', async () => {
    const user = await createUser(app)
    const tokens = await loginAs(app, user)
    const ip = randomIp()
    const second = (await post('/api/v1/auth/refresh', { refresh_token: tokens.refresh_token })).json() as { refresh_token: string }
    // Its successor was used too: the old token coming back is no retry of a lost answer but a copy.
    expect((await post('/api/v1/auth/refresh', { refresh_token: second.refresh_token })).statusCode).toBe(200)
    expect((await post('/api/v1/auth/refresh', { refresh_token: tokens.refresh_token }, { ip })).statusCode).toBe(401)
    expect(await events('auth.refresh_reuse', (entry) => entry.target_id === user.id)).toEqual([
      expect.objectContaining({ actor_id: user.id, target_id: user.id, ip }),
    ])
  })

  it('auth.logout_all names the user and the IP', async () => {
    const user = await signedInUser(app)
    const ip = randomIp()
    expect((await post('/api/v1/auth/logout-all', undefined, { headers: user.headers, ip })).statusCode).toBe(200)
    expect(await events('auth.logout_all', (entry) => entry.target_id === user.id)).toEqual([
      expect.objectContaining({ actor_id: user.id, target_id: user.id, ip }),
    ])
  })

  it('user.password_change names the user and the IP', async () => {
    const user = await signedInUser(app)
    const ip = randomIp()
    const response = await post('/api/v1/users/me/password', { current_password: user.password, new_password: 'Audited-change-1' }, { headers: user.headers, ip })
    expect(response.statusCode).toBe(200)
    expect(await events('user.password_change', (entry) => entry.target_id === user.id)).toEqual([
      expect.objectContaining({ actor_id: user.id, target_id: user.id, ip }),
    ])
  })

  it('user.role_change names the superadmin as actor and the user as target', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const user = await createUser(app)
    const ip = randomIp()
    const response = await app.inject({
      method: 'PUT',
      url: `/api/v1/users/update/${user.id}/role`,
      headers: superadmin.headers,
      payload: { role: 'admin' },
      remoteAddress: ip,
    })
    expect(response.statusCode).toBe(200)
    expect(await events('user.role_change', (entry) => entry.target_id === user.id)).toEqual([
      expect.objectContaining({ actor_id: superadmin.id, target_id: user.id, ip }),
    ])
  })

  it('user.update names the admin as actor and the user as target', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await createUser(app)
    const ip = randomIp()
    const response = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}`, headers: admin.headers, payload: { bio: 'audited' }, remoteAddress: ip })
    expect(response.statusCode).toBe(200)
    expect(await events('user.update', (entry) => entry.target_id === user.id)).toEqual([
      expect.objectContaining({ actor_id: admin.id, target_id: user.id, ip }),
    ])
  })

  it('user.delete names the admin as actor and the deleted user as target', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await createUser(app)
    const ip = randomIp()
    const response = await app.inject({ method: 'DELETE', url: `/api/v1/users/delete/${user.id}`, headers: admin.headers, remoteAddress: ip })
    expect(response.statusCode).toBe(204)
    expect(await events('user.delete', (entry) => entry.target_id === user.id)).toEqual([
      expect.objectContaining({ actor_id: admin.id, target_id: user.id, ip }),
    ])
  })

  it('api_key.create and api_key.revoke name the owner and the IP', async () => {
    const owner = await signedInUser(app)
    const ip = randomIp()
    const created = await post('/api/v1/api-keys', { name: 'audited' }, { headers: owner.headers, ip })
    expect(created.statusCode).toBe(201)
    const revoke = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.json().id}`, headers: owner.headers, remoteAddress: ip })
    expect(revoke.statusCode).toBe(204)
    for (const action of ['api_key.create', 'api_key.revoke']) {
      expect(await events(action, (entry) => entry.actor_id === owner.id), action).toEqual([
        expect.objectContaining({ action, actor_id: owner.id, target_id: owner.id, ip }),
      ])
    }
  })
})
