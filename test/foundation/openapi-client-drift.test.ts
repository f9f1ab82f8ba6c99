import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')
const bin = (name: string) => join(root, 'node_modules', '.bin', name)

/**
 * The web console's API client is typed from web/src/api/schema.d.ts. If a route or schema changes
 * without `npm run api:types`, the console would compile against the old API: this test catches it.
 */
describe('web console API types', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'carbelsad-openapi-'))
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  it('match the OpenAPI document the app serves today', () => {
    const documentPath = join(scratch, 'openapi.json')
    const typesPath = join(scratch, 'schema.d.ts')
    execFileSync(bin('tsx'), ['src/scripts/export-openapi.ts', documentPath], { cwd: root, stdio: 'pipe' })
    execFileSync(bin('openapi-typescript'), [documentPath, '-o', typesPath], { cwd: root, stdio: 'pipe' })

    const hint = 'run `npm run api:types` and commit web/openapi.json and web/src/api/schema.d.ts'
    expect(readFileSync(documentPath, 'utf8'), hint).toBe(readFileSync(join(root, 'web/openapi.json'), 'utf8'))
    expect(readFileSync(typesPath, 'utf8'), hint).toBe(readFileSync(join(root, 'web/src/api/schema.d.ts'), 'utf8'))
  }, 60_000)
})
