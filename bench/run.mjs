// `npm run bench`: measures the built app against a bare node:http server on this machine, in one run.
// The load comes from a process of its own (wrk when installed, else bench/load.mjs with autocannon), so
// this orchestrator never competes with it. With DATABASE_URL (and REDIS_URL) set it measures that mode
// and then the embedded one; without them, embedded only. Every figure is set against the bare server,
// measured before and after each mode. Everything targets loopback and stops by itself within
// BENCH_TIMEOUT seconds. Writes bench/results.json and the marked sections of docs/BENCHMARKS.md.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { buildIfStale } from '../scripts/build-if-stale.mjs'

const ROOT = resolve(import.meta.dirname, '..')
const DURATION = Number(process.env.BENCH_DURATION ?? 5)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WS_CLIENTS = Number(process.env.BENCH_WS_CLIENTS ?? 1000)
const WS_MESSAGES = 100
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT ?? 290)
const START_RUNS = 3
/** Connections on health while something else loads the app (logins, a slow query): the probe, not the load. */
const PROBE_CONNECTIONS = 10
const SLOW_QUERY_MS = 500
const SECRET = 'bench-secret-key-that-is-long-enough-for-production-use-0123456789'
const databaseUrl = process.env.DATABASE_URL || undefined
const redisUrl = process.env.REDIS_URL || undefined

const MODES = [
  ...(databaseUrl ? [{ key: 'postgres', label: `PostgreSQL${redisUrl ? ' + Redis' : ''}`, databaseUrl, redisUrl }] : []),
  { key: 'embedded', label: 'embedded (PGlite, in-process stores)' },
]

const sleep = (ms) => new Promise((done) => setTimeout(done, ms))
const onPath = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).error === undefined
const hasWrk = onPath('wrk', ['-v'])
const cores = availableParallelism()
// Pinning only pays when the server keeps at least three cores; on two it would halve the app.
const pinned = cores >= 4 && onPath('taskset', ['-V'])
const loadCpus = `${cores - 1}`
const serverCpus = `0-${cores - 2}`
const pinning = pinned ? `load generator on CPU ${loadCpus}, servers on CPUs ${serverCpus}` : `not pinned (${cores} cores${cores >= 4 ? ', no taskset' : ''})`
const generator = hasWrk ? 'wrk (1 thread)' : 'autocannon (bench/load.mjs, its own process)'

const children = new Set()
const scratchDirs = new Set()

/** A temporary folder, removed at the end even when the watchdog stops the run. */
function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  scratchDirs.add(dir)
  return dir
}

function removeTempDirs() {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true })
  scratchDirs.clear()
}

/** Spawns a child, on the given CPUs when pinning is on, and remembers it so a timeout can stop it. */
function launch(command, args, options, cpuList) {
  const [file, argv] = pinned && cpuList ? ['taskset', ['-c', cpuList, command, ...args]] : [command, args]
  const child = spawn(file, argv, options)
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Runs a child to its end; resolves to its stdout, rejects with its stderr. */
function collect(child, what) {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  return new Promise((done, fail) => {
    child.once('error', fail)
    child.once('close', (code) => (code === 0 ? done(stdout) : fail(new Error(`${what} exited with ${code}: ${stderr.trim()}`))))
  })
}

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

async function waitForOk(url, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${url}: the process exited with ${child.exitCode} before answering`)
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

/** CPU seconds the process has used so far (user + system), from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * Waits until the app is idle (under 10% of a core over half a second, at most 30 s): work queued by a
 * scenario (the logins' bcrypt hashes outlive the load that sent them) must not land in the next one.
 */
async function settle(pid) {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const before = cpuSeconds(pid)
    await sleep(500)
    if (cpuSeconds(pid) - before < 0.05) return
  }
}

function startBare(port) {
  const code = `require('node:http').createServer((q, s) => { const b = JSON.stringify({ message: 'hello' }); s.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) }); s.end(b) }).listen(${port}, '127.0.0.1')`
  return launch(process.execPath, ['-e', code], { stdio: 'ignore' }, serverCpus)
}

/** Production defaults: no DEBUG, one log line per request, headers, request ids and metrics on; rate limits off. */
function appEnv(port, dataDir, mode) {
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
    DATABASE_URL: mode.databaseUrl ?? '',
    REDIS_URL: mode.redisUrl ?? '',
  }
}

function startApp(port, dataDir, mode) {
  return launch(process.execPath, ['dist/bundle/server.js'], { cwd: ROOT, env: appEnv(port, dataDir, mode), stdio: ['ignore', 'ignore', 'inherit'] }, serverCpus)
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((done) => child.once('exit', done))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

// ---- load generation ---------------------------------------------------------------------------

const UNITS = { us: 0.001, ms: 1, s: 1000, m: 60_000 }
const toMs = (value, unit) => Math.round(Number(value) * UNITS[unit] * 100) / 100

/** wrk's report (`--latency`): req/s, p50/p99 in ms, and every request that did not get a 2xx/3xx. */
function parseWrk(output) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1])
  const latency = (percent) => {
    const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output)
    return match ? toMs(match[1], match[2]) : null
  }
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0)
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
  const socketErrors = socket ? socket.slice(1).reduce((sum, count) => sum + Number(count), 0) : 0
  if (!Number.isFinite(rps)) throw new Error(`could not read wrk's output:\n${output}`)
  return { rps: Math.round(rps), p50: latency(50), p99: latency(99), requests, failed: non2xx + socketErrors }
}

let scratch

function wrkArgs({ url, duration, connections, method = 'GET', headers = {}, body, randomSkip }) {
  const args = ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', '--timeout', '30s']
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`)
  // wrk sends a body, or a different URL per request, only from a Lua script.
  const lua = []
  // A long bracket string needs no escaping.
  if (method !== 'GET' || body !== undefined) lua.push(`wrk.method = "${method}"`, `wrk.body = [==[${body ?? ''}]==]`)
  if (randomSkip !== undefined) {
    lua.push('math.randomseed(os.time())', `request = function() return wrk.format(nil, wrk.path .. "&skip=" .. math.random(0, ${randomSkip})) end`)
  }
  if (lua.length > 0) {
    const script = join(scratch, `request-${Math.random().toString(36).slice(2)}.lua`)
    writeFileSync(script, `${lua.join('\n')}\n`)
    args.push('-s', script)
  }
  args.push(url)
  return args
}

/** One load run in a process of its own. */
async function load(options) {
  const opts = { connections: CONNECTIONS, duration: DURATION, ...options }
  if (hasWrk) return parseWrk(await collect(launch('wrk', wrkArgs(opts), { stdio: ['ignore', 'pipe', 'pipe'] }, loadCpus), 'wrk'))
  const child = launch(process.execPath, [join(ROOT, 'bench/load.mjs'), JSON.stringify({ kind: 'http', ...opts })], { stdio: ['ignore', 'pipe', 'pipe'] }, loadCpus)
  return JSON.parse(await collect(child, 'bench/load.mjs'))
}

async function measure(scenario, options) {
  if (WARMUP > 0) await load({ ...options, duration: WARMUP })
  return { scenario, ...(await load(options)) }
}

async function login(base, username, password) {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username_or_email: username, password }),
  })
  if (!response.ok) throw new Error(`login as ${username} failed: ${response.status} ${await response.text()}`)
  return (await response.json()).access_token
}

/**
 * Health latency while the embedded database runs a 500 ms query the whole time. The query comes in
 * through the PostgreSQL socket the embedded database serves in its data folder; without that socket
 * there is no way to run one beside the app, and the row says so.
 */
async function healthDuringSlowQuery(base, dataDir) {
  const scenario = `GET /api/v1/health/ during a ${SLOW_QUERY_MS} ms embedded query`
  const socketPath = join(dataDir, '.s.PGSQL.5432')
  if (!existsSync(socketPath)) return { scenario, skipped: 'embedded database socket not found' }
  const { default: postgres } = await import('postgres')
  const sql = postgres({ host: dataDir, port: 5432, username: 'postgres', database: 'postgres', max: 1, connect_timeout: 10, onnotice: () => {} })
  let running = true
  let queries = 0
  try {
    await sql`select 1`
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {})
    return { scenario, skipped: `could not query the embedded database socket: ${error.message}` }
  }
  const sleeper = (async () => {
    while (running) {
      await sql.unsafe(`select pg_sleep(${SLOW_QUERY_MS / 1000})`)
      queries += 1
    }
  })()
  try {
    const health = await load({ url: `${base}/api/v1/health/`, connections: PROBE_CONNECTIONS })
    return { scenario, ...health, note: `${queries} slow queries completed during the run` }
  } finally {
    running = false
    await sleeper.catch(() => {})
    await sql.end({ timeout: 5 })
  }
}

async function wsFanOut(wsBase, token) {
  const options = { kind: 'ws-fanout', wsBase, token, clients: WS_CLIENTS, messages: WS_MESSAGES }
  const child = launch(process.execPath, [join(ROOT, 'bench/load.mjs'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] }, loadCpus)
  return JSON.parse(await collect(child, 'bench/load.mjs ws-fanout'))
}

// ---- one mode ------------------------------------------------------------------------------------

async function runMode(mode, bareUrl, seed, credentials) {
  const dataDir = tempDir(`bench-${mode.key}-`)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const rows = []
  const extra = {}
  console.log(`\n== ${mode.label}`)
  try {
    const seeded = await seed({ databaseUrl: mode.databaseUrl, dataDir, rounds: 12 })
    const app = startApp(port, dataDir, mode)
    try {
      await waitForOk(`${base}/api/v1/health/`, 180_000, app)
      await sleep(500)
      extra.rss_idle_mb = rssMb(app.pid)
      const adminToken = await login(base, credentials.admin, credentials.password)
      const keyResponse = await fetch(`${base}/api/v1/api-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ name: `bench-${Date.now()}`, scopes: ['read'] }),
      })
      if (!keyResponse.ok) throw new Error(`creating an API key failed: ${keyResponse.status} ${await keyResponse.text()}`)
      const apiKey = (await keyResponse.json()).key
      const step = (row) => {
        rows.push(row)
        const figures = `${row.rps ?? '-'} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ${row.failed} failed${row.note ? ` (${row.note})` : ''}`
        console.log(`  ${row.scenario}: ${row.skipped ? `skipped: ${row.skipped}` : figures}`)
      }

      const bareBefore = await measure('bare node:http hello (before)', { url: bareUrl })
      step(bareBefore)
      step(await measure('GET /api/v1/health/', { url: `${base}/api/v1/health/` }))
      step(await measure('GET /api/v1/users/me (JWT)', { url: `${base}/api/v1/users/me`, headers: { authorization: `Bearer ${adminToken}` } }))
      step(await measure('GET /api/v1/users/me (API key)', { url: `${base}/api/v1/users/me`, headers: { 'x-api-key': apiKey } }))
      step(
        await measure(`GET /api/v1/users/?limit=20 (admin, ${seeded} users)`, {
          url: `${base}/api/v1/users/?limit=20`,
          headers: { authorization: `Bearer ${adminToken}` },
        }),
      )
      // Identical overlapping reads share one query (src/db/coalesce.ts); this row shows a page's own cost.
      step(
        await measure(`GET /api/v1/users/?limit=20&skip=<random> (admin, a different page per request)`, {
          url: `${base}/api/v1/users/?limit=20`,
          headers: { authorization: `Bearer ${adminToken}` },
          randomSkip: seeded - 20,
        }),
      )
      const loginRequest = {
        url: `${base}/api/v1/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username_or_email: credentials.user, password: credentials.password }),
      }
      step(await measure('POST /api/v1/auth/login (bcrypt cost 12)', { ...loginRequest, connections: 10 }))
      // bcrypt must stay off the event loop: health is probed while 50 logins hash at once.
      const [health] = await Promise.all([
        load({ url: `${base}/api/v1/health/`, connections: PROBE_CONNECTIONS }),
        load({ ...loginRequest, connections: 50 }),
      ])
      step({ scenario: 'GET /api/v1/health/ during 50 concurrent logins', ...health })
      await settle(app.pid)
      if (mode.key === 'embedded') step(await healthDuringSlowQuery(base, dataDir))
      await settle(app.pid)

      const fanOutScenario = `WebSocket fan-out: ${WS_CLIENTS} members, ${WS_MESSAGES} messages (delivery latency)`
      try {
        const fanOut = await wsFanOut(`ws://127.0.0.1:${port}`, adminToken)
        step({ scenario: fanOutScenario, p50: fanOut.p50, p99: fanOut.p99, failed: fanOut.expected - fanOut.delivered })
      } catch (error) {
        step({ scenario: fanOutScenario, skipped: error.message.split('\n')[0] })
      }
      step(await measure('bare node:http hello (after)', { url: bareUrl }))
      extra.rss_after_mb = rssMb(app.pid)
      extra.bare_rps = Math.round((bareBefore.rps + rows.at(-1).rps) / 2)
    } finally {
      await stop(app)
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
  return { label: mode.label, rows, ...extra }
}

/** `npm start` on an up-to-date build with an existing embedded database: command to first 200 on health. */
async function npmStartTimes() {
  const dataDir = tempDir('bench-start-')
  const mode = { key: 'embedded' }
  const boot = async (command, args) => {
    const port = await freePort()
    const started = performance.now()
    const child = launch(command, args, { cwd: ROOT, env: appEnv(port, dataDir, mode), stdio: ['ignore', 'ignore', 'inherit'] })
    try {
      await waitForOk(`http://127.0.0.1:${port}/api/v1/health/`, 180_000, child)
      return Math.round(performance.now() - started)
    } finally {
      // `npm start` execs the server, so npm's SIGTERM reaches it and both exit.
      await stop(child)
    }
  }
  try {
    // The first boot creates the database cluster; it is what an existing data folder saves, so not counted.
    const firstBoot = await boot(process.execPath, ['dist/bundle/server.js'])
    const runs = []
    for (let run = 0; run < START_RUNS; run += 1) runs.push(await boot('npm', ['start', '--silent']))
    return { first_boot_ms: firstBoot, runs_ms: runs, median_ms: [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)] }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

// ---- report --------------------------------------------------------------------------------------

function table(result) {
  const header = '| scenario | req/s | p50 ms | p99 ms | × bare | failed |\n|---|---:|---:|---:|---:|---:|'
  const lines = result.rows.map((row) =>
    row.skipped
      ? `| ${row.scenario} | skipped: ${row.skipped} | | | | |`
      : `| ${row.scenario} | ${row.rps ?? '-'} | ${row.p50 ?? '-'} | ${row.p99 ?? '-'} | ${row.rps ? (row.rps / result.bare_rps).toFixed(2) : '-'} | ${row.failed ?? '-'} |`,
  )
  const notes = result.rows.filter((row) => row.note).map((row) => `${row.scenario}: ${row.note}.`)
  return [header, ...lines, '', `× bare is against the mean of the two bare runs: ${result.bare_rps} req/s.`, ...notes].join('\n')
}

/** Each target: met only when measured, without failed requests, and within its bound. */
function evaluateTargets(results, start) {
  const targets = []
  const add = (name, row, value, met, format = (v) => v) => {
    if (!row || row.skipped) targets.push({ name, met: false, detail: `not measured${row?.skipped ? `: ${row.skipped}` : ''}` })
    else if (row.failed > 0) targets.push({ name, met: false, detail: `${row.failed} failed requests` })
    else if (row.requests === 0) targets.push({ name, met: false, detail: 'no request completed' })
    else targets.push({ name, met: met(value), detail: format(value) })
  }
  const ratio = (row, result) => (row?.rps ?? 0) / result.bare_rps
  for (const [key, result] of Object.entries(results)) {
    const find = (prefix) => result.rows.find((row) => row.scenario.startsWith(prefix))
    const health = find('GET /api/v1/health/')
    const me = find('GET /api/v1/users/me (JWT)')
    const admin = find('GET /api/v1/users/?limit=20')
    const duringLogins = find('GET /api/v1/health/ during 50')
    const fanOut = find('WebSocket fan-out')
    add(`[${key}] health ≥ 0.60 × bare`, health, ratio(health, result), (v) => v >= 0.6, (v) => `${v.toFixed(2)} × bare`)
    add(`[${key}] /users/me (JWT) ≥ 0.40 × bare`, me, ratio(me, result), (v) => v >= 0.4, (v) => `${v.toFixed(2)} × bare`)
    add(
      `[${key}] admin list ≥ 0.10 × bare and p99 < 50 ms`,
      admin,
      admin,
      (row) => ratio(row, result) >= 0.1 && row.p99 < 50,
      (row) => `${ratio(row, result).toFixed(2)} × bare, p99 ${row.p99} ms`,
    )
    add(`[${key}] health p99 < 20 ms during 50 logins`, duringLogins, duringLogins?.p99, (v) => v < 20, (v) => `p99 ${v} ms`)
    if (key === 'embedded') {
      add(`[embedded] idle RSS ≤ 200 MB`, { failed: 0 }, result.rss_idle_mb, (v) => v <= 200, (v) => `${v} MB`)
      const slow = find(`GET /api/v1/health/ during a ${SLOW_QUERY_MS} ms`)
      add(`[embedded] health p99 < 20 ms during a ${SLOW_QUERY_MS} ms embedded query`, slow, slow?.p99, (v) => v < 20, (v) => `p99 ${v} ms`)
    }
    add(`[${key}] WS fan-out p99 < 50 ms`, fanOut, fanOut?.p99, (v) => v !== null && v < 50, (v) => `p99 ${v} ms`)
  }
  add(
    'npm start first 200 ≤ 2 s (up-to-date build, existing embedded data)',
    start ? { failed: 0 } : { skipped: 'did not run' },
    start?.median_ms,
    (v) => v <= 2000,
    (v) => `median ${v} ms of ${start.runs_ms.join(', ')} ms`,
  )
  return targets
}

function replaceSection(doc, key, text) {
  const start = `<!-- bench:${key}:start -->`
  const end = `<!-- bench:${key}:end -->`
  if (!doc.includes(start) || !doc.includes(end)) return doc
  return `${doc.slice(0, doc.indexOf(start) + start.length)}\n${text}\n${doc.slice(doc.indexOf(end))}`
}

async function main() {
  const started = Date.now()
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${TIMEOUT_S} s (BENCH_TIMEOUT); stopping everything`)
    for (const child of children) child.kill('SIGKILL')
    removeTempDirs()
    process.exit(1)
  }, TIMEOUT_S * 1000)
  watchdog.unref()

  await buildIfStale()
  // Imported after the build: the seed uses the compiled database code.
  const { BENCH_ADMIN, BENCH_PASSWORD, seed } = await import('./seed.mjs')
  const credentials = { admin: BENCH_ADMIN, user: 'bench_user_1', password: BENCH_PASSWORD }
  scratch = tempDir('bench-scratch-')
  const machine = `${cores} × ${cpus()[0]?.model.trim()}, Node ${process.version}`
  const header = `Machine: ${machine}. Load: ${generator}, ${CONNECTIONS} connections, ${DURATION} s per scenario after ${WARMUP} s warm-up; ${pinning}.`
  console.log(`benchmark: ${MODES.map((mode) => mode.label).join(', then ')}\n${header}`)

  const barePort = await freePort()
  const bare = startBare(barePort)
  const results = {}
  let start
  try {
    await waitForOk(`http://127.0.0.1:${barePort}/`, 10_000, bare)
    for (const mode of MODES) results[mode.key] = await runMode(mode, `http://127.0.0.1:${barePort}/`, seed, credentials)
    start = await npmStartTimes()
    console.log(`\nnpm start, command to first 200: ${start.runs_ms.join(', ')} ms (first boot of the data folder, not counted: ${start.first_boot_ms} ms)`)
  } finally {
    await stop(bare)
    rmSync(scratch, { recursive: true, force: true })
  }

  const targets = evaluateTargets(results, start)
  const date = new Date().toISOString()
  const targetLines = targets.map((target) => `- ${target.met ? 'met' : 'NOT met'}: ${target.name} (${target.detail})`)
  const modeText = (result) =>
    [table(result), '', `Process RSS: ${result.rss_idle_mb} MB idle, ${result.rss_after_mb} MB after the run.`].join('\n')
  const summary = [
    `Run: ${date}. ${header}`,
    '',
    `\`npm start\` on an up-to-date build, command to first 200 (embedded, existing data folder): ${start.runs_ms.join(', ')} ms.`,
    '',
    ...targetLines,
  ].join('\n')
  for (const result of Object.values(results)) console.log(`\n${result.label}\n\n${modeText(result)}`)
  console.log(`\n${summary}\n\n(total ${Math.round((Date.now() - started) / 1000)} s)`)

  const resultsPath = join(ROOT, 'bench/results.json')
  let previous = {}
  try {
    previous = JSON.parse(readFileSync(resultsPath, 'utf8'))
  } catch {
    previous = {}
  }
  const modes = Object.fromEntries(Object.entries(results).map(([key, result]) => [key, { date, ...result }]))
  const run = { date, machine, generator, pinning, duration_s: DURATION, warmup_s: WARMUP, connections: CONNECTIONS, npm_start: start, targets }
  writeFileSync(resultsPath, `${JSON.stringify({ ...previous, ...modes, run }, null, 2)}\n`)

  const docPath = join(ROOT, 'docs/BENCHMARKS.md')
  let doc = readFileSync(docPath, 'utf8')
  doc = replaceSection(doc, 'summary', summary)
  for (const [key, result] of Object.entries(results)) doc = replaceSection(doc, key, `Run: ${date}.\n\n${modeText(result)}`)
  writeFileSync(docPath, doc)
  clearTimeout(watchdog)
}

main().catch(async (error) => {
  console.error(error)
  for (const child of children) child.kill('SIGKILL')
  removeTempDirs()
  process.exit(1)
})
