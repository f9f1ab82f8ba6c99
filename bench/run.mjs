// `npm run bench`: measures the built app against a bare node:http server on this machine, in one run.
// Everything targets loopback and stops by itself. Writes bench/results.json and the table in
// docs/BENCHMARKS.md. Real PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, embedded otherwise.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import autocannon from 'autocannon'
import WebSocket from 'ws'
import { BENCH_ADMIN, BENCH_PASSWORD, seed } from './seed.mjs'

const ROOT = resolve(import.meta.dirname, '..')
const DURATION = Number(process.env.BENCH_DURATION ?? 8)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WS_CLIENTS = Number(process.env.BENCH_WS_CLIENTS ?? 1000)
const WS_MESSAGES = 100
const SECRET = 'bench-secret-key-that-is-long-enough-for-production-use-0123456789'
const databaseUrl = process.env.DATABASE_URL || undefined
const redisUrl = process.env.REDIS_URL || undefined
const mode = databaseUrl ? `PostgreSQL${redisUrl ? ' + Redis' : ''}` : 'embedded (PGlite, in-process stores)'

const sleep = (ms) => new Promise((done) => setTimeout(done, ms))

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer()
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => done(port))
    })
  })
}

async function waitForOk(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not listening yet
    }
    await sleep(10)
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`)
}

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return Math.round(kb / 1024)
}

function startBare(port) {
  const code = `require('node:http').createServer((q, s) => { const b = JSON.stringify({ message: 'hello' }); s.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) }); s.end(b) }).listen(${port}, '127.0.0.1')`
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' })
}

function appEnv(port, dataDir) {
  return {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    DEBUG: 'false',
    SECRET_KEY: SECRET,
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    RATE_LIMIT_ENABLED: 'false',
    WS_MESSAGES_PER_SECOND: '1000',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATABASE_URL: '' }),
    ...(redisUrl ? { REDIS_URL: redisUrl } : { REDIS_URL: '' }),
  }
}

function startApp(port, dataDir) {
  return spawn(process.execPath, ['dist/server.js'], { cwd: ROOT, env: appEnv(port, dataDir), stdio: ['ignore', 'ignore', 'inherit'] })
}

async function stop(child) {
  if (child.exitCode !== null) return
  const exited = new Promise((done) => child.once('exit', done))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))])
}

function load(options) {
  return new Promise((done, fail) => {
    autocannon({ connections: CONNECTIONS, pipelining: 1, ...options }, (error, result) => (error ? fail(error) : done(result)))
  })
}

async function measure(name, options) {
  await load({ ...options, duration: WARMUP })
  const result = await load({ ...options, duration: DURATION })
  const failed = result.non2xx + result.errors + result.timeouts
  return { scenario: name, rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, failed }
}

async function login(base, username) {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username_or_email: username, password: BENCH_PASSWORD }),
  })
  if (!response.ok) throw new Error(`login as ${username} failed: ${response.status} ${await response.text()}`)
  return (await response.json()).access_token
}

async function wsFanOut(wsBase, token) {
  const clients = []
  for (let index = 0; index < WS_CLIENTS; index += 1) {
    const socket = new WebSocket(`${wsBase}/ws/chat/bench?client_id=c${index}&token=${token}`)
    clients.push(
      new Promise((done, fail) => {
        socket.once('error', fail)
        socket.on('message', function joined(data) {
          if (JSON.parse(data.toString()).type === 'room_joined') {
            socket.off('message', joined)
            done(socket)
          }
        })
      }),
    )
    if (index % 100 === 99) await sleep(20)
  }
  const sockets = await Promise.all(clients)
  const latencies = []
  let expected = 0
  await new Promise((done) => {
    for (const socket of sockets) {
      socket.on('message', (data) => {
        const frame = JSON.parse(data.toString())
        if (frame.type !== 'room_message') return
        latencies.push(performance.now() - Number(frame.content))
        expected -= 1
        if (expected === 0) done()
      })
    }
    expected = WS_MESSAGES * sockets.length
    const sender = sockets[0]
    let sent = 0
    const timer = setInterval(() => {
      sender.send(JSON.stringify({ content: String(performance.now()) }))
      sent += 1
      if (sent === WS_MESSAGES) clearInterval(timer)
    }, 20)
    setTimeout(done, 30_000).unref()
  })
  for (const socket of sockets) socket.terminate()
  latencies.sort((a, b) => a - b)
  const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 10) / 10
  return { delivered: latencies.length, expected: WS_MESSAGES * sockets.length, p50: at(0.5), p99: at(0.99) }
}

/** Spawn to first 200 on health, in embedded mode: a first boot (PGlite creates its cluster) and a restart. */
async function coldStart() {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-cold-'))
  const boot = async () => {
    const port = await freePort()
    const started = performance.now()
    const child = spawn(process.execPath, ['dist/server.js'], {
      cwd: ROOT,
      env: { ...appEnv(port, dataDir), DATABASE_URL: '', REDIS_URL: '' },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    await waitForOk(`http://127.0.0.1:${port}/api/v1/health/`, 30_000)
    const ms = Math.round(performance.now() - started)
    await stop(child)
    return ms
  }
  const firstBoot = await boot()
  const restart = await boot()
  rmSync(dataDir, { recursive: true, force: true })
  return { firstBoot, restart }
}

function table(rows) {
  const header = '| scenario | req/s | p50 ms | p99 ms | × bare | failed |\n|---|---:|---:|---:|---:|---:|'
  const bare = rows.find((row) => row.scenario === 'bare node:http hello')?.rps ?? 1
  const lines = rows.map(
    (row) => `| ${row.scenario} | ${row.rps ?? '-'} | ${row.p50 ?? '-'} | ${row.p99 ?? '-'} | ${row.rps ? (row.rps / bare).toFixed(2) : '-'} | ${row.failed ?? '-'} |`,
  )
  return [header, ...lines].join('\n')
}

async function main() {
  const started = Date.now()
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-data-'))
  const barePort = await freePort()
  const appPort = await freePort()
  const base = `http://127.0.0.1:${appPort}`
  console.log(`benchmark: ${mode}, ${cpus().length} cores, Node ${process.version}, ${DURATION}s per scenario after ${WARMUP}s warm-up`)

  const seeded = await seed({ databaseUrl, dataDir, rounds: 12 })
  const bare = startBare(barePort)
  const app = startApp(appPort, dataDir)
  const rows = []
  const extra = {}
  try {
    await Promise.all([waitForOk(`http://127.0.0.1:${barePort}/`, 10_000), waitForOk(`${base}/api/v1/health/`, 30_000)])
    await sleep(500)
    extra.rss_idle_mb = rssMb(app.pid)
    const adminToken = await login(base, BENCH_ADMIN)
    const keyResponse = await fetch(`${base}/api/v1/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ name: `bench-${Date.now()}`, scopes: ['read'] }),
    })
    const apiKey = (await keyResponse.json()).key

    rows.push(await measure('bare node:http hello', { url: `http://127.0.0.1:${barePort}/` }))
    rows.push(await measure('GET /api/v1/health/', { url: `${base}/api/v1/health/` }))
    rows.push(await measure('GET /api/v1/users/me (JWT)', { url: `${base}/api/v1/users/me`, headers: { authorization: `Bearer ${adminToken}` } }))
    rows.push(await measure('GET /api/v1/users/me (API key)', { url: `${base}/api/v1/users/me`, headers: { 'x-api-key': apiKey } }))
    rows.push(
      await measure(`GET /api/v1/users/?limit=20 (admin, ${seeded} users)`, {
        url: `${base}/api/v1/users/?limit=20`,
        headers: { authorization: `Bearer ${adminToken}` },
      }),
    )
    const loginBody = JSON.stringify({ username_or_email: 'bench_user_1', password: BENCH_PASSWORD })
    rows.push(
      await measure('POST /api/v1/auth/login (bcrypt cost 12)', {
        url: `${base}/api/v1/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: loginBody,
        connections: 10,
      }),
    )
    // Health latency while 50 logins hash at once: bcrypt must stay off the event loop.
    const [health] = await Promise.all([
      load({ url: `${base}/api/v1/health/`, connections: 10, duration: DURATION }),
      load({ url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody, connections: 50, duration: DURATION }),
    ])
    rows.push({ scenario: 'GET /api/v1/health/ during 50 concurrent logins', rps: Math.round(health.requests.average), p50: health.latency.p50, p99: health.latency.p99, failed: health.non2xx + health.errors })

    const fanOut = await wsFanOut(`ws://127.0.0.1:${appPort}`, adminToken)
    rows.push({ scenario: `WebSocket fan-out: ${WS_CLIENTS} members, ${WS_MESSAGES} messages (delivery latency)`, p50: fanOut.p50, p99: fanOut.p99, failed: fanOut.expected - fanOut.delivered })
    extra.rss_after_mb = rssMb(app.pid)
  } finally {
    await Promise.all([stop(app), stop(bare)])
    rmSync(dataDir, { recursive: true, force: true })
  }
  const cold = await coldStart()
  extra.cold_start_ms = cold.restart
  extra.first_boot_ms = cold.firstBoot

  const bareRps = rows[0].rps
  const byName = (prefix) => rows.find((row) => row.scenario.startsWith(prefix))
  const targets = [
    ['users/me (JWT) ≥ 0.40 × bare', byName('GET /api/v1/users/me (JWT)').rps / bareRps >= 0.4],
    ['health ≥ 0.75 × bare', byName('GET /api/v1/health/').rps / bareRps >= 0.75],
    ['health p99 < 20 ms during 50 logins', byName('GET /api/v1/health/ during').p99 < 20],
    ['WS fan-out p99 < 50 ms', byName('WebSocket').p99 < 50],
    ['idle RSS < 150 MB', extra.rss_idle_mb < 150],
    ['embedded cold start < 2 s (restart with existing data)', extra.cold_start_ms < 2000],
    ['embedded first boot < 2 s (PGlite creates its cluster)', extra.first_boot_ms < 2000],
  ]
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}, ${mode}`
  const summary = [
    `Machine: ${machine}. Run: ${new Date().toISOString()}, ${DURATION}s per scenario after ${WARMUP}s warm-up, ${CONNECTIONS} connections.`,
    '',
    table(rows),
    '',
    `Process RSS: ${extra.rss_idle_mb} MB idle, ${extra.rss_after_mb} MB after the run. Embedded cold start (spawn to first 200): ${extra.cold_start_ms} ms with existing data, ${extra.first_boot_ms} ms on a first boot.`,
    '',
    ...targets.map(([name, met]) => `- ${met ? 'met' : 'NOT met'}: ${name}`),
  ].join('\n')
  console.log(`\n${summary}\n\n(total ${Math.round((Date.now() - started) / 1000)} s)`)

  const resultsPath = join(ROOT, 'bench/results.json')
  let previous = {}
  try {
    previous = JSON.parse(readFileSync(resultsPath, 'utf8'))
  } catch {
    previous = {}
  }
  const key = databaseUrl ? 'postgres' : 'embedded'
  writeFileSync(resultsPath, `${JSON.stringify({ ...previous, [key]: { machine, date: new Date().toISOString(), rows, ...extra, targets: Object.fromEntries(targets) } }, null, 2)}\n`)

  const docPath = join(ROOT, 'docs/BENCHMARKS.md')
  const doc = readFileSync(docPath, 'utf8')
  const start = `<!-- bench:${key}:start -->`
  const end = `<!-- bench:${key}:end -->`
  if (doc.includes(start) && doc.includes(end)) {
    writeFileSync(docPath, `${doc.slice(0, doc.indexOf(start) + start.length)}\n${summary}\n${doc.slice(doc.indexOf(end))}`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
