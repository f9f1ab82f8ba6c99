import { describe, expect, it } from 'vitest'
import { sample } from '../helpers/metrics.js'
import { freePort } from '../helpers/network.js'
import { spawnTsx } from '../helpers/processes.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitFor, waitForValue } from '../helpers/wait.js'

const context = useTestContext()
const LOGINS = 12

describe('graceful shutdown', () => {
  it('finishes in-flight requests on SIGTERM and exits 0', async () => {
    const port = await freePort()
    const child = spawnTsx('src/server.ts', [], {
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        DEBUG: 'true',
        METRICS_TOKEN: '',
        METRICS_PORT: '',
        DATA_DIR: 'memory://',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_ENABLED: 'false',
        // Enough hashing that logins are still running when the signal comes, little enough that a
        // loaded machine finishes them well inside the server's 10 s shutdown grace.
        BCRYPT_ROUNDS: '10',
        REDIS_URL: '',
        // This file's own PostgreSQL database when there is one: it starts faster than PGlite.
        DATABASE_URL: context.databaseUrl ?? '',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
    const base = `http://127.0.0.1:${port}`
    // Start-up alone can take tens of seconds on a loaded two-core machine; a server that died says why.
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode} before answering: ${stderr}`)
        return (await fetch(`${base}/api/v1/health/`)).ok
      },
      'server start',
      { timeoutMs: 90_000, intervalMs: 100 },
    )

    // Logins hash a password (bcrypt): slow enough to be genuinely in flight at SIGTERM.
    const inFlight = Array.from({ length: LOGINS }, (_, index) =>
      fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username_or_email: `nobody-${index}`, password: 'not-the-password' }),
      }).then((response) => response.status),
    )
    // The signal goes out once the server has taken in every login (answered or still in flight),
    // as its own metrics tell: a sleep would race the requests on a busy machine.
    const stillInFlight = await waitForValue(
      async () => {
        const metrics = await (await fetch(`${base}/metrics`)).text()
        // The scrape counts itself as in flight.
        const handling = sample(metrics, 'http_requests_in_flight') - 1
        const answered = sample(metrics, 'http_request_duration_seconds_count', { route: '/api/v1/auth/login' })
        return handling + answered >= LOGINS ? handling : undefined
      },
      'all logins reaching the server',
      { timeoutMs: 20_000 },
    )
    child.kill('SIGTERM')
    const statuses = await Promise.all(inFlight)
    expect(statuses).toEqual(Array(LOGINS).fill(401))
    expect(await exited, stderr).toBe(0)
    expect(stillInFlight, 'logins still being handled when SIGTERM was sent').toBeGreaterThan(0)
  }, 150_000)
})
