import { describe, expect, it } from 'vitest'
import { authHeader, createUser, randomIp, signedInUser, tokenFrom, VERIFY_EMAIL_SUBJECT, waitForMail } from '../helpers/factories.js'
import { sample } from '../helpers/metrics.js'
import { freePort } from '../helpers/network.js'
import { useTestContext } from '../helpers/test-context.js'

/** Settings whose effect no other test would notice if the setting were ignored. */
const context = useTestContext()

const login = (app: Awaited<ReturnType<typeof context.buildApp>>, user: { username: string; password: string }) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })

describe('REQUIRE_EMAIL_VERIFICATION', () => {
  it('refuses login with 403 until the address is verified, then lets the user in', async () => {
    const app = await context.buildApp({ REQUIRE_EMAIL_VERIFICATION: 'true' })
    const user = await createUser(app)
    const refused = await login(app, user)
    expect(refused.statusCode, refused.body).toBe(403)
    expect(refused.json().access_token).toBeUndefined()

    const mail = await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT })
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: tokenFrom(mail) } })).statusCode).toBe(200)
    const allowed = await login(app, user)
    expect(allowed.statusCode, allowed.body).toBe(200)
  })

  it('is off by default: an unverified user signs in', async () => {
    const app = await context.buildApp()
    const user = await createUser(app)
    const response = await login(app, user)
    expect(response.statusCode, response.body).toBe(200)
    const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(response.json().access_token) })
    expect(me.json()).toMatchObject({ email_verified: false })
  })
})

describe('RATE_LIMIT_EXEMPT', () => {
  it('lets the listed path prefixes past the global limit, without using up the budget of other paths', async () => {
    const app = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_EXEMPT: '/api/v1/health/live' })
    const remoteAddress = randomIp()
    const get = async (url: string) => (await app.inject({ method: 'GET', url, remoteAddress })).statusCode

    const exempt: number[] = []
    for (let index = 0; index < 6; index += 1) exempt.push(await get('/api/v1/health/live'))
    expect(exempt).toEqual(Array(6).fill(200))
    // The default list exempts all of /api/v1/health; this one does not, so the health check is counted.
    const counted: number[] = []
    for (let index = 0; index < 4; index += 1) counted.push(await get('/api/v1/health/'))
    expect(counted).toEqual([200, 200, 200, 429])
  })
})

describe('METRICS_PORT', () => {
  it('serves /metrics on its own port, behind METRICS_TOKEN, and not on the main port', async () => {
    const port = await freePort()
    const token = 'separate-port-scrape-token-42'
    const app = await context.buildApp({ HOST: '127.0.0.1', METRICS_PORT: String(port), METRICS_TOKEN: token })
    const user = await signedInUser(app)
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(200)

    const url = `http://127.0.0.1:${port}/metrics`
    expect((await fetch(url)).status).toBe(401)
    const scraped = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    expect(scraped.status).toBe(200)
    // The figures are the app's own, not an empty registry's.
    expect(sample(await scraped.text(), 'http_request_duration_seconds_count', { route: '/api/v1/users/me' })).toBeGreaterThanOrEqual(1)

    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(404)
  })

  it('stops listening on that port when the app closes', async () => {
    const port = await freePort()
    const app = await context.buildApp({ HOST: '127.0.0.1', METRICS_PORT: String(port) })
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200)
    await app.close()
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow()
  })
})
