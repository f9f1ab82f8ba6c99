import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import type { Role } from '../../src/db/schema.js'
import { DEFAULT_PASSWORD, authHeader, createUser, fetchUser, loginAs, signedInUser, uniqueName, userRow } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const update = (userId: number, headers: Record<string, string>, payload: object) =>
  app.inject({ method: 'PUT', url: `/api/v1/users/update/${userId}`, headers, payload })
const setRole = (userId: number, headers: Record<string, string>, role: string) =>
  app.inject({ method: 'PUT', url: `/api/v1/users/update/${userId}/role`, headers, payload: { role } })
const remove = (userId: number, headers: Record<string, string>) => app.inject({ method: 'DELETE', url: `/api/v1/users/delete/${userId}`, headers })
const create = (headers: Record<string, string>, extra: Record<string, unknown> = {}) => {
  const username = uniqueName('made')
  return app.inject({
    method: 'POST',
    url: '/api/v1/users/',
    headers,
    payload: { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD, ...extra },
  })
}

describe('an admin', () => {
  it('updates the profile and account flags of a plain user', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await createUser(app)
    const response = await update(user.id, admin.headers, { first_name: 'Edited', email_verified: true, phone_verified: true })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ first_name: 'Edited', email_verified: true, phone_verified: true })
  })

  it('deactivates a plain user, who can then no longer log in', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await createUser(app)
    const response = await update(user.id, admin.headers, { is_active: false })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json().is_active).toBe(false)
    const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })
    expect(login.statusCode).toBe(403)
  })

  for (const role of ['admin', 'superadmin'] as const) {
    it(`cannot update, deactivate or delete a ${role} (403, unchanged)`, async () => {
      const admin = await signedInUser(app, 'admin')
      const target = await createUser(app, role, { first_name: 'Protected' })
      expect((await update(target.id, admin.headers, { first_name: 'Changed' })).statusCode).toBe(403)
      expect((await update(target.id, admin.headers, { is_active: false })).statusCode).toBe(403)
      expect((await remove(target.id, admin.headers)).statusCode).toBe(403)
      const after = await fetchUser(app, admin.headers, target.id)
      expect(after).toMatchObject({ first_name: 'Protected', is_active: true, role })
    })
  }

  it('cannot change roles, through the role route or through update', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await createUser(app)
    expect((await setRole(user.id, admin.headers, 'admin')).statusCode).toBe(403)
    expect((await update(user.id, admin.headers, { role: 'admin' })).statusCode).toBe(403)
    expect((await fetchUser(app, admin.headers, user.id)).role).toBe('user')
  })

  it('cannot change own role or deactivate themselves', async () => {
    const admin = await signedInUser(app, 'admin')
    expect((await setRole(admin.id, admin.headers, 'superadmin')).statusCode).toBe(403)
    expect((await update(admin.id, admin.headers, { role: 'superadmin' })).statusCode).toBe(403)
    expect((await update(admin.id, admin.headers, { is_active: false })).statusCode).toBe(403)
    expect(await fetchUser(app, admin.headers, admin.id)).toMatchObject({ role: 'admin', is_active: true })
  })

  it('creates plain users but not admins or superadmins', async () => {
    const admin = await signedInUser(app, 'admin')
    expect((await create(admin.headers, { role: 'user' })).statusCode).toBe(201)
    expect((await create(admin.headers, { role: 'admin' })).statusCode).toBe(403)
    expect((await create(admin.headers, { role: 'superadmin' })).statusCode).toBe(403)
  })

  it('gets 404 for unknown ids', async () => {
    const admin = await signedInUser(app, 'admin')
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/get/2000000001', headers: admin.headers })).statusCode).toBe(404)
    expect((await update(2_000_000_001, admin.headers, { first_name: 'Nobody' })).statusCode).toBe(404)
    expect((await remove(2_000_000_001, admin.headers)).statusCode).toBe(404)
  })
})

describe('a superadmin', () => {
  it('changes roles up and down', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const user = await createUser(app)
    for (const role of ['admin', 'superadmin', 'admin', 'user'] satisfies Role[]) {
      const response = await setRole(user.id, superadmin.headers, role)
      expect(response.statusCode, response.body).toBe(200)
      expect(response.json().role).toBe(role)
      expect((await fetchUser(app, superadmin.headers, user.id)).role).toBe(role)
    }
  })

  it('creates admins and superadmins', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    for (const role of ['admin', 'superadmin']) {
      const response = await create(superadmin.headers, { role })
      expect(response.statusCode, response.body).toBe(201)
      expect(response.json().role).toBe(role)
    }
  })

  it('updates, deactivates and deletes admins', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const admin = await createUser(app, 'admin')
    expect((await update(admin.id, superadmin.headers, { first_name: 'Managed' })).statusCode).toBe(200)
    const deactivated = await update(admin.id, superadmin.headers, { is_active: false })
    expect(deactivated.statusCode, deactivated.body).toBe(200)
    expect(deactivated.json().is_active).toBe(false)
    expect((await remove(admin.id, superadmin.headers)).statusCode).toBe(204)
    expect(await userRow(app, admin.id)).toBeUndefined()
  })

  it('demotes, deactivates and deletes another superadmin while an active one remains', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const [first, second, third] = [await createUser(app, 'superadmin'), await createUser(app, 'superadmin'), await createUser(app, 'superadmin')]
    expect((await setRole(first.id, superadmin.headers, 'admin')).statusCode).toBe(200)
    expect((await update(second.id, superadmin.headers, { is_active: false })).statusCode).toBe(200)
    expect((await remove(third.id, superadmin.headers)).statusCode).toBe(204)
    expect((await userRow(app, first.id))?.role).toBe('admin')
    expect((await userRow(app, second.id))?.isActive).toBe(false)
    expect(await userRow(app, third.id)).toBeUndefined()
  })

  it('gets 404 for an unknown id on the role route and 422 for an unknown role', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const user = await createUser(app)
    expect((await setRole(2_000_000_001, superadmin.headers, 'admin')).statusCode).toBe(404)
    expect((await setRole(user.id, superadmin.headers, 'overlord')).statusCode).toBe(422)
  })
})

describe('role changes', () => {
  it('apply to the existing token of the promoted user at once', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const user = await createUser(app)
    const tokens = await loginAs(app, user)
    const listAsUser = () => app.inject({ method: 'GET', url: '/api/v1/users/', headers: authHeader(tokens.access_token) })
    expect((await listAsUser()).statusCode).toBe(403)
    expect((await setRole(user.id, superadmin.headers, 'admin')).statusCode).toBe(200)
    expect((await listAsUser()).statusCode).toBe(200)
  })

  it('apply to the existing token of a demoted admin at once', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const admin = await signedInUser(app, 'admin')
    const list = () => app.inject({ method: 'GET', url: '/api/v1/users/', headers: admin.headers })
    expect((await list()).statusCode).toBe(200)
    expect((await setRole(admin.id, superadmin.headers, 'user')).statusCode).toBe(200)
    expect((await list()).statusCode).toBe(403)
  })

  it('are refused to a plain user with 403', async () => {
    const user = await signedInUser(app)
    expect((await setRole(user.id, user.headers, 'superadmin')).statusCode).toBe(403)
    expect((await fetchUser(app, user.headers, user.id)).role).toBe('user')
  })
})
