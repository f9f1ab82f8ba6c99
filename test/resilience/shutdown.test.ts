import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { freePort, waitFor } from '../helpers/processes.js'

const root = resolve(import.meta.dirname, '../..')

describe('graceful shutdown', () => {
  it('finishes in-flight requests on SIGTERM and exits 0', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: 'memory://', LOG_LEVEL: 'warn', RATE_LIMIT_ENABLED: 'false', BCRYPT_ROUNDS: '12', REDIS_URL: '', DATABASE_URL: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
    const base = `http://127.0.0.1:${port}`
    await waitFor(async () => (await fetch(`${base}/api/v1/health/`)).ok, 30_000, 'server start')

    // Logins hash a password (bcrypt, cost 12): slow enough to be genuinely in flight at SIGTERM.
    const inFlight = Array.from({ length: 20 }, (_, index) =>
      fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username_or_email: `nobody-${index}`, password: 'not-the-password' }),
      }).then((response) => response.status),
    )
    await new Promise((done) => setTimeout(done, 150))
    child.kill('SIGTERM')
    const statuses = await Promise.all(inFlight)
    expect(statuses).toEqual(Array(20).fill(401))
    expect(await exited).toBe(0)
  }, 60_000)
})
