import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { waitFor } from './wait.js'

export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

/** A throwaway redis-server of the test's own, so the test can stop and restart it. */
export async function startRedis(port: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const { Redis } = await import('ioredis')
  await waitFor(
    async () => {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await probe.connect()
        return (await probe.ping()) === 'PONG'
      } finally {
        probe.disconnect()
      }
    },
    'redis start',
    { timeoutMs: 10_000, intervalMs: 50 },
  )
  return {
    url: `redis://127.0.0.1:${port}/0`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGKILL')
      }),
  }
}

/** PostgreSQL binaries for tests that stop and restart a server of their own (CI sets TEST_PG_BIN). */
export const PG_BIN = process.env.TEST_PG_BIN || undefined

/**
 * A throwaway PostgreSQL cluster owned by the `postgres` user (the server refuses to run as root),
 * so a test can stop and restart it under a running app.
 */
export async function startPostgres(bin: string, port: number) {
  const { mkdtempSync, chmodSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'pg-restart-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  const asPostgres = (command: string) => {
    const result = spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', command], { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`${command}: ${result.stderr}`)
  }
  asPostgres(`${bin}/initdb -D ${data} -A trust -U postgres >/dev/null`)
  const start = () => asPostgres(`${bin}/pg_ctl -D ${data} -l ${dir}/log -w -o "-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off" start >/dev/null`)
  start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => asPostgres(`${bin}/pg_ctl -D ${data} -m fast -w stop >/dev/null`),
    start,
    destroy: () => {
      try {
        asPostgres(`${bin}/pg_ctl -D ${data} -m immediate -w stop >/dev/null 2>&1 || true`)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}

const root = resolve(import.meta.dirname, '../..')
const tsxLoader = pathToFileURL(resolve(root, 'node_modules/tsx/dist/loader.mjs')).href

/**
 * Runs one of the project's TypeScript entry points (`src/server.ts`, `src/scripts/*.ts`) as a real
 * process through tsx. Under `npm run test:coverage`, SPAWNED_V8_COVERAGE names a folder, and the
 * child writes its V8 coverage there on exit, so code that runs only in child processes is counted.
 */
export function spawnTsx(
  script: string,
  args: readonly string[] = [],
  options: { env?: Record<string, string | undefined>; cwd?: string; stdio?: StdioOptions } = {},
): ChildProcess {
  const coverage = process.env.SPAWNED_V8_COVERAGE
  return spawn(process.execPath, ['--import', tsxLoader, resolve(root, script), ...args], {
    cwd: options.cwd ?? root,
    env: { ...process.env, ...(coverage ? { NODE_V8_COVERAGE: coverage } : {}), ...options.env },
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  })
}

/** Runs a script to its end; its exit code and everything it printed. */
export async function runTsx(
  script: string,
  args: readonly string[] = [],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTsx(script, args, options)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((done, fail) => {
    child.once('error', fail)
    child.once('close', (exitCode) => done(exitCode))
  })
  return { code, stdout, stderr }
}
