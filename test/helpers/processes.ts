import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`)
}

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
    5000,
    'redis start',
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
