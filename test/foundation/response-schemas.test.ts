import fastJson from 'fast-json-stringify'
import { describe, expect, it } from 'vitest'
import { UserPublic } from '../../src/modules/users/users-schemas.js'

describe('UserPublic, the answer for a user (/users/me, every admin-list row)', () => {
  const user = {
    id: 7,
    username: 'ann',
    email: 'ann@example.com',
    first_name: 'Ann',
    last_name: null,
    phone_number: null,
    phone_verified: false,
    avatar_url: 'https://example.com/a.png',
    bio: null,
    timezone: 'UTC',
    language: 'en',
    role: 'user',
    is_active: true,
    two_fa_enabled: false,
    two_fa_method: 'email',
    email_verified: true,
    pending_email: null,
    last_login_at: '2026-11-30T00:00:00.000Z',
    created_at: '2026-11-29T00:00:00.000Z',
    updated_at: '2026-11-30T00:00:00.000Z',
  } as const

  it('serialises nulls and strings as they are', () => {
    const serialize = fastJson(UserPublic as object)
    expect(JSON.parse(serialize(user))).toEqual(user)
    expect(JSON.parse(serialize({ ...user, last_name: 'Lee', last_login_at: null }))).toEqual({ ...user, last_name: 'Lee', last_login_at: null })
  })

  it('declares nullable strings as a list of types, which the serializer checks without running a validator', () => {
    const nullable = Object.entries(UserPublic.properties).filter(([, schema]) => JSON.stringify(schema).includes('null'))
    expect(nullable.map(([name]) => name)).toEqual(['first_name', 'last_name', 'phone_number', 'avatar_url', 'bio', 'pending_email', 'last_login_at'])
    for (const [, schema] of nullable) {
      expect(schema).not.toHaveProperty('anyOf')
      expect(schema).toMatchObject({ type: ['string', 'null'] })
    }
  })
})
