import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../src/lib/errors.js'
import { authHeader, signedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

describe('error codes', () => {
  it('are listed in docs/ERRORS.md exactly as in src/lib/errors.ts, with their status', () => {
    const doc = readFileSync('docs/ERRORS.md', 'utf8')
    const documented = [...doc.matchAll(/^\| `([a-z0-9_]+)` \| (\d{3}) \|/gm)].map((match) => [match[1], Number(match[2])])
    expect(documented).toEqual(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status]))
  })

  it('reach the client next to detail, for our errors, validation, framework errors and 404s', async () => {
    const app = await context.buildApp()
    const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'nobody-here', password: 'wrong-password' } })
    expect(login.statusCode).toBe(401)
    expect(login.json()).toEqual({ detail: expect.any(String), code: 'invalid_credentials' })

    const invalid = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: '' } })
    expect(invalid.statusCode).toBe(422)
    expect(invalid.json()).toMatchObject({ code: 'validation_error', detail: expect.arrayContaining([expect.objectContaining({ loc: expect.any(Array) })]) })

    const malformed = await app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"oops' })
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json()).toMatchObject({ code: 'malformed_request' })

    const missing = await app.inject({ method: 'GET', url: '/api/v1/no-such-route' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ detail: 'Not Found', code: 'not_found' })

    const anonymous = await app.inject({ method: 'GET', url: '/api/v1/users/me' })
    expect(anonymous.json()).toMatchObject({ code: 'not_authenticated' })

    const user = await signedInUser(app)
    const admin = await app.inject({ method: 'GET', url: '/api/v1/users/', headers: authHeader(user.tokens.access_token) })
    expect(admin.statusCode).toBe(403)
    expect(admin.json()).toMatchObject({ code: 'insufficient_permissions' })
  })

  it('are documented in OpenAPI as an enum on the error schema', async () => {
    const app = await context.buildApp()
    const document = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, { enum?: string[] }> } }> }> }>>
    }
    const unauthorized = document.paths['/api/v1/users/me']!.get!.responses['401']!.content!['application/json']!.schema
    expect(unauthorized.properties?.code?.enum).toEqual(Object.keys(ERROR_CODES))
  })
})
