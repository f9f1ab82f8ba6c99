import { describe, expect, it } from 'vitest'
import { useTestContext, usingPostgres, usingRedis } from './helpers/test-context.js'

const context = useTestContext()

describe('health', () => {
  it('answers the basic check with status, version and uptime', async () => {
    const app = await context.buildApp()
    const response = await app.inject({ method: 'GET', url: '/api/v1/health/' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ status: 'healthy', version: expect.any(String), uptime_seconds: expect.any(Number) })
  })

  it('works with and without the trailing slash', async () => {
    const app = await context.buildApp()
    expect((await app.inject({ method: 'GET', url: '/api/v1/health' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/db/' })).statusCode).toBe(200)
  })

  it('reports the database backend in use with its latency', async () => {
    const app = await context.buildApp()
    const response = await app.inject({ method: 'GET', url: '/api/v1/health/db' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ status: 'healthy', backend: usingPostgres ? 'postgresql' : 'pglite' })
    expect(response.json().latency_ms).toBeGreaterThanOrEqual(0)
  })

  it('reports the cache backend in use', async () => {
    const app = await context.buildApp()
    const response = await app.inject({ method: 'GET', url: '/api/v1/health/cache' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ status: 'healthy', backend: usingRedis ? 'redis' : 'memory' })
  })

  it('is ready when its dependencies answer', async () => {
    const app = await context.buildApp()
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/ready' })).json()).toEqual({ status: 'ready' })
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/live' })).statusCode).toBe(200)
  })
})
