import { expect, it } from 'vitest'
import { authHeader, codeFrom, createUser, loginAs, randomIp, signedInUser, SIGN_IN_CODE_SUBJECT, waitForMail } from '../helpers/factories.js'
import { describeWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

/** Two app instances on one PostgreSQL and one Redis: what a load balancer puts in front of users. */
async function twoInstances(overrides: Record<string, string> = {}) {
  return [await context.buildApp(overrides), await context.buildApp(overrides)] as const
}

describeWith('postgres', 'redis')('two instances behind one balancer', () => {
  it('share one rate-limit budget: requests split across both reach the limit together', async () => {
    const [a, b] = await twoInstances({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '6' })
    const ip = randomIp()
    const statuses: number[] = []
    for (let index = 0; index < 8; index += 1) {
      const app = index % 2 === 0 ? a : b
      statuses.push((await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip })).statusCode)
    }
    expect(statuses.slice(0, 6)).toEqual(Array(6).fill(401))
    expect(statuses.slice(6)).toEqual([429, 429])
  })

  it('share login limits per account across instances and IPs', async () => {
    const [a, b] = await twoInstances({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '1000', LOGIN_RATE_LIMIT_PER_ACCOUNT: '3', AUTH_RATE_LIMIT_PER_MINUTE: '100' })
    const user = await createUser(a)
    const statuses: number[] = []
    for (let index = 0; index < 5; index += 1) {
      const app = index % 2 === 0 ? a : b
      const response = await app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: randomIp(), payload: { username_or_email: user.username, password: 'wrong-password!' } })
      statuses.push(response.statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429])
  })

  it('verifies on B a 2FA code mailed by A', async () => {
    const [a, b] = await twoInstances()
    const user = await signedInUser(a)
    await a.inject({ method: 'POST', url: '/api/v1/auth/enable-2fa', headers: user.headers })
    const enableMail = await waitForMail(a, user.email, { subject: SIGN_IN_CODE_SUBJECT })
    const enabled = await b.inject({ method: 'POST', url: '/api/v1/auth/enable-2fa', headers: user.headers, payload: { code: codeFrom(enableMail) } })
    expect(enabled.statusCode, enabled.body).toBe(200)

    const challenge = await a.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })
    expect(challenge.json()).toMatchObject({ requires_2fa: true, method: 'email' })
    const loginMail = await waitForMail(a, user.email, { subject: SIGN_IN_CODE_SUBJECT, exclude: [enableMail.id] })
    const verified = await b.inject({ method: 'POST', url: '/api/v1/auth/verify-2fa', payload: { challenge_token: challenge.json().challenge_token, code: codeFrom(loginMail) } })
    expect(verified.statusCode, verified.body).toBe(200)
    expect(verified.json().access_token).toEqual(expect.any(String))
  })

  it('makes B refuse an old access token at once after logout-all on A', async () => {
    const [a, b] = await twoInstances()
    const user = await signedInUser(a)
    // B has seen (and cached) the user before the logout.
    expect((await b.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(200)
    expect((await a.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: user.headers })).statusCode).toBe(200)
    const after = await b.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers })
    expect(after.statusCode).toBe(401)
  })

  it('enforces on B at once a role change made on A', async () => {
    const [a, b] = await twoInstances()
    const superadmin = await signedInUser(a, 'superadmin')
    const user = await createUser(a)
    const tokens = await loginAs(b, user)
    expect((await b.inject({ method: 'GET', url: '/api/v1/users/', headers: authHeader(tokens.access_token) })).statusCode).toBe(403)
    const promoted = await a.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}/role`, headers: superadmin.headers, payload: { role: 'admin' } })
    expect(promoted.statusCode).toBe(200)
    expect((await b.inject({ method: 'GET', url: '/api/v1/users/', headers: authHeader(tokens.access_token) })).statusCode).toBe(200)
    await a.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}/role`, headers: superadmin.headers, payload: { role: 'user' } })
    expect((await b.inject({ method: 'GET', url: '/api/v1/users/', headers: authHeader(tokens.access_token) })).statusCode).toBe(403)
  })
})
