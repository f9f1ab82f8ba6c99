import { and, eq, ne } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { users } from '../../src/db/schema.js'
import { authHeader, createUser, loginAs, setUserColumns, signedInUser, userRow, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

/** A signed-in superadmin who is the only active one: every other superadmin of this file's database is retired first. */
async function soleSuperadmin(): Promise<SignedInUser> {
  const superadmin = await signedInUser(app, 'superadmin')
  const others = await app.db
    .update(users)
    .set({ isActive: false })
    .where(and(eq(users.role, 'superadmin'), eq(users.isActive, true), ne(users.id, superadmin.id)))
    .returning({ id: users.id })
  for (const other of others) await app.invalidateUser(other.id)
  return superadmin
}

const setRole = (userId: number, headers: Record<string, string>, role: string) =>
  app.inject({ method: 'PUT', url: `/api/v1/users/update/${userId}/role`, headers, payload: { role } })

describe('the last active superadmin', () => {
  it('cannot be demoted (403, still superadmin)', async () => {
    const superadmin = await soleSuperadmin()
    for (const role of ['admin', 'user']) expect((await setRole(superadmin.id, superadmin.headers, role)).statusCode, role).toBe(403)
    expect((await userRow(app, superadmin.id))?.role).toBe('superadmin')
  })

  it('cannot be deleted (403, still there)', async () => {
    const superadmin = await soleSuperadmin()
    const response = await app.inject({ method: 'DELETE', url: `/api/v1/users/delete/${superadmin.id}`, headers: superadmin.headers })
    expect(response.statusCode).toBe(403)
    expect(await userRow(app, superadmin.id)).toBeDefined()
  })

  it('cannot be deactivated (403, still active)', async () => {
    const superadmin = await soleSuperadmin()
    const response = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${superadmin.id}`, headers: superadmin.headers, payload: { is_active: false } })
    expect(response.statusCode).toBe(403)
    expect((await userRow(app, superadmin.id))?.isActive).toBe(true)
  })

  it('does not count inactive superadmins: one that is inactive does not make the active one removable', async () => {
    const superadmin = await soleSuperadmin()
    const inactive = await createUser(app, 'superadmin')
    await setUserColumns(app, inactive.id, { isActive: false })
    expect((await setRole(superadmin.id, superadmin.headers, 'admin')).statusCode).toBe(403)
  })

  it('can step down once a second active superadmin exists', async () => {
    const superadmin = await soleSuperadmin()
    const second = await createUser(app, 'superadmin')
    expect((await setRole(superadmin.id, superadmin.headers, 'admin')).statusCode).toBe(200)
    expect((await userRow(app, superadmin.id))?.role).toBe('admin')
    // Now the second one is the last.
    const secondHeaders = authHeader((await loginAs(app, second)).access_token)
    expect((await setRole(second.id, secondHeaders, 'admin')).statusCode).toBe(403)
  })

  it('survives two superadmins demoting each other at the same time: one stays', async () => {
    const first = await soleSuperadmin()
    const second = await signedInUser(app, 'superadmin')
    const answers = await Promise.all([setRole(second.id, first.headers, 'user'), setRole(first.id, second.headers, 'user')])
    const statuses = answers.map((answer) => answer.statusCode).sort()
    expect(statuses).toEqual([200, 403])
    const roles = [(await userRow(app, first.id))?.role, (await userRow(app, second.id))?.role]
    expect(roles.filter((role) => role === 'superadmin')).toHaveLength(1)
  })
})
