import { afterAll, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { authHeader, createUser, loginAs } from '../helpers/factories.js'
import { freePort } from '../helpers/network.js'
import { PG_BIN, startPostgres } from '../helpers/processes.js'
import { describeWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'

const context = useTestContext()
const cleanups: (() => void)[] = []
afterAll(() => {
  for (const cleanup of cleanups.reverse()) cleanup()
})

describeWith('pg-bin')('when PostgreSQL restarts under the app', () => {
  it('fails fast with 503 {"detail"} during the gap and works again afterwards without a restart', async () => {
    const postgres = await startPostgres(PG_BIN!, await freePort())
    cleanups.push(postgres.destroy)
    // Built outside the context: the app must open its own pool on this server, not the file's database.
    const app = await buildApp({ config: context.config({ DATABASE_URL: postgres.url, DATABASE_TIMEOUT_SECONDS: '2', REDIS_URL: '' }), logger: false })
    cleanups.push(() => void app.close())
    const user = await createUser(app)
    const tokens = await loginAs(app, user)

    postgres.stop()
    const started = Date.now()
    const during = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })
    // "Fast" is the promise: refused connections answer at once. The bound is loose for busy machines,
    // yet under the 12 s statement limit (6 x DATABASE_TIMEOUT_SECONDS) that a hang would run into.
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(during.statusCode).toBe(503)
    expect(during.json()).toEqual({ detail: expect.any(String), code: 'service_unavailable' })
    const dbHealth = await app.inject({ method: 'GET', url: '/api/v1/health/db' })
    expect(dbHealth.statusCode).toBe(503)
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/ready' })).statusCode).toBe(503)

    postgres.start()
    await waitFor(async () => (await app.inject({ method: 'GET', url: '/api/v1/health/db' })).statusCode === 200, 'database recovery', { timeoutMs: 20_000, intervalMs: 100 })
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/ready' })).statusCode).toBe(200)
    const after = await app.inject({ method: 'GET', url: `/api/v1/users/get/${user.id}`, headers: authHeader(tokens.access_token) })
    expect(after.statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })).statusCode).toBe(200)
  }, 60_000)
})
