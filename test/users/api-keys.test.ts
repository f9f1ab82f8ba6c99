import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { controllableClock, expectNoSecrets, signedInUser, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

interface CreatedKey {
  id: number
  name: string
  key: string
  scopes: string[]
  expires_at: string | null
}

async function createKey(target: App, owner: SignedInUser, body: Record<string, unknown> = {}): Promise<CreatedKey> {
  const response = await target.inject({ method: 'POST', url: '/api/v1/api-keys', headers: owner.headers, payload: { name: 'ci key', ...body } })
  expect(response.statusCode, response.body).toBe(201)
  return response.json() as CreatedKey
}

const withKey = (target: App, key: string, method: 'GET' | 'PUT', url: string, payload?: object) =>
  target.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) })

describe('API keys', () => {
  it('are created with 201 and the key shown once; default scopes are ["read"]', async () => {
    const owner = await signedInUser(app)
    const created = await createKey(app, owner, { name: 'reporting' })
    expect(created).toMatchObject({ id: expect.any(Number), name: 'reporting', key: expect.any(String), scopes: ['read'], expires_at: null })
    expect(created.key.length).toBeGreaterThanOrEqual(32)
  })

  it('are listed without the key or anything secret', async () => {
    const owner = await signedInUser(app)
    const created = await createKey(app, owner, { name: 'listed' })
    const response = await app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: owner.headers })
    expect(response.statusCode).toBe(200)
    const keys = response.json() as Array<Record<string, unknown>>
    expect(keys.map((key) => key.id)).toEqual([created.id])
    expect(keys[0]).toMatchObject({ id: created.id, name: 'listed', scopes: ['read'] })
    expect(keys[0]).not.toHaveProperty('key')
    expect(JSON.stringify(keys)).not.toContain(created.key)
    expectNoSecrets(keys)
  })

  it("list only the caller's own keys", async () => {
    const owner = await signedInUser(app)
    const stranger = await signedInUser(app)
    await createKey(app, owner)
    const response = await app.inject({ method: 'GET', url: '/api/v1/api-keys/', headers: stranger.headers })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual([])
  })

  it('authenticate as their owner through X-API-Key', async () => {
    const owner = await signedInUser(app)
    const { key } = await createKey(app, owner)
    const response = await withKey(app, key, 'GET', '/api/v1/users/me')
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ id: owner.id, username: owner.username })
    expectNoSecrets(response.json())
  })

  it('with the read scope only can read but not write (403, unchanged)', async () => {
    const owner = await signedInUser(app, 'user', { first_name: 'Before' })
    const { key } = await createKey(app, owner)
    expect((await withKey(app, key, 'GET', `/api/v1/users/get/${owner.id}`)).statusCode).toBe(200)
    const write = await withKey(app, key, 'PUT', `/api/v1/users/update/${owner.id}`, { first_name: 'After' })
    expect(write.statusCode).toBe(403)
    expect((await withKey(app, key, 'GET', '/api/v1/users/me')).json().first_name).toBe('Before')
  })

  it('with the read and write scopes can update the owner', async () => {
    const owner = await signedInUser(app, 'user', { first_name: 'Before' })
    const { key, scopes } = await createKey(app, owner, { scopes: ['read', 'write'] })
    expect([...scopes].sort()).toEqual(['read', 'write'])
    const write = await withKey(app, key, 'PUT', `/api/v1/users/update/${owner.id}`, { first_name: 'After' })
    expect(write.statusCode, write.body).toBe(200)
    expect(write.json().first_name).toBe('After')
  })

  it('stop working once revoked (DELETE answers 204)', async () => {
    const owner = await signedInUser(app)
    const created = await createKey(app, owner)
    expect((await withKey(app, created.key, 'GET', '/api/v1/users/me')).statusCode).toBe(200)
    const revoke = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.id}`, headers: owner.headers })
    expect(revoke.statusCode, revoke.body).toBe(204)
    expect(revoke.body).toBe('')
    const after = await withKey(app, created.key, 'GET', '/api/v1/users/me')
    expect(after.statusCode).toBe(401)
    expect(after.headers['www-authenticate']).toBe('Bearer')
  })

  it("cannot be revoked by another user", async () => {
    const owner = await signedInUser(app)
    const stranger = await signedInUser(app)
    const created = await createKey(app, owner)
    const revoke = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.id}`, headers: stranger.headers })
    expect(revoke.statusCode).not.toBe(204)
    expect(revoke.statusCode).toBeGreaterThanOrEqual(400)
    expect((await withKey(app, created.key, 'GET', '/api/v1/users/me')).statusCode).toBe(200)
  })

  it('stop working once expired', async () => {
    const clock = controllableClock()
    const timed = await context.buildApp({}, { now: clock.now })
    const owner = await signedInUser(timed)
    const { key, expires_at } = await createKey(timed, owner, { expires_at: new Date(clock.current() + 3600_000).toISOString() })
    expect(expires_at).not.toBeNull()
    expect((await withKey(timed, key, 'GET', '/api/v1/users/me')).statusCode).toBe(200)
    clock.advance(3600_000 + 1_000)
    expect((await withKey(timed, key, 'GET', '/api/v1/users/me')).statusCode).toBe(401)
  })

  it('that are unknown or malformed are refused with 401', async () => {
    const owner = await signedInUser(app)
    const { key } = await createKey(app, owner)
    const tampered = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`
    for (const presented of ['nonsense', tampered]) {
      expect((await withKey(app, presented, 'GET', '/api/v1/users/me')).statusCode, presented).toBe(401)
    }
  })

  it('stop working when their owner is deactivated', async () => {
    const admin = await signedInUser(app, 'admin')
    const owner = await signedInUser(app)
    const { key } = await createKey(app, owner)
    expect((await app.inject({ method: 'PUT', url: `/api/v1/users/update/${owner.id}`, headers: admin.headers, payload: { is_active: false } })).statusCode).toBe(200)
    expect((await withKey(app, key, 'GET', '/api/v1/users/me')).statusCode).toBe(401)
  })

  it('answer a bad create body with 422', async () => {
    const owner = await signedInUser(app)
    for (const payload of [{}, { name: '' }, { name: 'x', scopes: ['admin'] }]) {
      const response = await app.inject({ method: 'POST', url: '/api/v1/api-keys/', headers: owner.headers, payload })
      expect(response.statusCode, JSON.stringify(payload)).toBe(422)
    }
  })

  it('need a signed-in caller', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/api-keys' })).statusCode).toBe(401)
    expect((await app.inject({ method: 'POST', url: '/api/v1/api-keys', payload: { name: 'x' } })).statusCode).toBe(401)
  })
})
