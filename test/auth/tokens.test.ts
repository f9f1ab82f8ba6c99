import { createHmac, randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { createAccessTokens } from '../../src/modules/auth/tokens.js'
import { authHeader, controllableClock, loginAs, registerUser, signedInUser, type TokenPair } from '../helpers/factories.js'
import { TEST_SECRET, useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  // Reuse detection itself is tested here; the retry grace for a lost answer has its own tests (test/sessions/).
  app = await context.buildApp({ REFRESH_REUSE_GRACE_SECONDS: '0' })
})

const me = (token: string, target: App = app) => target.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(token) })
const refresh = (refresh_token: string) => app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token } })

function expectBearerChallenge(response: { statusCode: number; headers: Record<string, unknown> }) {
  expect(response.statusCode).toBe(401)
  expect(response.headers['www-authenticate']).toBe('Bearer')
}

type Alg = 'HS256' | 'HS384' | 'HS512' | 'none'
const HMAC: Record<Exclude<Alg, 'none'>, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }

/** Builds a JWT by hand, so tests can make the ones the server must refuse. */
function forgeJwt(payload: Record<string, unknown>, options: { key?: string; alg?: Alg } = {}): string {
  const alg = options.alg ?? 'HS256'
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signingInput = `${encode({ alg, typ: 'JWT' })}.${encode(payload)}`
  const signature =
    alg === 'none'
      ? ''
      : createHmac(HMAC[alg], options.key ?? TEST_SECRET)
          .update(signingInput)
          .digest('base64url')
  return `${signingInput}.${signature}`
}

/** Claims like the server's own, for a user that never had its tokens revoked (version 0). */
function claimsFor(userId: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(Date.now() / 1000)
  return { sub: String(userId), ver: 0, sid: randomUUID(), typ: 'access', jti: randomUUID(), iat, exp: iat + 600, auth_time: iat, ...overrides }
}

describe('refresh tokens', () => {
  it('trade for a new token pair whose access token works', async () => {
    const user = await signedInUser(app)
    const response = await refresh(user.tokens.refresh_token)
    expect(response.statusCode, response.body).toBe(200)
    const pair = response.json() as TokenPair
    expect(pair).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: expect.any(Number) })
    expect(pair.refresh_token).not.toBe(user.tokens.refresh_token)
    expect((await me(pair.access_token)).json().id).toBe(user.id)
  })

  it('stop working once rotated', async () => {
    const user = await signedInUser(app)
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(200)
    const again = await refresh(user.tokens.refresh_token)
    expect(again.statusCode).toBe(401)
    expect(again.json()).toEqual({ detail: expect.any(String), code: 'invalid_refresh_token' })
  })

  it('revoke the whole family when a rotated token comes back: the newest token of the family fails too', async () => {
    const user = await signedInUser(app)
    const second = (await refresh(user.tokens.refresh_token)).json() as TokenPair
    const third = (await refresh(second.refresh_token)).json() as TokenPair
    // An attacker replays the first, already rotated token.
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(401)
    expect((await refresh(third.refresh_token)).statusCode).toBe(401)
  })

  it('reuse revokes only the family it belongs to: another session of the user keeps working', async () => {
    const user = await signedInUser(app)
    const otherSession = await loginAs(app, user)
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(200)
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(401)
    expect((await refresh(otherSession.refresh_token)).statusCode).toBe(200)
  })

  it('die on logout', async () => {
    const user = await signedInUser(app)
    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token: user.tokens.refresh_token } })
    expect(response.statusCode).toBe(200)
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(401)
  })

  it('are not accepted as access tokens', async () => {
    const user = await signedInUser(app)
    expectBearerChallenge(await me(user.tokens.refresh_token))
  })

  it('cannot be replaced by an access token', async () => {
    const user = await signedInUser(app)
    expect((await refresh(user.tokens.access_token)).statusCode).toBe(401)
    // The refresh token is still good: presenting the wrong kind of token did not count as its use.
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(200)
  })

  it('are refused when unknown', async () => {
    expect((await refresh('not-a-refresh-token')).statusCode).toBe(401)
  })
})

describe('logout-all', () => {
  it('revokes every session and makes existing access tokens fail at once', async () => {
    const user = await signedInUser(app)
    const other = await loginAs(app, user)
    expect((await me(other.access_token)).statusCode).toBe(200)

    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: user.headers })
    expect(response.statusCode, response.body).toBe(200)

    expectBearerChallenge(await me(user.tokens.access_token))
    expectBearerChallenge(await me(other.access_token))
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(401)
    expect((await refresh(other.refresh_token)).statusCode).toBe(401)
    // Signing in again works.
    expect((await me((await loginAs(app, user)).access_token)).statusCode).toBe(200)
  })

  it('needs a bearer token', async () => {
    expectBearerChallenge(await app.inject({ method: 'POST', url: '/api/v1/auth/logout-all' }))
  })
})

describe('access tokens', () => {
  it('are required: no credentials answers 401 with www-authenticate: Bearer', async () => {
    expectBearerChallenge(await app.inject({ method: 'GET', url: '/api/v1/users/me' }))
  })

  it('forged with the server key and the server claims are accepted (the forging helper is sound)', async () => {
    const user = await registerUser(app)
    expect((await me(forgeJwt(claimsFor(user.id)))).statusCode).toBe(200)
  })

  it('with alg "none" are refused', async () => {
    const user = await registerUser(app)
    expectBearerChallenge(await me(forgeJwt(claimsFor(user.id), { alg: 'none' })))
  })

  it('signed with another key are refused', async () => {
    const user = await registerUser(app)
    expectBearerChallenge(await me(forgeJwt(claimsFor(user.id), { key: 'another-secret-key-that-is-long-enough-to-look-real' })))
  })

  it('signed with another HMAC algorithm are refused', async () => {
    const user = await registerUser(app)
    expectBearerChallenge(await me(forgeJwt(claimsFor(user.id), { alg: 'HS512' })))
  })

  it('past their exp are refused', async () => {
    const user = await registerUser(app)
    const iat = Math.floor(Date.now() / 1000) - 3600
    expectBearerChallenge(await me(forgeJwt(claimsFor(user.id, { iat, exp: iat + 1800 }))))
  })

  it('expire by the app clock after the configured lifetime', async () => {
    const clock = controllableClock()
    const timed = await context.buildApp({ ACCESS_TOKEN_EXPIRE_MINUTES: '30' }, { now: clock.now })
    const user = await registerUser(timed)
    const tokens = await loginAs(timed, user)
    expect(tokens.expires_in).toBe(1800)
    clock.advance(29 * 60_000)
    expect((await me(tokens.access_token, timed)).statusCode).toBe(200)
    clock.advance(2 * 60_000)
    expectBearerChallenge(await me(tokens.access_token, timed))
  })

  it('issued by a server whose clock is later are already expired for a server at that time', async () => {
    const user = await signedInUser(app)
    const later = await context.buildApp({}, { now: () => new Date(Date.now() + 2 * 3600_000) })
    expectBearerChallenge(await me(user.tokens.access_token, later))
  })

  it('that are malformed are refused', async () => {
    const user = await signedInUser(app)
    const [header, payload] = user.tokens.access_token.split('.')
    for (const token of ['garbage', 'a.b.c', `${header}.${payload}`, `${header}.${payload}.`, `${user.tokens.access_token}x`, `${header}.e30.sig`]) {
      expectBearerChallenge(await me(token))
    }
    expectBearerChallenge(await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: 'Bearer' } }))
  })

  it('altered after the original was accepted are refused: the verified-token cache holds the exact token', async () => {
    const user = await signedInUser(app)
    const token = user.tokens.access_token
    expect((await me(token)).statusCode).toBe(200)
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const otherPayload = Buffer.from(JSON.stringify({ ...claims, sub: String(Number(claims.sub) + 1) })).toString('base64url')
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`
    for (const altered of [`${header}.${otherPayload}.${signature}`, `${header}.${payload}.${flipped}`]) expectBearerChallenge(await me(altered))
    expect((await me(token)).statusCode).toBe(200)
  })

  it('are verified through a cache that raises no warning (fast-jwt warns about custom cache keys)', async () => {
    const warnings: Error[] = []
    const collect = (warning: Error) => warnings.push(warning)
    process.on('warning', collect)
    try {
      createAccessTokens(context.config(), () => new Date())
      await new Promise((next) => setImmediate(next))
    } finally {
      process.off('warning', collect)
    }
    expect(warnings.map((warning) => warning.message)).toEqual([])
  })

  it('without the access type or a required claim are refused', async () => {
    const user = await registerUser(app)
    expectBearerChallenge(await me(forgeJwt(claimsFor(user.id, { typ: 'refresh' }))))
    const { ver: _ver, ...withoutVersion } = claimsFor(user.id)
    expectBearerChallenge(await me(forgeJwt(withoutVersion)))
  })

  it('in another authorization scheme are refused', async () => {
    const user = await signedInUser(app)
    const response = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Basic ${user.tokens.access_token}` } })
    expectBearerChallenge(response)
  })
})

describe('existing access tokens fail at once', () => {
  it('when the user is deactivated', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await signedInUser(app)
    const response = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}`, headers: admin.headers, payload: { is_active: false } })
    expect(response.statusCode, response.body).toBe(200)
    expectBearerChallenge(await me(user.tokens.access_token))
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(401)
  })

  it('when the user is deleted', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await signedInUser(app)
    const response = await app.inject({ method: 'DELETE', url: `/api/v1/users/delete/${user.id}`, headers: admin.headers })
    expect(response.statusCode, response.body).toBe(204)
    expectBearerChallenge(await me(user.tokens.access_token))
    expect((await refresh(user.tokens.refresh_token)).statusCode).toBe(401)
  })

  it('when the user changes the password', async () => {
    const user = await signedInUser(app)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/users/me/password',
      headers: user.headers,
      payload: { current_password: user.password, new_password: 'A-brand-new-passphrase-7' },
    })
    expect(response.statusCode, response.body).toBe(200)
    expectBearerChallenge(await me(user.tokens.access_token))
  })

  it('with the new role when the role changes', async () => {
    const superadmin = await signedInUser(app, 'superadmin')
    const user = await signedInUser(app)
    const list = () => app.inject({ method: 'GET', url: '/api/v1/users/', headers: user.headers })
    expect((await list()).statusCode).toBe(403)

    const promote = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}/role`, headers: superadmin.headers, payload: { role: 'admin' } })
    expect(promote.statusCode, promote.body).toBe(200)
    expect((await list()).statusCode).toBe(200)
    expect((await me(user.tokens.access_token)).json().role).toBe('admin')

    const demote = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}/role`, headers: superadmin.headers, payload: { role: 'user' } })
    expect(demote.statusCode, demote.body).toBe(200)
    expect((await list()).statusCode).toBe(403)
  })
})
