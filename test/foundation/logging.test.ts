import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { createCrudRepository } from '../../src/db/crud.js'
import { users } from '../../src/db/schema.js'
import { maskUrl } from '../../src/lib/logger.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

function captureLogs() {
  const lines: Record<string, unknown>[] = []
  return { lines, stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } }
}

describe('logging', () => {
  it('writes one line per request with method, path, status, duration and request id', async () => {
    const logs = captureLogs()
    const app = await buildApp({ config: context.config({ LOG_LEVEL: 'info' }), logger: logs.stream, database: context.database })
    await app.inject({ method: 'GET', url: '/api/v1/users/me?x=1', headers: { 'x-request-id': 'trace-me' } })
    await app.inject({ method: 'GET', url: '/api/v1/health/' })
    await app.close()
    const requestLines = logs.lines.filter((line) => line.msg === 'request completed')
    expect(requestLines).toHaveLength(1)
    expect(requestLines[0]).toMatchObject({ method: 'GET', path: '/api/v1/users/me', status: 401, request_id: 'trace-me', duration_ms: expect.any(Number) })
  })

  it('logs successful health probes at debug level only', async () => {
    const logs = captureLogs()
    const app = await buildApp({ config: context.config({ LOG_LEVEL: 'debug' }), logger: logs.stream, database: context.database })
    await app.inject({ method: 'GET', url: '/api/v1/health/' })
    await app.close()
    const probe = logs.lines.find((line) => line.msg === 'request completed')
    expect(probe).toMatchObject({ path: '/api/v1/health/', status: 200, level: 20 })
  })

  it('logs a validation error without the values it rejected', async () => {
    const logs = captureLogs()
    const { default: pino } = await import('pino')
    const { loggerOptions } = await import('../../src/lib/logger.js')
    const logger = pino(loggerOptions(context.config({ LOG_LEVEL: 'info' }), undefined) as object, logs.stream)
    const error = Object.assign(new Error('body/password must NOT have fewer than 12 characters'), {
      validation: [{ keyword: 'minLength', instancePath: '/password', message: 'must NOT have fewer than 12 characters', data: 'short-secret', schema: 12 }],
    })
    logger.error({ err: error }, 'failed')
    expect(JSON.stringify(logs.lines)).not.toContain('short-secret')
    expect(logs.lines[0]?.err).toMatchObject({ validation: [{ keyword: 'minLength', instancePath: '/password' }] })
  })

  it('never writes passwords, tokens, codes or credentials headers', async () => {
    const logs = captureLogs()
    const app = await buildApp({ config: context.config({ LOG_LEVEL: 'trace' }), logger: logs.stream, database: context.database })
    const password = 'Sup3r-secret-passw0rd'
    await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'logme', email: 'logme@example.com', password } })
    const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'logme', password } })
    const { access_token: accessToken, refresh_token: refreshToken } = login.json() as { access_token: string; refresh_token: string }
    await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${accessToken}`, 'x-api-key': 'cbs_secretkey' } })
    await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: refreshToken } })
    app.log.info({ password, token: accessToken, body: { code: '123456', refresh_token: refreshToken } }, 'service log with secrets')
    app.log.info({ req: { method: 'GET', url: `/ws/me?token=${accessToken}` } }, 'socket handshake')
    await app.close()
    const text = logs.lines.map((line) => JSON.stringify(line)).join('\n')
    expect(logs.lines.length).toBeGreaterThan(4)
    for (const secret of [password, accessToken, refreshToken, '123456', 'cbs_secretkey']) expect(text).not.toContain(secret)
    expect(text).toContain('[REDACTED]')
  })

  it('redacts secrets written through request.log (made on its first use) as the app logger does', async () => {
    const logs = captureLogs()
    const app = await buildApp({ config: context.config({ LOG_LEVEL: 'info' }), logger: logs.stream, database: context.database })
    const secrets = { password: 'Route-logged-passw0rd', token: 'route.logged.token', code: '654321', refresh: 'route-logged-refresh' }
    app.get('/log-secrets', { config: { access: 'public' } }, async (request) => {
      request.log.info({ password: secrets.password, token: secrets.token, body: { code: secrets.code, refresh_token: secrets.refresh } }, 'route log with secrets')
      return { ok: true }
    })
    const response = await app.inject({ method: 'GET', url: '/log-secrets' })
    await app.close()
    const line = logs.lines.find((entry) => entry.msg === 'route log with secrets')
    expect(line).toMatchObject({ request_id: response.headers['x-request-id'], password: '[REDACTED]', token: '[REDACTED]' })
    expect(line?.body).toEqual({ code: '[REDACTED]', refresh_token: '[REDACTED]' })
    const text = JSON.stringify(logs.lines)
    for (const secret of Object.values(secrets)) expect(text).not.toContain(secret)
  })

  it('keeps SQL parameter values of a failed query out of the log and the debug error body', async () => {
    const logs = captureLogs()
    const app = await buildApp({ config: context.config({ LOG_LEVEL: 'info' }), logger: logs.stream, database: context.database })
    const secret = 'tok_SECRET_VALUE_in_a_param'
    // A real driver failure: the value cannot be cast, so Drizzle throws "Failed query: …\nparams: …".
    app.get('/boom', { config: { access: 'public' } }, async () => app.db.execute(sql`select ${secret}::uuid`))
    const response = await app.inject({ method: 'GET', url: '/boom' })
    await app.close()
    expect(response.statusCode).toBe(500)
    expect(response.body).not.toContain(secret)
    const failure = logs.lines.find((line) => line.msg === 'unhandled error')
    // Written through request.log (made on its first use, see requestLoggerFactory): it names its request.
    expect(failure?.request_id).toBe(response.headers['x-request-id'])
    expect(JSON.stringify(failure?.err)).toContain('Failed query: select $1::uuid')
    expect(JSON.stringify(logs.lines)).not.toContain(secret)
  })

  it('keeps the values of a failed prepared page query (run by the driver, not Drizzle) out of the log', async () => {
    const logs = captureLogs()
    const app = await buildApp({ config: context.config({ LOG_LEVEL: 'info' }), logger: logs.stream, database: context.database })
    const secret = 'tok_SECRET_VALUE_in_a_page_param'
    const page = createCrudRepository(app.db, users).preparePage('log_probe', { id: users.id }, sql`${users.id} = ${sql.placeholder('probe')}::int`)
    app.get('/boom-page', { config: { access: 'public' } }, async () => page({ skip: 0, limit: 1, probe: secret }))
    const response = await app.inject({ method: 'GET', url: '/boom-page' })
    await app.close()
    expect(response.statusCode).toBe(500)
    expect(response.body).not.toContain(secret)
    const failure = logs.lines.find((line) => line.msg === 'unhandled error')
    expect(JSON.stringify(failure?.err)).toContain('Failed query: select')
    expect(JSON.stringify(failure?.err)).toContain('invalid input syntax for type integer')
    expect(JSON.stringify(logs.lines)).not.toContain(secret)
  })

  it('masks secrets in query strings', () => {
    expect(maskUrl('/ws/c1?token=abc.def&x=1')).toBe('/ws/c1?token=[REDACTED]&x=1')
    expect(maskUrl('/a?api_key=k')).toBe('/a?api_key=[REDACTED]')
  })
})
