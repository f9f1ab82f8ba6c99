import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { createDatabase, type Database } from '../../src/db/database.js'
import { authHeader, loginAs } from '../helpers/factories.js'
import { freePort } from '../helpers/network.js'
import { runTsx } from '../helpers/processes.js'
import { freshDatabase, TEST_DATABASE_URL, TEST_SECRET, useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'
import { startSmtpServer, type TestSmtpServer } from '../mail/helpers.js'

/**
 * The npm scripts run as real processes (through tsx, as `npm run` does) against a database of the
 * test's own, and their effect is read back from that database.
 */
const context = useTestContext()
// Each test starts several Node processes (tsx, and PGlite creating its cluster): seconds each on an
// idle machine, minutes on a loaded one.
const SCRIPT_TIMEOUT = 300_000
const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

interface ScriptTarget {
  cwd: string
  env: Record<string, string>
  /** Opens the target the way the app would (an on-disk PGlite may have one opener at a time). */
  open(): Promise<Database>
}

/** An empty PostgreSQL database, or an empty on-disk PGlite directory in embedded mode. */
async function scriptTarget(): Promise<ScriptTarget> {
  // A folder of its own as the working directory, so no .env of the developer's is read.
  const cwd = mkdtempSync(join(tmpdir(), 'carbelsad-scripts-'))
  cleanups.push(async () => rmSync(cwd, { recursive: true, force: true }))
  const base = { DEBUG: 'true', SECRET_KEY: TEST_SECRET, BCRYPT_ROUNDS: '4', LOG_LEVEL: 'silent', REDIS_URL: '' }
  if (TEST_DATABASE_URL) {
    const fresh = await freshDatabase()
    cleanups.push(fresh.destroy)
    return { cwd, env: { ...base, DATABASE_URL: fresh.url! }, open: () => createDatabase({ url: fresh.url, poolSize: 2 }) }
  }
  const dataDir = join(cwd, 'pglite')
  return { cwd, env: { ...base, DATABASE_URL: '', DATA_DIR: dataDir }, open: () => createDatabase({ dataDir }) }
}

const run = (target: ScriptTarget, script: string, args: string[] = [], env: Record<string, string> = {}) =>
  runTsx(script, args, { cwd: target.cwd, env: { ...target.env, ...env } })

async function withDatabase<T>(target: ScriptTarget, use: (database: Database) => Promise<T>): Promise<T> {
  const database = await target.open()
  try {
    return await use(database)
  } finally {
    await database.close()
  }
}

async function rows<T>(database: Database, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = await database.db.execute(query)
  return (Array.isArray(result) ? result : (result as unknown as { rows: T[] }).rows) as T[]
}

const appliedMigrations = (database: Database) =>
  rows<{ hash: string }>(database, sql`select hash from drizzle.__drizzle_migrations`).then((found) => found.length, () => 0)
const publicTables = (database: Database) =>
  rows<{ table_name: string }>(database, sql`select table_name from information_schema.tables where table_schema = 'public'`).then((found) =>
    found.map((row) => row.table_name).sort(),
  )

describe('npm run db:migrate and db:rollback (src/scripts/migrate.ts)', () => {
  it('applies every migration to an empty database, and --rollback reverts only the newest', async () => {
    const target = await scriptTarget()
    const migrationCount = readdirSync(join(import.meta.dirname, '../../drizzle')).filter((file) => file.endsWith('.sql')).length

    const applied = await run(target, 'src/scripts/migrate.ts')
    expect(applied.code, applied.stderr).toBe(0)
    expect(applied.stdout).toMatch(/migrations applied on (pglite|postgresql)/)
    const afterApply = await withDatabase(target, async (database) => ({ migrations: await appliedMigrations(database), tables: await publicTables(database) }))
    expect(afterApply.migrations).toBe(migrationCount)
    expect(afterApply.tables).toEqual(expect.arrayContaining(['users', 'refresh_tokens', 'api_keys', 'audit_logs']))

    const again = await run(target, 'src/scripts/migrate.ts')
    expect(again.code, again.stderr).toBe(0)
    expect(await withDatabase(target, appliedMigrations)).toBe(migrationCount)

    const rolledBack = await run(target, 'src/scripts/migrate.ts', ['--rollback'])
    expect(rolledBack.code, rolledBack.stderr).toBe(0)
    expect(rolledBack.stdout).toMatch(/^rolled back \S+ on (pglite|postgresql)/m)
    expect(await withDatabase(target, appliedMigrations)).toBe(migrationCount - 1)
  }, SCRIPT_TIMEOUT)

  it('fails with one configuration line and exit code 1 on a bad setting', async () => {
    const target = await scriptTarget()
    const result = await run(target, 'src/scripts/migrate.ts', [], { DATABASE_POOL_SIZE: 'many' })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/configuration error: DATABASE_POOL_SIZE/)
  }, SCRIPT_TIMEOUT)
})

describe('npm run setup:superadmin (src/scripts/setup-superadmin.ts)', () => {
  const password = 'Tangerine-orbit-falcon-83'

  it('creates a verified superadmin who can sign in and administer users', async () => {
    const target = await scriptTarget()
    const created = await run(target, 'src/scripts/setup-superadmin.ts', ['--username', 'root_admin', '--email', 'root@example.com', '--password', password])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toMatch(/superadmin "root_admin" created \(id \d+\)/)

    await withDatabase(target, async (database) => {
      const app = await context.buildApp({ DATABASE_URL: target.env.DATABASE_URL, AUTO_MIGRATE: 'false' }, { database: TEST_DATABASE_URL ? undefined : database })
      try {
        const tokens = await loginAs(app, { username: 'root_admin', password })
        const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })
        expect(me.json()).toMatchObject({ username: 'root_admin', email: 'root@example.com', role: 'superadmin', email_verified: true, is_active: true })
        expect((await app.inject({ method: 'GET', url: '/api/v1/users/', headers: authHeader(tokens.access_token) })).statusCode).toBe(200)
      } finally {
        await app.close()
      }
    })
  }, SCRIPT_TIMEOUT)

  it('takes its input from SUPERADMIN_* variables, and changes nothing when the name or email is taken', async () => {
    const target = await scriptTarget()
    const env = { SUPERADMIN_USERNAME: 'env_admin', SUPERADMIN_EMAIL: 'env-admin@example.com', SUPERADMIN_PASSWORD: password }
    const created = await run(target, 'src/scripts/setup-superadmin.ts', [], env)
    expect(created.code, created.stderr).toBe(0)

    const sameName = await run(target, 'src/scripts/setup-superadmin.ts', [], { ...env, SUPERADMIN_EMAIL: 'other@example.com' })
    expect(sameName.code).toBe(1)
    expect(sameName.stderr).toMatch(/a user with that username already exists; nothing was changed/)
    const sameEmail = await run(target, 'src/scripts/setup-superadmin.ts', [], { ...env, SUPERADMIN_USERNAME: 'other_admin' })
    expect(sameEmail.code).toBe(1)
    expect(sameEmail.stderr).toMatch(/a user with that email already exists/)

    const users = await withDatabase(target, (database) => rows<{ username: string; role: string }>(database, sql`select username, role from users`))
    expect(users).toEqual([{ username: 'env_admin', role: 'superadmin' }])
  }, SCRIPT_TIMEOUT)

  it('refuses a weak password or missing input without touching the database', async () => {
    const target = await scriptTarget()
    const weak = await run(target, 'src/scripts/setup-superadmin.ts', ['--username', 'weak_admin', '--email', 'weak@example.com', '--password', 'short'])
    expect(weak.code).toBe(1)
    expect(weak.stderr).toMatch(/^error: .*password/im)
    const missing = await run(target, 'src/scripts/setup-superadmin.ts', ['--username', 'lonely_admin'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/give --username, --email and --password/)
    // Input is checked before the database is opened, so nothing was even migrated.
    expect(await withDatabase(target, appliedMigrations)).toBe(0)
  }, SCRIPT_TIMEOUT)
})

/**
 * `npm start` runs the server bundled by scripts/bundle-server.mjs, while every other test runs the
 * sources. Bundling can break what a package finds at run time (its own files, a lazily loaded
 * module, a native or WebAssembly part), so each such part is exercised once through the bundle:
 * validation and serialisation, bcrypt, the database, the common-password list, WebAuthn, mail,
 * WebSockets, metrics, the API docs and the console.
 */
async function expectBundleServes(base: string, smtp: TestSmtpServer) {
  const json = (method: string, path: string, body?: unknown, token?: string) =>
    fetch(`${base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  const identity = { username: 'bundled', email: 'bundled@example.com', password: 'Bundle-pass-2468' }

  const common = await json('POST', '/api/v1/auth/register', { ...identity, password: 'computer' })
  expect(common.status).toBe(422)
  expect(JSON.stringify(await common.json())).toMatch(/too common/)
  const coerced = await json('POST', '/api/v1/auth/register', { ...identity, username: 12345 })
  expect(coerced.status).toBe(422)
  expect(await json('POST', '/api/v1/auth/register', identity).then((response) => response.status)).toBe(201)
  const login = await json('POST', '/api/v1/auth/login', { username_or_email: identity.username, password: identity.password })
  expect(login.status).toBe(200)
  const token = ((await login.json()) as { access_token: string }).access_token
  const me = await json('GET', '/api/v1/users/me', undefined, token)
  expect(me.status).toBe(200)
  expect(await me.json()).toMatchObject({ username: identity.username, email: identity.email })

  const passkeyOptions = await json('POST', '/api/v1/auth/passkeys/register/options', {}, token)
  expect(passkeyOptions.status, await passkeyOptions.clone().text()).toBe(200)
  expect(((await passkeyOptions.json()) as { challenge?: string }).challenge).toMatch(/^[\w-]{20,}$/)

  // Registration mails the address check first; the reset link comes after it.
  expect((await json('POST', '/api/v1/auth/forgot-password', { email: identity.email })).status).toBe(202)
  await waitFor(() => smtp.messages.some((mail) => /reset/i.test(mail.subject)), 'the reset mail arriving', { timeoutMs: 60_000 })
  expect(smtp.messages.every((mail) => mail.envelopeTo.join() === identity.email)).toBe(true)

  const socket = new WebSocket(`${base.replace('http', 'ws')}/ws/bundled-phone?token=${token}`)
  const pong = new Promise<unknown>((done, fail) => {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type?: string }
      if (message.type === 'pong') done(message)
    })
    socket.once('error', fail)
  })
  await new Promise((done, fail) => socket.once('open', done).once('error', fail))
  socket.send(JSON.stringify({ type: 'ping' }))
  expect(await pong).toMatchObject({ type: 'pong' })
  socket.close()

  const metrics = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer bundle-metrics-token' } })
  expect(metrics.status).toBe(200)
  expect(await metrics.text()).toMatch(/^http_request_duration_seconds_count\{/m)
  const openapi = await fetch(`${base}/api/openapi.json`)
  expect(((await openapi.json()) as { paths: object }).paths).toHaveProperty(['/api/v1/users/me'])
  for (const page of ['/api/docs/', '/api/redoc', '/']) {
    const response = await fetch(`${base}${page}`)
    expect(response.status, page).toBe(200)
    expect(await response.text(), page).toMatch(/<html/i)
  }
  const swaggerScript = await fetch(`${base}/api/docs/static/swagger-ui-bundle.js`)
  expect(swaggerScript.status).toBe(200)
}

describe('npm start (scripts/start.mjs) builds only what is stale (scripts/build-if-stale.mjs)', () => {
  const root = resolve(import.meta.dirname, '../..')
  // A full build is tsc plus Vite: a minute or two on a loaded two-core machine.
  const BUILD_TIMEOUT = 600_000

  /** Runs a command to its end in `cwd`; its exit code and everything it printed. */
  function runIn(cwd: string, command: string, args: string[], env: Record<string, string> = {}) {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    return new Promise<{ code: number | null; output: string }>((done, fail) => {
      child.once('error', fail)
      child.once('close', (code) => done({ code, output }))
    })
  }
  const buildIfStale = (cwd: string, args: string[] = []) => runIn(cwd, process.execPath, ['scripts/build-if-stale.mjs', ...args])

  /**
   * A fresh clone's worth of the project in a folder of its own (no dist/), sharing node_modules, built
   * once by the script for every test here: the first run's log is the fresh-clone case. The sources
   * are the committed ones, as a clone has them (work in progress elsewhere in the tree may not
   * compile yet); the build scripts and package.json under test are the working tree's.
   */
  let copy: Promise<{ dir: string; firstBuild: { code: number | null; output: string } }> | undefined
  function builtCopy() {
    copy ??= (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'carbelsad-start-'))
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
      const sources = ['src', 'web', 'drizzle', 'templates', 'tsconfig.json', 'package-lock.json']
      const archived = spawnSync('sh', ['-c', `git archive HEAD ${sources.join(' ')} | tar -x -C "${dir}"`], { cwd: root, encoding: 'utf8' })
      const copied = archived.status === 0 ? ['scripts', 'package.json'] : [...sources, 'scripts', 'package.json']
      for (const path of copied) cpSync(join(root, path), join(dir, path), { recursive: true, preserveTimestamps: true })
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
      return { dir, firstBuild: await buildIfStale(dir) }
    })()
    return copy
  }

  /** Marks a file as edited, and gives back a function that restores its previous mtime. */
  function touch(path: string): () => void {
    const before = statSync(path)
    utimesSync(path, new Date(), new Date(Date.now() + 5_000))
    return () => utimesSync(path, before.atime, before.mtime)
  }

  it('builds both parts where dist/ is missing, and nothing on the next run', async () => {
    const { dir, firstBuild } = await builtCopy()
    expect(firstBuild.code, firstBuild.output).toBe(0)
    expect(firstBuild.output).toMatch(/build: server is out of date \(dist\/bundle\/server\.js is missing\); running npm run build:server/)
    expect(firstBuild.output).toMatch(/build: server built in [\d.]+ s/)
    expect(firstBuild.output).toMatch(/build: console is out of date \(dist\/web\/index\.html is missing\); running npm run build:web/)
    expect(firstBuild.output).toMatch(/build: console built in [\d.]+ s/)
    // tsc's output, whole (dist/scripts/*.js run in the image), and the bundle npm start runs.
    expect(existsSync(join(dir, 'dist/server.js'))).toBe(true)
    expect(existsSync(join(dir, 'dist/scripts/migrate.js'))).toBe(true)
    expect(existsSync(join(dir, 'dist/bundle/server.js'))).toBe(true)
    expect(existsSync(join(dir, 'dist/bundle/pglite-worker.js'))).toBe(true)
    expect(existsSync(join(dir, 'dist/web/index.html'))).toBe(true)

    const again = await buildIfStale(dir)
    expect(again.code, again.output).toBe(0)
    expect(again.output.trim()).toBe('build: up to date (server, console)')
  }, BUILD_TIMEOUT)

  it('starts the bundled server through npm without building, it serves every kind of route, and SIGTERM through npm stops it gracefully', async () => {
    const { dir } = await builtCopy()
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const smtp = await startSmtpServer()
    cleanups.push(() => smtp.close())
    const npm = spawn('npm', ['start'], {
      cwd: dir,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        DEBUG: 'false',
        SECRET_KEY: TEST_SECRET,
        LOG_LEVEL: 'info',
        BCRYPT_ROUNDS: '4',
        METRICS_PORT: '',
        METRICS_TOKEN: 'bundle-metrics-token',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_TLS: 'false',
        EMAILS_FROM_EMAIL: 'noreply@bundle.test',
        REDIS_URL: '',
        DATABASE_URL: TEST_DATABASE_URL ? context.databaseUrl! : '',
        DATA_DIR: join(dir, 'data'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const exited = new Promise<number | null>((done) => npm.once('exit', (code) => done(code)))
    // A failed check below must not leave the server running after the test (npm forwards the signal).
    cleanups.push(async () => {
      if (npm.exitCode === null && npm.signalCode === null) {
        npm.kill('SIGTERM')
        await exited
      }
    })
    await waitFor(
      async () => {
        if (npm.exitCode !== null) throw new Error(`npm start exited with ${npm.exitCode}: ${output}`)
        return (await fetch(`${base}/api/v1/health/`)).ok
      },
      'npm start answering',
      { timeoutMs: 120_000, intervalMs: 50 },
    )
    expect(output).toMatch(/build: up to date \(server, console\)/)
    expect(output).not.toMatch(/running npm run/)
    await expectBundleServes(base, smtp)

    // npm forwards the signal to its child; `exec` in the script makes that child the server itself,
    // so it shuts down gracefully and npm reports its clean exit.
    npm.kill('SIGTERM')
    expect(await exited, output).toBe(0)
    expect(output).toMatch(/"signal":"SIGTERM","msg":"shutting down/)
    await expect(fetch(`${base}/api/v1/health/`)).rejects.toThrow()
  }, BUILD_TIMEOUT)

  it('rebuilds only the part whose input changed: added, touched or removed', async () => {
    const { dir } = await builtCopy()
    const upToDate = await buildIfStale(dir, ['--check'])
    expect(upToDate.code, upToDate.output).toBe(0)

    const restoreSource = touch(join(dir, 'src/app.ts'))
    const serverStale = await buildIfStale(dir, ['--check'])
    expect(serverStale.code).toBe(1)
    expect(serverStale.output.trim()).toBe('build: server is out of date (src/app.ts changed)')
    restoreSource()

    writeFileSync(join(dir, 'src/added.ts'), 'export const added = 1\n')
    expect((await buildIfStale(dir, ['--check'])).output.trim()).toBe('build: server is out of date (src/added.ts is new)')
    rmSync(join(dir, 'src/added.ts'))
    expect((await buildIfStale(dir, ['--check'])).code).toBe(0)

    const favicon = join(dir, 'web/public/favicon.svg')
    const [faviconContent, faviconStat] = [readFileSync(favicon), statSync(favicon)]
    rmSync(favicon)
    expect((await buildIfStale(dir, ['--check'])).output.trim()).toBe('build: console is out of date (web/public/favicon.svg was removed)')
    writeFileSync(favicon, faviconContent)
    utimesSync(favicon, faviconStat.atime, faviconStat.mtime)
    expect((await buildIfStale(dir, ['--check'])).code).toBe(0)

    // `npm run build` writes no stamp: its output counts while it is newer than every input, and is adopted.
    const stamp = join(dir, 'dist/.build-stamp')
    const stamped = readFileSync(stamp, 'utf8')
    rmSync(stamp)
    const restoreAgain = touch(join(dir, 'src/app.ts'))
    expect((await buildIfStale(dir, ['--check'])).output.trim()).toBe('build: server is out of date (no build stamp, and src/app.ts is newer than dist/bundle/server.js)')
    restoreAgain()
    expect((await buildIfStale(dir)).output.trim()).toBe('build: up to date (server, console)')
    expect(JSON.parse(readFileSync(stamp, 'utf8')).files).toEqual(JSON.parse(stamped).files)
    // A failed build leaves a stamp that says so, since its output may still be newer than the inputs.
    writeFileSync(stamp, '{"failed":true}\n')
    expect((await buildIfStale(dir, ['--check'])).output.trim()).toBe('build: server is out of date (its last build failed)')
    writeFileSync(stamp, stamped)

    // A real rebuild of the console alone; the server's output is left as it was.
    const serverBuiltAt = statSync(join(dir, 'dist/bundle/server.js')).mtimeMs
    touch(join(dir, 'web/index.html'))
    const rebuilt = await buildIfStale(dir)
    expect(rebuilt.code, rebuilt.output).toBe(0)
    expect(rebuilt.output).toMatch(/build: console is out of date \(web\/index\.html changed\); running npm run build:web/)
    expect(rebuilt.output).toMatch(/build: console built in/)
    expect(rebuilt.output).not.toMatch(/server/)
    expect(statSync(join(dir, 'dist/bundle/server.js')).mtimeMs).toBe(serverBuiltAt)
    expect((await buildIfStale(dir)).output.trim()).toBe('build: up to date (server, console)')
  }, BUILD_TIMEOUT)
})
