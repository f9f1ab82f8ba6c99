import type { ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tracingRequested } from '../../src/observability/tracing.js'
import { freePort } from '../helpers/network.js'
import { spawnTsx } from '../helpers/processes.js'
import { TEST_SECRET, usingRedis, useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'

interface ExportedSpan {
  scope: string
  name: string
  traceId: string
  spanId: string
  parentSpanId: string
  attributes: Record<string, unknown>
}

/** A minimal OTLP/HTTP collector (JSON encoding) that keeps every span it is sent. */
async function startCollector(): Promise<{ url: string; spans: ExportedSpan[]; otherPaths: string[]; server: Server }> {
  const spans: ExportedSpan[] = []
  const otherPaths: string[] = []
  const server = createServer((request, response) => {
    if (request.url !== '/v1/traces') {
      otherPaths.push(request.url ?? '')
      response.writeHead(404).end()
      return
    }
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      const payload = JSON.parse(body) as {
        resourceSpans?: { scopeSpans: { scope: { name: string }; spans: (Omit<ExportedSpan, 'scope' | 'attributes'> & { attributes?: { key: string; value: Record<string, unknown> }[] })[] }[] }[]
      }
      for (const resourceSpans of payload.resourceSpans ?? []) {
        for (const scopeSpans of resourceSpans.scopeSpans) {
          for (const span of scopeSpans.spans) {
            const attributes = Object.fromEntries((span.attributes ?? []).map(({ key, value }) => [key, Object.values(value)[0]]))
            spans.push({ scope: scopeSpans.scope.name, name: span.name, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId, attributes })
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, spans, otherPaths, server }
}

describe('tracing switch', () => {
  it('is off without OTEL_* variables and on with an endpoint or exporter', () => {
    expect(tracingRequested({})).toBe(false)
    expect(tracingRequested({ OTEL_SERVICE_NAME: 'api' })).toBe(false)
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true)
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true)
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true)
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false)
    expect(tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false)
  })
})

describe('OpenTelemetry tracing of a running server', () => {
  const ctx = useTestContext()
  let collector: Awaited<ReturnType<typeof startCollector>>
  let child: ChildProcess
  let base: string
  const logLines: Record<string, unknown>[] = []

  beforeAll(async () => {
    collector = await startCollector()
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    child = spawnTsx('src/server.ts', [], {
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        DEBUG: 'true',
        SECRET_KEY: TEST_SECRET,
        BCRYPT_ROUNDS: '4',
        LOG_LEVEL: 'info',
        DATA_DIR: 'memory://',
        DATABASE_URL: ctx.databaseUrl ?? '',
        REDIS_URL: process.env.TEST_REDIS_URL ?? '',
        REDIS_KEY_PREFIX: ctx.redisPrefix,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_SERVICE_NAME: 'carbelsad-test',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let buffered = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) if (line.startsWith('{')) logLines.push(JSON.parse(line) as Record<string, unknown>)
    })
    await waitFor(async () => (await fetch(`${base}/api/v1/health/`)).ok, 'server start', { timeoutMs: 90_000, intervalMs: 100 })
  }, 120_000)

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done))
      child.kill('SIGTERM')
      await exited
    }
    collector.server.close()
  })

  it('exports a route-named server span with database and Redis child spans, linked to the request log line', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const response = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ username: 'traced_user', email: 'traced@example.com', password: 'Tr4ced-and-long-enough' }),
    })
    expect(response.status).toBe(201)
    const requestId = response.headers.get('x-request-id')

    await waitFor(() => collector.spans.some((span) => span.traceId === traceId && span.scope === '@opentelemetry/instrumentation-http'), 'server span export')
    const inTrace = collector.spans.filter((span) => span.traceId === traceId)
    const server = inTrace.find((span) => span.scope === '@opentelemetry/instrumentation-http')
    // The incoming traceparent is continued, and the span is named for the route pattern.
    expect(server).toMatchObject({ name: 'POST /api/v1/auth/register', parentSpanId: '00f067aa0ba902b7' })
    expect(server?.attributes['http.route']).toBe('/api/v1/auth/register')
    expect(server?.attributes['app.request_id']).toBe(requestId)
    expect(server?.attributes['http.response.status_code']).toBe(201)

    const queries = inTrace.filter((span) => span.scope === 'carbelsad-db')
    expect(queries.map((span) => span.attributes['db.operation.name'])).toContain('INSERT')
    const insert = queries.find((span) => span.attributes['db.operation.name'] === 'INSERT')
    expect(insert?.attributes['db.system.name']).toBe('postgresql')
    expect(String(insert?.attributes['db.query.text'])).toMatch(/^insert into "users"/)
    // Registration writes the user and its audit entry in one transaction: queries inside it are traced too.
    expect(queries.some((span) => String(span.attributes['db.query.text']).startsWith('insert into "audit_logs"'))).toBe(true)
    // Parameter values (the password hash, the email) are not part of the span.
    expect(JSON.stringify(queries)).not.toContain('traced@example.com')

    if (usingRedis) {
      const commands = inTrace.filter((span) => span.scope === '@opentelemetry/instrumentation-ioredis')
      expect(commands.length).toBeGreaterThan(0)
      // Command names only: keys carry usernames and rate-limit subjects.
      for (const command of commands) expect(command.attributes['db.query.text']).toMatch(/^\w+$/)
    }

    await waitFor(() => logLines.some((line) => line.request_id === requestId && line.msg === 'request completed'), 'request log line')
    const line = logLines.find((entry) => entry.request_id === requestId && entry.msg === 'request completed')
    expect(line?.trace_id).toBe(traceId)
  })

  it('redacts credentials in query strings (as WebSocket URLs carry them) and leaves health probes untraced', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c'
    const traceparent = `00-${traceId}-b7ad6b7169203331-01`
    await fetch(`${base}/api/v1/health/live`, { headers: { traceparent: `00-${'1'.repeat(32)}-b7ad6b7169203331-01` } })
    // A plain GET to a socket URL: the query string is the same one a browser's handshake would send.
    const refused = await fetch(`${base}/ws/chat/lobby?token=secret-token-value`, { headers: { traceparent } })
    expect(refused.status).toBeGreaterThanOrEqual(400)

    await waitFor(() => collector.spans.some((span) => span.traceId === traceId), 'span export')
    const spans = collector.spans.filter((span) => span.traceId === traceId)
    expect(JSON.stringify(spans)).not.toContain('secret-token-value')
    expect(collector.spans.some((span) => span.traceId === '1'.repeat(32))).toBe(false)
    // Traces only: metrics stay with /metrics, logs with stdout.
    expect(collector.otherPaths).toEqual([])
  })
})
