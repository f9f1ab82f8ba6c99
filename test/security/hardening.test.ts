import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Type } from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, type App } from '../../src/app.js'
import { DEFAULT_PASSWORD, authHeader, randomIp, registerUser, signedInUser, uniqueName } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

interface Issue {
  loc: (string | number)[]
  msg: string
  type: string
}

/** The FastAPI-style 422 issues of a response, after checking it is one. */
function issues(response: { statusCode: number; body: string; json: () => unknown }): Issue[] {
  expect(response.statusCode, response.body).toBe(422)
  const { detail } = response.json() as { detail: Issue[] }
  for (const issue of detail) expect(issue).toEqual({ loc: expect.any(Array), msg: expect.any(String), type: expect.any(String) })
  return detail
}

const login = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/v1/auth/login', payload })
const register = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/v1/auth/register', payload })

describe('JSON bodies are validated without type coercion', () => {
  // Each of these became a string under Ajv's coerceTypes ('array' wraps and unwraps, scalars stringify).
  const notStrings: [string, (value: string) => unknown][] = [
    ['an array', (value) => [value]],
    ['a number', () => 12345678],
    ['a boolean', () => true],
    ['an object', (value) => ({ value })],
    ['null', () => null],
  ]

  it.each(notStrings)('refuses %s for username_or_email at login with 422', async (_name, wrap) => {
    const user = await registerUser(app)
    const detail = issues(await login({ username_or_email: wrap(user.username), password: user.password }))
    expect(detail).toContainEqual(expect.objectContaining({ loc: ['body', 'username_or_email'], type: 'type_error' }))
  })

  it('does not sign in a name or password sent in a one-element array, which coercion unwrapped', async () => {
    const user = await registerUser(app)
    for (const payload of [
      { username_or_email: [user.username], password: user.password },
      { username_or_email: user.username, password: [user.password] },
    ]) {
      const response = await login(payload)
      expect(response.statusCode, response.body).toBe(422)
      expect(response.body).not.toContain('access_token')
    }
    // A user whose name is all digits is not reached by sending the number either.
    const digits = await registerUser(app, { username: String(10_000_000 + Math.floor(Math.random() * 89_999_999)) })
    expect((await login({ username_or_email: Number(digits.username), password: digits.password })).statusCode).toBe(422)
  })

  it.each(notStrings)('refuses %s for username, email and password at registration, and creates nobody', async (_name, wrap) => {
    const username = uniqueName()
    const email = `${username}@example.com`
    const fields = { username: wrap(username), email: wrap(email), password: wrap(DEFAULT_PASSWORD) }
    for (const [field, value] of Object.entries(fields)) {
      const payload = { username, email, password: DEFAULT_PASSWORD, [field]: value }
      const detail = issues(await register(payload))
      expect(detail, field).toContainEqual(expect.objectContaining({ loc: ['body', field], type: 'type_error' }))
    }
    // None of the refused bodies was stored: the identity is still free.
    expect((await register({ username, email, password: DEFAULT_PASSWORD })).statusCode).toBe(201)
  })

  it('does not coerce other body types either: a string "false" is no boolean, "5" no integer', async () => {
    const admin = await signedInUser(app, 'admin')
    const username = uniqueName()
    const create = await app.inject({
      method: 'POST',
      url: '/api/v1/users/',
      headers: admin.headers,
      payload: { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD, is_active: 'false' },
    })
    expect(issues(create)).toContainEqual(expect.objectContaining({ loc: ['body', 'is_active'], type: 'type_error' }))
  })

  it('still converts the query string and path parameters, which are text', async () => {
    const admin = await signedInUser(app, 'admin')
    const list = await app.inject({ method: 'GET', url: '/api/v1/users/?limit=2&skip=0&is_active=true', headers: admin.headers })
    expect(list.statusCode, list.body).toBe(200)
    expect(list.json()).toMatchObject({ limit: 2, skip: 0 })
    expect((list.json() as { items: unknown[] }).items.length).toBeLessThanOrEqual(2)
    const one = await app.inject({ method: 'GET', url: `/api/v1/users/get/${admin.id}`, headers: admin.headers })
    expect(one.statusCode, one.body).toBe(200)
    expect(one.json()).toMatchObject({ id: admin.id })
    // A query number that is not one is still a 422 in FastAPI's shape, located in the query.
    const bad = await app.inject({ method: 'GET', url: '/api/v1/users/?limit=many', headers: admin.headers })
    expect(issues(bad)).toContainEqual(expect.objectContaining({ loc: ['query', 'limit'] }))
  })

  describe('on one route with every part', () => {
    let probe: App
    beforeAll(async () => {
      // The app's own validator setup, with a route whose query takes a list and a number, and whose
      // body takes the same: no API route has a list in its query string.
      probe = await buildApp({ config: context.config(), logger: false, database: context.database })
      const shape = { tags: Type.Array(Type.String()), n: Type.Integer() }
      probe.post(
        '/probe/:id',
        { config: { access: 'public' }, schema: { params: Type.Object({ id: Type.Integer() }), querystring: Type.Object(shape), body: Type.Object(shape) } },
        async (request) => ({ params: request.params, query: request.query, body: request.body }),
      )
      await probe.ready()
    })
    afterAll(async () => {
      await probe.close()
    })

    it('converts query and path text (a single ?tags= becomes a list) but refuses the same values in the body', async () => {
      const good = await probe.inject({ method: 'POST', url: '/probe/5?tags=a&n=20', payload: { tags: ['a'], n: 20 } })
      expect(good.statusCode, good.body).toBe(200)
      expect(good.json()).toEqual({ params: { id: 5 }, query: { tags: ['a'], n: 20 }, body: { tags: ['a'], n: 20 } })

      const coercedBefore = await probe.inject({ method: 'POST', url: '/probe/5?tags=a&n=20', payload: { tags: 'a', n: '20' } })
      const detail = issues(coercedBefore)
      expect(detail).toContainEqual(expect.objectContaining({ loc: ['body', 'tags'] }))
      expect(detail).toContainEqual(expect.objectContaining({ loc: ['body', 'n'] }))
    })
  })
})

describe('Cache-Control: no-store on answers that carry secrets', () => {
  it('is sent on auth answers: success, 401 and 422', async () => {
    const user = await registerUser(app)
    const ok = await login({ username_or_email: user.username, password: user.password })
    expect(ok.statusCode).toBe(200)
    const wrong = await login({ username_or_email: user.username, password: 'Not-the-password-1' })
    expect(wrong.statusCode).toBe(401)
    const invalid = await login({ username_or_email: user.username })
    expect(invalid.statusCode).toBe(422)
    for (const response of [ok, wrong, invalid]) expect(response.headers['cache-control'], String(response.statusCode)).toBe('no-store')
  })

  it('is sent on users and api-keys answers, with and without a trailing slash, and on their 401s and 404s', async () => {
    const user = await signedInUser(app)
    const urls: [string, Record<string, string>, number][] = [
      ['/api/v1/users/me', user.headers, 200],
      ['/api/v1/users/me', {}, 401],
      // The router decodes this to /api/v1/users/me; the check reads the matched route, not the raw URL.
      ['/api/v1/%75sers/me', user.headers, 200],
      ['/api/v1/users', user.headers, 403],
      [`/api/v1/users/get/${user.id}`, user.headers, 200],
      ['/api/v1/users/no-such-route', user.headers, 404],
      ['/api/v1/api-keys/', user.headers, 200],
      ['/api/v1/api-keys', user.headers, 200],
      ['/api/v1/api-keys/', authHeader('not-a-token'), 401],
    ]
    for (const [url, headers, status] of urls) {
      const response = await app.inject({ method: 'GET', url, headers })
      expect(response.statusCode, `${url}: ${response.body}`).toBe(status)
      expect(response.headers['cache-control'], url).toBe('no-store')
    }
  })

  it('is sent on a 429 from the auth rate limit', async () => {
    const limited = await context.buildApp({ RATE_LIMIT_ENABLED: 'true', AUTH_RATE_LIMIT_PER_MINUTE: '1' })
    const remoteAddress = randomIp()
    let response: Awaited<ReturnType<typeof limited.inject>> | undefined
    for (let attempt = 0; attempt < 5; attempt += 1) {
      response = await limited.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress, payload: { username_or_email: 'nobody', password: 'x' } })
      if (response.statusCode === 429) break
    }
    expect(response!.statusCode).toBe(429)
    expect(response!.headers['cache-control']).toBe('no-store')
  })

  it('is not sent where nothing secret is answered, nor on a path that only starts like one', async () => {
    const health = await app.inject({ url: '/api/v1/health/live' })
    expect(health.statusCode).toBe(200)
    expect(health.headers['cache-control']).toBeUndefined()
    const lookalike = await app.inject({ url: '/api/v1/usersettings' })
    expect(lookalike.statusCode).toBe(404)
    expect(lookalike.headers['cache-control']).toBeUndefined()
  })
})

describe('framing is refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'carbelsad-frame-'))
  mkdirSync(join(root, 'assets'))
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>console</title>')
  writeFileSync(join(root, 'assets', 'app-abc123.js'), 'console.log(1)')
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it("sends X-Frame-Options: DENY and CSP frame-ancestors 'none' on the API, its docs and the console", async () => {
    const withConsole = await context.buildApp({}, { webRoot: root })
    const urls: [string, number][] = [
      ['/api/v1/health/live', 200],
      ['/api/v1/users/me', 401],
      ['/api/docs', 200],
      ['/', 200],
      ['/assets/app-abc123.js', 200],
      ['/no-such-page', 404],
    ]
    for (const [url, status] of urls) {
      const response = await withConsole.inject({ url })
      expect(response.statusCode, url).toBe(status)
      expect(response.headers['x-frame-options'], url).toBe('DENY')
      const csp = String(response.headers['content-security-policy'])
      expect(csp, url).toContain("frame-ancestors 'none'")
      expect(csp, url).not.toMatch(/frame-ancestors[^;]*'self'/)
    }
  })
})
