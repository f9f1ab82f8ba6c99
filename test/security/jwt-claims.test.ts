import { createHmac, randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { authHeader, registerUser } from '../helpers/factories.js'
import { TEST_SECRET, useTestContext } from '../helpers/test-context.js'

// Issue #14 point 12: a token signed with the right key but with time claims that are not numbers
// must not be taken as valid (`"exp": "soon"` used to be accepted, as NaN never compares as past).

const context = useTestContext()
let app: App
let userId: number

beforeAll(async () => {
  app = await context.buildApp()
  userId = (await registerUser(app)).id
})

/** An HS256 token signed with the test server's key, as only someone holding the key could make. */
function signWithServerKey(payload: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signingInput = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`
  return `${signingInput}.${createHmac('sha256', TEST_SECRET).update(signingInput).digest('base64url')}`
}

/** The claims the server itself issues, for a user whose tokens were never revoked (version 0). */
function serverClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(Date.now() / 1000)
  return { sub: String(userId), ver: 0, sid: randomUUID(), typ: 'access', jti: randomUUID(), iat, exp: iat + 600, auth_time: iat, ...overrides }
}

const me = (token: string) => app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(token) })

async function expectRefused(overrides: Record<string, unknown>) {
  const response = await me(signWithServerKey(serverClaims(overrides)))
  expect(response.statusCode, JSON.stringify(overrides)).toBe(401)
  expect(response.headers['www-authenticate']).toBe('Bearer')
}

describe('access tokens signed with the server key', () => {
  it('are refused (401) when exp is a string, even one that reads as a number', async () => {
    // The same claims with a numeric exp pass: the forging helper makes tokens the server takes.
    expect((await me(signWithServerKey(serverClaims()))).statusCode).toBe(200)
    await expectRefused({ exp: 'soon' })
    await expectRefused({ exp: String(Math.floor(Date.now() / 1000) + 600) })
    await expectRefused({ exp: null })
  })

  it('are refused (401) when iat is a string, or nbf lies in the future or is not a number', async () => {
    await expectRefused({ iat: 'now' })
    await expectRefused({ iat: String(Math.floor(Date.now() / 1000)) })
    const now = Math.floor(Date.now() / 1000)
    await expectRefused({ nbf: now + 3600 })
    await expectRefused({ nbf: 'later' })
    // A past nbf is fine: the claim is optional and, when present, only has to have passed.
    expect((await me(signWithServerKey(serverClaims({ nbf: now - 60 })))).statusCode).toBe(200)
  })

  it('are refused (401) when auth_time is missing or not a number (a forged proof time must not pass as fresh)', async () => {
    await expectRefused({ auth_time: 'just now' })
    const { auth_time: _authTime, ...withoutAuthTime } = serverClaims()
    const response = await me(signWithServerKey(withoutAuthTime))
    expect(response.statusCode).toBe(401)
  })
})
