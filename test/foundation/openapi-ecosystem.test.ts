import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useTestContext } from '../helpers/test-context.js'

const run = promisify(execFile)
const bin = (name: string) => resolve('node_modules/.bin', name)

interface Operation {
  operationId?: string
  security?: unknown[]
  requestBody?: { required?: boolean }
  responses: Record<string, { headers?: Record<string, unknown> }>
}
interface Document {
  servers?: { url: string }[]
  tags?: { name: string; description?: string }[]
  info: { license?: { name: string } }
  paths: Record<string, Record<string, Operation>>
}

/**
 * The document must serve tools other than the console's own client: a linter with the recommended
 * rules, and a second, unrelated client generator whose output compiles against typed calls.
 */
const context = useTestContext()
let dir = ''
let file = ''
let document: Document

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'carbelsad-openapi-'))
  file = join(dir, 'openapi.json')
  const app = await context.buildApp({ PUBLIC_URL: 'https://api.example.org' })
  const response = await app.inject({ method: 'GET', url: '/api/openapi.json' })
  writeFileSync(file, response.body)
  document = response.json() as Document
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

const operations = () => Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method, operation })))

describe('the OpenAPI document', () => {
  it('gives every operation a unique camelCase operationId, with the names SDKs expect', () => {
    const ids = operations().map(({ operation }) => operation.operationId)
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]*$/.test(id))).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    const byRoute = (path: string, method: string) => document.paths[path]?.[method]?.operationId
    expect(byRoute('/api/v1/auth/login', 'post')).toBe('login')
    expect(byRoute('/api/v1/users', 'get')).toBe('listUsers')
    expect(byRoute('/api/v1/users/get/{user_id}', 'get')).toBe('getUser')
    expect(byRoute('/api/v1/users/update/{user_id}/role', 'put')).toBe('updateUserRole')
  })

  it('names servers from PUBLIC_URL, describes every tag and carries a license', () => {
    expect(document.servers).toEqual([expect.objectContaining({ url: 'https://api.example.org' })])
    const used = new Set(operations().flatMap(({ operation }) => (operation as { tags?: string[] }).tags ?? []))
    for (const tag of used) expect(document.tags?.find((entry) => entry.name === tag)?.description, tag).toBeTruthy()
    expect(document.info.license?.name).toBeTruthy()
  })

  it('overrides security with [] on public operations and documents 429 with Retry-After and X-RateLimit-* on limited ones', () => {
    expect(document.paths['/api/v1/auth/login']!.post!.security).toEqual([])
    expect(document.paths['/api/v1/auth/register']!.post!.security).toEqual([])
    const limited = document.paths['/api/v1/auth/login']!.post!.responses['429']
    expect(Object.keys(limited?.headers ?? {})).toEqual(['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'])
    for (const { path, method, operation } of operations()) {
      const codes = Object.keys(operation.responses)
      expect(codes.some((code) => code.startsWith('4')) || path.startsWith('/api/v1/health'), `${method} ${path} has no 4xx answer`).toBe(true)
    }
  })

  it('marks the enable-2fa body optional, so the spec’s bodiless curl passes a validating proxy', () => {
    expect(document.paths['/api/v1/auth/enable-2fa']!.post!.requestBody?.required).toBe(false)
    expect(document.paths['/api/v1/auth/login']!.post!.requestBody?.required).toBe(true)
  })

  it('passes @redocly/cli lint with the recommended rules and no errors', async () => {
    const { stdout } = await run(bin('redocly'), ['lint', file, '--format=json'], { timeout: 60_000 }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }))
    const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { totals: { errors: number }; problems: { ruleId: string; severity: string; message: string }[] }
    expect(report.problems.filter((problem) => problem.severity === 'error')).toEqual([])
    expect(report.totals.errors).toBe(0)
  }, 90_000)

  it('generates a client with swagger-typescript-api whose typed calls compile', async () => {
    await run(bin('swagger-typescript-api'), ['generate', '--path', file, '--output', dir, '--name', 'client.ts', '--silent'], { timeout: 60_000 })
    writeFileSync(
      join(dir, 'usage.ts'),
      `import { Api } from './client'

const client = new Api({ baseUrl: 'http://localhost:8000' })

export async function example(): Promise<string> {
  const login = await client.api.login({ username_or_email: 'johndoe', password: 'securepass123' })
  const body = login.data
  const token = 'access_token' in body ? body.access_token : body.challenge_token
  const auth = { headers: { authorization: \`Bearer \${token}\` } }
  const me = await client.api.getCurrentUser(auth)
  const page = await client.api.listUsers({ limit: 20, role: 'admin' }, auth)
  const first: number = page.data.items[0]!.id
  await client.api.updateUserRole(first, { role: 'admin' }, auth)
  const sessions = await client.api.listSessions(auth)
  const current: boolean = sessions.data[0]!.current
  // @ts-expect-error a role outside the enum is refused by the types
  await client.api.updateUserRole(first, { role: 'emperor' }, auth)
  await client.api.enableTwoFactor(null, auth)
  return \`\${me.data.username} \${String(current)}\`
}
`,
    )
    const compile = await run(
      bin('tsc'),
      ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--lib', 'es2022,dom', join(dir, 'usage.ts')],
      { timeout: 120_000 },
    ).catch((error: { stdout?: string; code?: number }) => ({ stdout: error.stdout ?? '', failed: true }))
    expect('failed' in compile ? compile.stdout : '').toBe('')
  }, 180_000)
})
