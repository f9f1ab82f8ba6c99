import { register } from 'node:module'

/**
 * OpenTelemetry tracing, off unless the standard OTEL_* variables ask for it.
 *
 * The SDK has to start before the libraries it patches are loaded (http through Fastify, ioredis,
 * BullMQ), so the server calls startTracing() first and imports the app afterwards. When tracing is
 * off none of the SDK is even loaded: the app's calls to @opentelemetry/api are then no-ops.
 */

/** On when an OTLP endpoint or a traces exporter is named; OTEL_SDK_DISABLED=true always wins. */
export function tracingRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase()
  if (exporter !== '') return exporter !== 'none'
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim())
}

/** Probes and scrapes arrive every few seconds and say nothing about a request's path. */
const UNTRACED_PATHS = ['/metrics', '/api/v1/health/live', '/api/v1/health/ready']

const SECRET_QUERY_PARAMS = ['token', 'access_token', 'refresh_token', 'api_key', 'code', 'sig', 'Signature', 'X-Amz-Signature']

let shutdownSdk: (() => Promise<void>) | undefined

/**
 * Starts the SDK when `env` asks for it. `env` may include values from .env; the SDK reads
 * process.env only, so OTEL_* values found there are copied over first.
 */
export async function startTracing(env: Readonly<Record<string, string | undefined>> = process.env): Promise<boolean> {
  if (!tracingRequested(env) || shutdownSdk) return shutdownSdk !== undefined
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('OTEL_') && value !== undefined && process.env[name] === undefined) process.env[name] = value
  }
  // The SDK would also push metrics and logs over OTLP by default. Metrics are scraped from
  // /metrics and logs go to stdout, so those stay off unless named explicitly.
  process.env.OTEL_METRICS_EXPORTER ??= 'none'
  process.env.OTEL_LOGS_EXPORTER ??= 'none'
  // ioredis is CommonJS imported from our ES modules; only the loader hook lets OpenTelemetry see
  // that import. Limiting the hook to ioredis keeps every other import untouched.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['ioredis'] } })

  const [{ NodeSDK }, { HttpInstrumentation }, { IORedisInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-ioredis'),
  ])
  const sdk = new NodeSDK({
    // Exporter, endpoint, protocol, sampler and resource attributes all come from OTEL_* variables.
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'carbelsad' }),
    instrumentations: [
      new HttpInstrumentation({
        // The WebSocket handshake carries its credential in the query string (?token=, ?api_key=).
        redactedQueryParamsServer: SECRET_QUERY_PARAMS,
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.includes((request.url ?? '').split('?')[0] ?? ''),
        // Outgoing calls (SMTP is not HTTP) are rare; a trace of our own exporter's posts would loop.
        ignoreOutgoingRequestHook: () => true,
      }),
      // Command names only: keys and values hold usernames, code hashes and rate-limit subjects.
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
    ],
  })
  sdk.start()
  shutdownSdk = () => sdk.shutdown()
  return true
}

/** Flushes spans still buffered; called on shutdown so the last requests are not lost. */
export async function stopTracing(timeoutMs = 3000): Promise<void> {
  const shutdown = shutdownSdk
  shutdownSdk = undefined
  if (!shutdown) return
  // An unreachable collector must not hold the process past its shutdown grace period.
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((done) => {
    timer = setTimeout(done, timeoutMs)
  })
  await Promise.race([shutdown(), timeout]).finally(() => clearTimeout(timer))
}
