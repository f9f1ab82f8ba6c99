import { describe, expect, it } from 'vitest'
import { randomIp } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

describe('global rate limit', () => {
  it('answers 429 {"detail"} with Retry-After and X-RateLimit headers once the budget is spent', async () => {
    const app = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '3' })
    const ip = randomIp()
    const first = await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip })
    expect(first.headers['x-ratelimit-limit']).toBe('3')
    expect(first.headers['x-ratelimit-remaining']).toBe('2')
    expect(first.headers['x-ratelimit-reset']).toEqual(expect.any(String))
    await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip })
    await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip })
    const limited = await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip })
    expect(limited.statusCode).toBe(429)
    expect(limited.json()).toEqual({ detail: expect.stringContaining('Rate limit exceeded'), code: 'rate_limited' })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.headers['x-ratelimit-remaining']).toBe('0')
    // Health and docs stay reachable for probes and people.
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/', remoteAddress: ip })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/api/openapi.json', remoteAddress: ip })).statusCode).toBe(200)
  })

  it('ignores a spoofed X-Forwarded-For without TRUST_PROXY', async () => {
    const app = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '2' })
    const ip = randomIp()
    const statuses: number[] = []
    for (let index = 0; index < 4; index += 1) {
      const response = await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip, headers: { 'x-forwarded-for': randomIp() } })
      statuses.push(response.statusCode)
    }
    expect(statuses).toEqual([401, 401, 429, 429])
  })

  it('uses the forwarded client address only from a trusted proxy', async () => {
    const app = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: '127.0.0.1' })
    const client = randomIp()
    const viaProxy = (forwarded: string) =>
      app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': forwarded } })
    expect((await viaProxy(client)).statusCode).toBe(401)
    expect((await viaProxy(client)).statusCode).toBe(401)
    expect((await viaProxy(client)).statusCode).toBe(429)
    // Another client behind the same proxy has its own budget.
    expect((await viaProxy(randomIp())).statusCode).toBe(401)
    // A direct client cannot claim to be someone else: its own address counts.
    const direct = randomIp()
    for (let index = 0; index < 2; index += 1) {
      await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: direct, headers: { 'x-forwarded-for': randomIp() } })
    }
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: direct, headers: { 'x-forwarded-for': randomIp() } })).statusCode).toBe(429)
  })

  it('throttles guessing of API keys per address', async () => {
    const app = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '1000', AUTH_RATE_LIMIT_PER_MINUTE: '3' })
    const ip = randomIp()
    const statuses: number[] = []
    for (let index = 0; index < 5; index += 1) {
      statuses.push((await app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: ip, headers: { 'x-api-key': `cbs_000000000000_${'a'.repeat(43)}` } })).statusCode)
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429])
  })
})
