import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, normalizeDatabaseUrl } from '../../src/config/config.js'
import { sslFromUrl } from '../../src/db/database.js'
import { withSecret } from '../../src/scripts/setup-secret.js'

const STRONG = 'a-strong-secret-key-that-is-long-enough-1234567890'

describe('configuration', () => {
  it('boots with no configuration at all on the embedded defaults', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ host: '0.0.0.0', port: 8000, debug: true, databaseUrl: undefined, redisUrl: undefined, algorithm: 'HS256' })
    expect(config.secretKeyGenerated).toBe(true)
    expect(config.secretKey.length).toBeGreaterThanOrEqual(32)
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.smtp)).toBe(true)
  })

  it('refuses to boot with DEBUG=False and a missing, short or example SECRET_KEY', () => {
    expect(() => loadConfig({ DEBUG: 'False' })).toThrow(/SECRET_KEY is required/)
    expect(() => loadConfig({ DEBUG: 'False', SECRET_KEY: 'short' })).toThrow(/at least 32/)
    expect(() => loadConfig({ DEBUG: 'False', SECRET_KEY: 'replace-with-output-of-npm-run-setup-secret' })).toThrow(/example value/)
    expect(loadConfig({ DEBUG: 'False', SECRET_KEY: STRONG }).secretKeyGenerated).toBe(false)
  })

  it('refuses the SECRET_KEY of .env.example in DEBUG too, so `cp .env.example .env && npm start` cannot run on a published key', () => {
    const example = /^SECRET_KEY=(.*)$/m.exec(readFileSync(resolve(import.meta.dirname, '../../.env.example'), 'utf8'))?.[1]
    expect(example).toBeDefined()
    for (const debug of ['True', 'False']) {
      expect(() => loadConfig({ DEBUG: debug, SECRET_KEY: example }), debug).toThrow(ConfigError)
      expect(() => loadConfig({ DEBUG: debug, SECRET_KEY: example }), debug).toThrow(/^SECRET_KEY is an example value.*npm run setup:secret/)
    }
  })

  it('refuses every example SECRET_KEY quoted in the README and keys under 32 characters in DEBUG, naming the fix', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8')
    const quoted = /must not be a known example value \(([^)]*)\)/.exec(readme)?.[1]
    const examples = [...(quoted ?? '').matchAll(/`([^`]+)`/g)].map((match) => match[1]!)
    expect(examples.length).toBeGreaterThanOrEqual(4)
    for (const example of [...examples, 'Change-Me', '  secret  ', '09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7']) {
      expect(() => loadConfig({ DEBUG: 'True', SECRET_KEY: example }), example).toThrow(/^SECRET_KEY is an example value.*npm run setup:secret/)
    }
    expect(() => loadConfig({ DEBUG: 'True', SECRET_KEY: 'x'.repeat(31) })).toThrow(/^SECRET_KEY must be at least 32 characters.*npm run setup:secret/)
    expect(loadConfig({ DEBUG: 'True', SECRET_KEY: STRONG })).toMatchObject({ secretKey: STRONG, secretKeyGenerated: false })
  })

  it('still generates a per-process key in DEBUG when SECRET_KEY is missing or empty', () => {
    for (const source of [{ DEBUG: 'True' }, { DEBUG: 'True', SECRET_KEY: '' }, { DEBUG: 'True', SECRET_KEY: '   ' }]) {
      const config = loadConfig(source)
      expect(config.secretKeyGenerated).toBe(true)
      expect(config.secretKey.length).toBeGreaterThanOrEqual(32)
    }
    expect(loadConfig({}).secretKey).not.toBe(loadConfig({}).secretKey)
  })

  it('names the variable when a value is wrong', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /^PORT must be a whole number/],
      [{ PORT: '70000' }, /^PORT must be between/],
      [{ DEBUG: 'maybe' }, /^DEBUG must be true or false/],
      [{ ALGORITHM: 'none' }, /^ALGORITHM must be one of/],
      [{ DATABASE_URL: 'mysql://x@y/z' }, /^DATABASE_URL/],
      [{ REDIS_URL: 'http://localhost' }, /^REDIS_URL must use/],
      [{ ALLOWED_ORIGINS: '["a", 1]' }, /^ALLOWED_ORIGINS must be a JSON list of strings/],
      [{ EMAILS_FROM_EMAIL: 'not-an-email' }, /^EMAILS_FROM_EMAIL/],
      [{ WORKERS: '4' }, /WORKERS > 1 needs DATABASE_URL/],
    ]
    for (const [env, message] of cases) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError)
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(message)
    }
  })

  it('reads ALLOWED_ORIGINS as a JSON list or a comma list', () => {
    expect(loadConfig({ ALLOWED_ORIGINS: '["http://localhost:3000","http://localhost:8000"]' }).allowedOrigins).toEqual([
      'http://localhost:3000',
      'http://localhost:8000',
    ])
    expect(loadConfig({ ALLOWED_ORIGINS: 'https://a.example, https://b.example' }).allowedOrigins).toEqual(['https://a.example', 'https://b.example'])
  })

  it('accepts the SQLAlchemy-style, postgres and postgresql URL forms', () => {
    expect(normalizeDatabaseUrl('postgresql+asyncpg://user:pass@host:5432/db')).toBe('postgres://user:pass@host:5432/db')
    expect(normalizeDatabaseUrl('postgresql://user:pass@host:5432/db')).toBe('postgres://user:pass@host:5432/db')
    expect(normalizeDatabaseUrl('postgres://user:pass@host/db')).toBe('postgres://user:pass@host/db')
    expect(loadConfig({ DATABASE_URL: 'postgresql+asyncpg://u:p@h:5432/d' }).databaseUrl).toBe('postgres://u:p@h:5432/d')
  })

  it('turns on SSL when the URL asks for it, as cloud providers write it', () => {
    expect(sslFromUrl('postgres://u:p@h/d?sslmode=require')).toEqual({ url: 'postgres://u:p@h/d', ssl: 'require' })
    expect(sslFromUrl('postgres://u:p@h/d?ssl=true')).toEqual({ url: 'postgres://u:p@h/d', ssl: 'require' })
    expect(sslFromUrl('postgres://u:p@h/d?sslmode=verify-full&application_name=x').ssl).toBe('verify-full')
    expect(sslFromUrl('postgres://u:p@h/d').ssl).toBe(false)
    expect(sslFromUrl('postgres://u:p@h/d?sslmode=disable').ssl).toBe(false)
  })

  it('parses TRUST_PROXY as off, on, a hop count or a list of addresses', () => {
    expect(loadConfig({}).trustProxy).toBe(false)
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true)
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2)
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.0.0.0/8' }).trustProxy).toEqual(['10.0.0.1', '10.0.0.0/8'])
  })

  it('setup:secret replaces SECRET_KEY in .env and leaves the other lines alone', () => {
    const before = '# app\nPROJECT_NAME=Demo\nSECRET_KEY=old\nDEBUG=False\n'
    expect(withSecret(before, 'new')).toBe('# app\nPROJECT_NAME=Demo\nSECRET_KEY=new\nDEBUG=False\n')
    expect(withSecret('PORT=1\n', 'new')).toBe('PORT=1\nSECRET_KEY=new\n')
    expect(withSecret('', 'new')).toBe('SECRET_KEY=new\n')
  })
})
