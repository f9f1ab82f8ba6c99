import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { createUser, loginAs, userRow } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

/**
 * Reads /api/openapi.json and throws generated bad input at every operation, with and without
 * credentials. Fixed seed and bounded count in CI; run longer by hand with
 * `FUZZ_COUNT=20000 FUZZ_SEED=7 npx vitest run test/resilience/fuzz.test.ts`.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 1337)
const COUNT = Number(process.env.FUZZ_COUNT ?? 1500)

const context = useTestContext()

/** mulberry32: small, fast and reproducible. */
function prng(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  }
}
type Rng = ReturnType<typeof prng>

const NASTY_STRINGS = [
  '',
  ' ',
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '" OR ""="',
  '<script>alert(1)</script>',
  '{{7*7}}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text of a log4shell probe, sent as input
  '${jndi:ldap://x}',
  '../../../../etc/passwd',
  'a\u0000b',
  '\u0000',
  'ｊｏｈｎｄｏｅ',
  'jоhndое',
  '🙂'.repeat(40),
  '\u202Eevil',
  'x'.repeat(10_000),
  '%00',
  '%',
  '_',
  '\\',
  'null',
  'undefined',
  '-1',
  '1e309',
  'NaN',
  'admin',
  'superadmin',
  'user@example.com',
  `${'a'.repeat(256)}@example.com`,
  'Europe/Nowhere',
  'http://[::1',
]

function nastyValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(12)) {
    case 0:
      return rng.pick(NASTY_STRINGS)
    case 1:
      return rng.pick([0, -1, 1, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1.5, 1e308])
    case 2:
      return rng.pick([true, false, null])
    case 3:
      return depth > 2 ? [] : [nastyValue(rng, depth + 1), nastyValue(rng, depth + 1)]
    case 4:
      return depth > 2 ? {} : { [rng.pick(['role', 'is_active', '__proto__', 'constructor', 'x'])]: nastyValue(rng, depth + 1) }
    case 5:
      return 'x'.repeat(rng.pick([0, 1, 51, 129, 501, 5000]))
    default:
      return rng.pick(NASTY_STRINGS)
  }
}

interface Operation {
  method: string
  path: string
  properties: Record<string, unknown>
  required: string[]
  hasBody: boolean
}

function operationsOf(spec: { paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> } }>> }): Operation[] {
  const operations: Operation[] = []
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const schema = operation.requestBody?.content?.['application/json']?.schema ?? {}
      operations.push({
        method: method.toUpperCase(),
        path,
        properties: (schema.properties as Record<string, unknown>) ?? {},
        required: (schema.required as string[]) ?? [],
        hasBody: Boolean(operation.requestBody),
      })
    }
  }
  return operations
}

function badPath(rng: Rng, path: string): string {
  return path.replace(/\{[^}]+\}/g, () =>
    encodeURIComponent(String(rng.pick(['1', '0', '-1', '99999999999999999999', 'abc', "1' OR 1=1", '1.5', '%00', '..', 'ADMIN', 'user', 'x'.repeat(300)]))),
  )
}

function badBody(rng: Rng, operation: Operation): { payload: string | Buffer; contentType: string } {
  const body: Record<string, unknown> = {}
  for (const name of Object.keys(operation.properties)) {
    if (rng.chance(0.2)) continue
    body[name] = nastyValue(rng)
  }
  if (rng.chance(0.3)) body[rng.pick(['role', 'is_active', 'email_verified', 'id', 'password_hash', 'extra'])] = nastyValue(rng)
  switch (rng.int(10)) {
    case 0:
      return { payload: `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, contentType: 'application/json' }
    case 1:
      return { payload: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]), contentType: 'application/json' }
    case 2:
      return { payload: JSON.stringify(body), contentType: rng.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) }
    case 3:
      return { payload: JSON.stringify(body).slice(0, -1), contentType: 'application/json' }
    case 4:
      return { payload: JSON.stringify(rng.pick([[], 'string', 42, null, true])), contentType: 'application/json' }
    default:
      return { payload: JSON.stringify(body), contentType: 'application/json; charset=utf-8' }
  }
}

async function snapshot(app: App, userId: number) {
  const row = await userRow(app, userId)
  return row && { ...row, lastLoginAt: null, updatedAt: null }
}

describe('fuzzing every route from the OpenAPI document', () => {
  it(`answers ${COUNT} generated bad requests without a 5xx, always with {"detail"}, and leaves other users alone`, async () => {
    const app = await context.buildApp()
    const spec = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json()
    const operations = operationsOf(spec)
    expect(operations.length).toBeGreaterThan(25)

    const victim = await createUser(app)
    const victimAdmin = await createUser(app, 'admin')
    const before = [await snapshot(app, victim.id), await snapshot(app, victimAdmin.id)]
    // The fuzzer's own account may legitimately delete itself (DELETE /users/me with a fresh token):
    // then it signs up again, since attacking with a dead token would test nothing.
    let attacker = await createUser(app)
    const signIn = async () => {
      const answer = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: attacker.username, password: attacker.password } })
      if (answer.statusCode === 200) return (answer.json() as { access_token: string }).access_token
      attacker = await createUser(app)
      return (await loginAs(app, attacker)).access_token
    }
    let token = await signIn()

    const rng = prng(SEED)
    const failures: string[] = []
    for (let index = 0; index < COUNT; index += 1) {
      const operation = rng.pick(operations)
      const url = badPath(rng, operation.path) + (rng.chance(0.2) ? `?skip=${encodeURIComponent(String(nastyValue(rng)))}&limit=${encodeURIComponent(String(nastyValue(rng)))}&search=%27` : '')
      const headers: Record<string, string> = {}
      const credentials = rng.int(4)
      if (credentials === 1) headers.authorization = `Bearer ${token}`
      if (credentials === 2) headers.authorization = rng.pick(['Bearer ', 'Bearer x.y.z', 'Basic YTpi', `Bearer ${token}x`, 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.'])
      if (credentials === 3) headers['x-api-key'] = rng.pick(['', 'cbs_', `cbs_000000000000_${'a'.repeat(43)}`, "' OR 1=1 --"])
      const body = operation.hasBody || rng.chance(0.2) ? badBody(rng, operation) : undefined
      if (body) headers['content-type'] = body.contentType
      const response = await app.inject({ method: operation.method as 'GET', url, headers, ...(body ? { payload: body.payload } : {}) })

      const label = `${operation.method} ${url.slice(0, 120)} -> ${response.statusCode}`
      if (response.statusCode >= 500) failures.push(`${label}: ${response.body.slice(0, 200)}`)
      if (response.statusCode >= 400) {
        let parsed: unknown
        try {
          parsed = response.json()
        } catch {
          parsed = undefined
        }
        if (!parsed || typeof parsed !== 'object' || !('detail' in parsed)) failures.push(`${label}: body is not {"detail"}: ${response.body.slice(0, 120)}`)
      }
      if (index % 100 === 99) token = await signIn()
    }

    expect(failures).toEqual([])
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/' })).statusCode).toBe(200)
    expect([await snapshot(app, victim.id), await snapshot(app, victimAdmin.id)]).toEqual(before)
  }, 180_000)
})
