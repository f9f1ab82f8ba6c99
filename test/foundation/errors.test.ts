import { describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

describe('error shapes', () => {
  it('answers an unknown route with 404 {"detail"}', async () => {
    const app = await context.buildApp()
    const response = await app.inject({ method: 'GET', url: '/api/v1/nope' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ detail: 'Not Found', code: 'not_found' })
  })

  it('answers a schema violation with 422 and a FastAPI-style list of {loc, msg, type}', async () => {
    const app = await context.buildApp()
    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'ab', email: 'nope', password: 1 } })
    expect(response.statusCode).toBe(422)
    const detail = response.json().detail as { loc: (string | number)[]; msg: string; type: string }[]
    expect(Array.isArray(detail)).toBe(true)
    expect(detail).toEqual(expect.arrayContaining([expect.objectContaining({ loc: ['body', 'username'], type: 'string_too_short' })]))
    for (const issue of detail) {
      expect(issue).toEqual({ loc: expect.any(Array), msg: expect.any(String), type: expect.any(String) })
    }
    const missing = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: {} })
    expect(missing.json().detail).toEqual(expect.arrayContaining([{ loc: ['body', 'username_or_email'], msg: 'Field required', type: 'missing' }]))
  })

  it('answers malformed JSON with 400, a wrong content type with 415 and an oversized body with 413', async () => {
    const app = await context.buildApp({ BODY_LIMIT_BYTES: '2048' })
    const malformed = await app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username_or_email":' })
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json()).toEqual({ detail: expect.stringContaining('Malformed JSON'), code: 'malformed_request' })
    const wrongType = await app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'hello' })
    expect(wrongType.statusCode).toBe(415)
    expect(wrongType.json()).toEqual({ detail: expect.any(String), code: expect.any(String) })
    const tooBig = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'x'.repeat(4096), password: 'y' } })
    expect(tooBig.statusCode).toBe(413)
    expect(tooBig.json()).toEqual({ detail: expect.any(String), code: expect.any(String) })
  })

  it('hides a crash behind 500 {"detail":"Internal Server Error"} with the request id, without a stack', async () => {
    // A route that throws an unexpected error, added to a fresh app before it is ready.
    const fresh = await buildApp({
      config: context.config({ DEBUG: 'false', SECRET_KEY: 'a-strong-secret-key-that-is-long-enough-1234567890' }),
      logger: false,
      database: context.database,
    })
    fresh.get('/boom', { config: { access: 'public' } }, async () => {
      throw new Error('secret internals')
    })
    const response = await fresh.inject({ method: 'GET', url: '/boom', headers: { 'x-request-id': 'req-123' } })
    await fresh.close()
    expect(response.statusCode).toBe(500)
    expect(response.json()).toEqual({ detail: 'Internal Server Error', code: 'internal_error', request_id: 'req-123' })
    expect(response.body).not.toContain('secret internals')
    expect(response.headers['x-request-id']).toBe('req-123')
  })

  it('echoes a plain incoming X-Request-ID and replaces a malicious one', async () => {
    const app = await context.buildApp()
    const echoed = await app.inject({ method: 'GET', url: '/api/v1/health/', headers: { 'x-request-id': 'abc-123' } })
    expect(echoed.headers['x-request-id']).toBe('abc-123')
    const replaced = await app.inject({ method: 'GET', url: '/api/v1/health/', headers: { 'x-request-id': 'evil\nline' } })
    expect(replaced.headers['x-request-id']).not.toContain('evil')
  })

  it('sets security headers and answers CORS preflights only for allowed origins', async () => {
    const app = await context.buildApp({ ALLOWED_ORIGINS: 'http://good.example' })
    const health = await app.inject({ method: 'GET', url: '/api/v1/health/' })
    expect(health.headers['x-content-type-options']).toBe('nosniff')
    const allowed = await app.inject({ method: 'OPTIONS', url: '/api/v1/users/me', headers: { origin: 'http://good.example', 'access-control-request-method': 'GET' } })
    expect(allowed.headers['access-control-allow-origin']).toBe('http://good.example')
    const denied = await app.inject({ method: 'OPTIONS', url: '/api/v1/users/me', headers: { origin: 'http://evil.example', 'access-control-request-method': 'GET' } })
    expect(denied.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('serves OpenAPI, Swagger UI and ReDoc from local assets', async () => {
    const app = await context.buildApp()
    const spec = await app.inject({ method: 'GET', url: '/api/openapi.json' })
    expect(spec.statusCode).toBe(200)
    const paths = Object.keys(spec.json().paths)
    expect(paths).toEqual(expect.arrayContaining(['/api/v1/auth/register', '/api/v1/auth/login', '/api/v1/users/me', '/api/v1/users/get/{user_id}', '/api/v1/health']))
    const docs = await app.inject({ method: 'GET', url: '/api/docs' })
    expect(docs.statusCode).toBe(200)
    expect(docs.body).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/)
    const redoc = await app.inject({ method: 'GET', url: '/api/redoc' })
    expect(redoc.statusCode).toBe(200)
    expect(redoc.body).toContain('/api/redoc/redoc.standalone.js')
    const bundle = await app.inject({ method: 'GET', url: '/api/redoc/redoc.standalone.js' })
    expect(bundle.statusCode).toBe(200)
    expect(bundle.body.length).toBeGreaterThan(100_000)
  })
})
