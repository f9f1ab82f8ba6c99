import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createUser, loginAs, randomIp } from '../helpers/factories.js'
import { sample } from '../helpers/metrics.js'
import { listen } from '../helpers/network.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const TOKEN = 'metrics-scrape-token-0123456789'

describe('metrics', () => {
  it('refuses /metrics without its token and serves it with the token', async () => {
    const app = await context.buildApp({ METRICS_TOKEN: TOKEN })
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401)
    const scraped = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
    expect(scraped.statusCode).toBe(200)
    expect(scraped.body).toContain('nodejs_eventloop_lag_seconds')
  })

  it('is not served at all in production without a token', async () => {
    const app = await context.buildApp({ DEBUG: 'false', SECRET_KEY: 'a-strong-secret-key-that-is-long-enough-1234567890' })
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404)
  })

  it('counts requests per route, 429s by limiter, failed logins and WebSocket messages', async () => {
    const app = await context.buildApp({ METRICS_TOKEN: TOKEN, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '1000', AUTH_RATE_LIMIT_PER_MINUTE: '2' })
    const scrape = async () => (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).body
    const before = await scrape()

    for (let index = 0; index < 3; index += 1) await app.inject({ method: 'GET', url: '/api/v1/health/db' })
    const user = await createUser(app)
    const ip = randomIp()
    for (let index = 0; index < 3; index += 1) {
      await app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ip, payload: { username_or_email: user.username, password: 'wrong-password!' } })
    }
    const tokens = await loginAs(app, user)
    const socket = new WebSocket(`${(await listen(app)).ws}/ws/metrics-client?token=${tokens.access_token}`)
    await new Promise((resolve) => socket.once('message', resolve))
    socket.send(JSON.stringify({ type: 'ping' }))
    await new Promise((resolve) => socket.once('message', resolve))
    socket.close()

    const after = await scrape()
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels)
    expect(delta('http_request_duration_seconds_count', { route: '/api/v1/health/db', method: 'GET', status_code: '200' })).toBe(3)
    expect(delta('auth_login_attempts_total', { result: 'failure' })).toBe(2)
    expect(delta('rate_limit_rejections_total', { limiter: 'login' })).toBe(1)
    expect(delta('auth_login_attempts_total', { result: 'success' })).toBe(1)
    expect(delta('ws_messages_total', { direction: 'in' })).toBe(1)
    expect(delta('ws_messages_total', { direction: 'out' })).toBeGreaterThanOrEqual(2)
  })

  it('sheds load with 503 and Retry-After while the event loop is blocked, and keeps liveness up', async () => {
    const app = await context.buildApp({ MAX_EVENT_LOOP_DELAY_MS: '100' })
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/' })).statusCode).toBe(200)
    // An artificially blocked event loop, then one turn so the overdue sampler records the lag.
    const blockUntil = Date.now() + 1500
    while (Date.now() < blockUntil) {
      // busy-wait
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
    const shed = await app.inject({ method: 'GET', url: '/api/v1/users/me' })
    expect(shed.statusCode).toBe(503)
    expect(shed.headers['retry-after']).toBe('10')
    expect(shed.json()).toEqual({ detail: expect.stringContaining('heavy load'), code: 'service_unavailable' })
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/live' })).statusCode).toBe(200)
  })
})
