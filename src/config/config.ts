import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import { ConfigError } from './config-error.js'
import { tracingRequested } from '../observability/tracing.js'
import { parseEnv, type EnvSource } from './env-parsers.js'
import { parseOAuthSettings, type OAuthSettings } from './oauth-settings.js'
import { parseDatabaseSettings, parseRedisSettings } from './scaling-settings.js'
import { parseWebAuthn, type WebAuthnSettings } from './webauthn-settings.js'

export { ConfigError }

/**
 * Secrets that appear in docs and examples; a server that uses one is as good as unkeyed, since anyone
 * can sign tokens with it. Compared trimmed and lower-cased.
 */
const EXAMPLE_SECRETS = new Set([
  // .env.example and the README's list of refused values.
  'replace-with-output-of-npm-run-setup-secret',
  '<generated-from-setup-script>',
  'change-me',
  'changeme',
  'secret',
  'your-secret-key',
  'your-secret-key-here',
  // The Python template this one rebuilds (full-stack-fastapi-template's .env), for people moving over.
  'changethis',
  // FastAPI's OAuth2/JWT tutorial: long enough to pass the length rule, and copied into many projects.
  '09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7',
])
const MIN_SECRET_LENGTH = 32

export type TrustProxy = boolean | number | string[]

export interface Config {
  readonly projectName: string
  readonly version: string
  readonly debug: boolean
  readonly host: string
  readonly port: number
  readonly workers: number
  readonly logLevel: string
  /** Normalised postgres:// URL, or undefined for the embedded PGlite database. */
  readonly databaseUrl: string | undefined
  readonly databasePoolSize: number
  readonly databaseTimeoutSeconds: number
  /** Server-side prepared statements; off behind a transaction pooler (DATABASE_PREPARE=false, or pgbouncer=true in DATABASE_URL). */
  readonly databasePrepare: boolean
  /** Where migrations run (DATABASE_MIGRATION_URL): a direct connection when DATABASE_URL goes through a pooler. */
  readonly databaseMigrationUrl: string | undefined
  /** Where PGlite keeps its files; `memory://` keeps nothing. */
  readonly dataDir: string
  readonly autoMigrate: boolean
  readonly redisUrl: string | undefined
  readonly redisKeyPrefix: string
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES, or REDIS_URL with ?cluster=true); undefined for one server. */
  readonly redisClusterNodes: readonly string[] | undefined
  readonly secretKey: string
  /** True when SECRET_KEY was missing and one was generated for this process only. */
  readonly secretKeyGenerated: boolean
  readonly algorithm: 'HS256' | 'HS384' | 'HS512'
  readonly accessTokenExpireMinutes: number
  readonly refreshTokenExpireDays: number
  readonly bcryptRounds: number
  readonly rateLimitEnabled: boolean
  readonly rateLimitPerMinute: number
  readonly authRateLimitPerMinute: number
  /** Failed password checks for one account within 15 minutes, from all addresses together. */
  readonly loginRateLimitPerAccount: number
  /** Failed password checks for one account within 15 minutes, from one address. */
  readonly loginRateLimitPerAccountAddress: number
  /** Wrong 2FA codes (email, authenticator, recovery) for one account within 15 minutes, across challenges. */
  readonly twoFaFailuresPerAccount: number
  /** Verification, 2FA-setup, test and reset mails to one recipient address within 10 minutes. */
  readonly mailRateLimitPerRecipient: number
  /** How long a sign-in or re-authentication counts as a fresh proof for sensitive actions. */
  readonly reauthMaxAgeSeconds: number
  /** A session ends this long after its sign-in, however often it refreshes. */
  readonly sessionMaxLifetimeHours: number
  /** A just-rotated refresh token presented again within this window gets a pair instead of ending the session (0: off). */
  readonly refreshReuseGraceSeconds: number
  /** Mail the user when they sign in from a device and address not seen for 30 days. */
  readonly newDeviceEmails: boolean
  readonly rateLimitExempt: readonly string[]
  readonly twoFaCodeExpireMinutes: number
  readonly requireEmailVerification: boolean
  readonly smtp: {
    readonly host: string
    readonly port: number
    readonly tls: boolean
    readonly ssl: boolean
    readonly user: string
    readonly password: string
    readonly fromEmail: string
    readonly fromName: string
  }
  readonly publicUrl: string
  readonly allowedOrigins: readonly string[]
  readonly trustProxy: TrustProxy
  readonly bodyLimit: number
  readonly wsRequireAuth: boolean
  readonly wsMessagesPerSecond: number
  /** Open WebSockets this instance accepts; handshakes beyond it get 503. */
  readonly wsMaxConnections: number
  /** How often open WebSockets have their user and credentials checked again (logout-all, deactivation, expiry). */
  readonly wsSessionCheckIntervalMs: number
  /** Slow-loris guard: a client must send its request headers within this time. */
  readonly headersTimeoutMs: number
  /** And its whole request within this time. */
  readonly requestTimeoutMs: number
  /** Bearer token for /metrics on the main port; without it /metrics is only served in DEBUG. */
  readonly metricsToken: string | undefined
  /** OpenTelemetry tracing, on when the standard OTEL_* variables name an exporter or endpoint. */
  readonly tracing: boolean
  /** Serve /metrics on this port instead of the main one. */
  readonly metricsPort: number | undefined
  /**
   * Load shedding: answer 503 when the event loop lags more than this. Off (0) by default: a busy
   * CI box or a slow embedded query would otherwise shed healthy traffic; set it in production.
   */
  readonly maxEventLoopDelayMs: number
  /** Load shedding: answer 503 above this heap size (0 turns it off). */
  readonly maxHeapUsedBytes: number
  /** Minutes between housekeeping runs (expired sessions, tokens, challenges, old audit entries); 0 turns the schedule off. */
  readonly housekeepingIntervalMinutes: number
  /** Audit entries older than this many days are deleted by housekeeping. */
  readonly auditRetentionDays: number
  /** Rows deleted per statement by housekeeping, so a large backlog never holds many locks at once. */
  readonly housekeepingBatchSize: number
  /** Passkeys: the relying party (WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS), or why they are off. */
  readonly webauthn: WebAuthnSettings
  /** Sign-in with a mailed link or code (POST /auth/email-login). */
  readonly emailLoginEnabled: boolean
  /** Sign-in providers (OIDC, GitHub) and their rules (docs/OAUTH.md). */
  readonly oauth: OAuthSettings
}

const packageVersion = (): string => {
  try {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version?: string }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

/**
 * Accepts the URL forms people paste from other stacks and cloud consoles:
 * `postgresql+asyncpg://`, `postgres://` and `postgresql://`.
 */
export function normalizeDatabaseUrl(raw: string): string {
  const match = /^(postgres|postgresql)(\+[a-z0-9]+)?:\/\//i.exec(raw)
  if (!match) {
    throw new ConfigError(`DATABASE_URL must start with postgres:// or postgresql:// (got "${raw.split(':')[0]}:")`)
  }
  const normalized = `postgres://${raw.slice(match[0].length)}`
  try {
    new URL(normalized)
  } catch {
    throw new ConfigError('DATABASE_URL is not a valid URL')
  }
  return normalized
}

function parseTrustProxy(raw: string | undefined): TrustProxy {
  if (raw === undefined || raw.trim() === '') return false
  const value = raw.trim().toLowerCase()
  if (['false', '0', 'no', 'off'].includes(value)) return false
  if (['true', 'yes', 'on'].includes(value)) return true
  if (/^\d+$/.test(value)) return Number(value)
  return value.split(',').map((part) => part.trim()).filter(Boolean)
}

function resolveSecret(raw: string | undefined, debug: boolean): { key: string; generated: boolean } {
  if (raw === undefined || raw.trim() === '') {
    if (!debug) throw new ConfigError('SECRET_KEY is required when DEBUG=False (run: npm run setup:secret)')
    return { key: randomBytes(48).toString('base64url'), generated: true }
  }
  // Checked in DEBUG too: `cp .env.example .env && npm start` must not sign tokens with a published key,
  // and a development server is often reachable from the network. Leaving SECRET_KEY empty still works there.
  if (EXAMPLE_SECRETS.has(raw.trim().toLowerCase())) {
    throw new ConfigError('SECRET_KEY is an example value anyone can sign tokens with; generate a real one with: npm run setup:secret')
  }
  if (raw.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(`SECRET_KEY must be at least ${MIN_SECRET_LENGTH} characters; generate one with: npm run setup:secret`)
  }
  return { key: raw, generated: false }
}

/** Parses and validates every setting once; throws ConfigError naming the variable at fault. */
export function loadConfig(source: EnvSource = readEnvironment()): Config {
  const env = parseEnv(source)
  const debug = env.bool('DEBUG', true)
  const secret = resolveSecret(source.SECRET_KEY, debug)
  const databaseUrlRaw = env.optionalString('DATABASE_URL')
  const smtpPort = env.int('SMTP_PORT', 587, { min: 1, max: 65535 })
  const smtpSsl = env.bool('SMTP_SSL', smtpPort === 465)
  const port = env.int('PORT', 8000, { min: 0, max: 65535 })

  const config: Config = {
    projectName: env.string('PROJECT_NAME', 'carbelsad'),
    version: packageVersion(),
    debug,
    host: env.string('HOST', '0.0.0.0'),
    port,
    workers: env.int('WORKERS', 1, { min: 1, max: 64 }),
    logLevel: env.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], debug ? 'debug' : 'info'),
    databaseUrl: databaseUrlRaw === undefined ? undefined : wrapConfigError('DATABASE_URL', () => normalizeDatabaseUrl(databaseUrlRaw)),
    ...parseDatabaseSettings(env, databaseUrlRaw === undefined ? undefined : normalizeDatabaseUrl(databaseUrlRaw), normalizeDatabaseUrl),
    databasePoolSize: env.int('DATABASE_POOL_SIZE', 10, { min: 1, max: 500 }),
    databaseTimeoutSeconds: env.int('DATABASE_TIMEOUT_SECONDS', 5, { min: 1, max: 300 }),
    dataDir: env.string('DATA_DIR', './data/pglite'),
    autoMigrate: env.bool('AUTO_MIGRATE', true),
    ...parseRedisSettings(env),
    redisKeyPrefix: env.string('REDIS_KEY_PREFIX', 'carbelsad:'),
    secretKey: secret.key,
    secretKeyGenerated: secret.generated,
    algorithm: env.oneOf('ALGORITHM', ['HS256', 'HS384', 'HS512'], 'HS256'),
    // Durations accept fractions (ACCESS_TOKEN_EXPIRE_MINUTES=0.5), so short lifetimes can be tried out.
    accessTokenExpireMinutes: env.number('ACCESS_TOKEN_EXPIRE_MINUTES', 30, { min: 1 / 60, max: 60 * 24 * 30 }),
    refreshTokenExpireDays: env.number('REFRESH_TOKEN_EXPIRE_DAYS', 7, { min: 1 / (24 * 60), max: 365 }),
    bcryptRounds: env.int('BCRYPT_ROUNDS', 12, { min: 4, max: 15 }),
    rateLimitEnabled: env.bool('RATE_LIMIT_ENABLED', true),
    rateLimitPerMinute: env.int('RATE_LIMIT_PER_MINUTE', 60, { min: 1, max: 1_000_000 }),
    authRateLimitPerMinute: env.int('AUTH_RATE_LIMIT_PER_MINUTE', 10, { min: 1, max: 1_000_000 }),
    loginRateLimitPerAccount: env.int('LOGIN_RATE_LIMIT_PER_ACCOUNT', 30, { min: 1, max: 1_000_000 }),
    loginRateLimitPerAccountAddress: env.int('LOGIN_RATE_LIMIT_PER_ACCOUNT_ADDRESS', 10, { min: 1, max: 1_000_000 }),
    twoFaFailuresPerAccount: env.int('TWO_FA_FAILURES_PER_ACCOUNT', 10, { min: 1, max: 1_000_000 }),
    mailRateLimitPerRecipient: env.int('MAIL_RATE_LIMIT_PER_RECIPIENT', 5, { min: 1, max: 1_000_000 }),
    reauthMaxAgeSeconds: env.number('REAUTH_MAX_AGE_SECONDS', 600, { min: 0, max: 30 * 24 * 3600 }),
    sessionMaxLifetimeHours: env.number('SESSION_MAX_LIFETIME_HOURS', 720, { min: 0.001, max: 24 * 3650 }),
    refreshReuseGraceSeconds: env.number('REFRESH_REUSE_GRACE_SECONDS', 10, { min: 0, max: 300 }),
    newDeviceEmails: env.bool('NEW_DEVICE_EMAILS', true),
    rateLimitExempt: env.list('RATE_LIMIT_EXEMPT', ['/api/v1/health', '/api/docs', '/api/redoc', '/api/openapi.json']),
    twoFaCodeExpireMinutes: env.number('TWO_FA_CODE_EXPIRE_MINUTES', 10, { min: 1 / 60, max: 1440 }),
    requireEmailVerification: env.bool('REQUIRE_EMAIL_VERIFICATION', false),
    smtp: {
      host: env.string('SMTP_HOST', ''),
      port: smtpPort,
      tls: env.bool('SMTP_TLS', !smtpSsl),
      ssl: smtpSsl,
      user: env.string('SMTP_USER', ''),
      password: env.string('SMTP_PASSWORD', ''),
      fromEmail: env.email('EMAILS_FROM_EMAIL', 'noreply@example.com'),
      fromName: env.string('EMAILS_FROM_NAME', env.string('PROJECT_NAME', 'carbelsad')),
    },
    publicUrl: env.optionalUrl('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`,
    allowedOrigins: env.list('ALLOWED_ORIGINS', ['http://localhost:3000', 'http://localhost:8000']),
    trustProxy: parseTrustProxy(source.TRUST_PROXY),
    bodyLimit: env.int('BODY_LIMIT_BYTES', 1024 * 1024, { min: 1024, max: 100 * 1024 * 1024 }),
    wsRequireAuth: env.bool('WS_REQUIRE_AUTH', true),
    wsMessagesPerSecond: env.int('WS_MESSAGES_PER_SECOND', 20, { min: 1, max: 10_000 }),
    wsMaxConnections: env.int('WS_MAX_CONNECTIONS', 10_000, { min: 1, max: 1_000_000 }),
    wsSessionCheckIntervalMs: env.int('WS_SESSION_CHECK_INTERVAL_MS', 2000, { min: 10, max: 3_600_000 }),
    headersTimeoutMs: env.int('HEADERS_TIMEOUT_MS', 15_000, { min: 100, max: 600_000 }),
    requestTimeoutMs: env.int('REQUEST_TIMEOUT_MS', 30_000, { min: 100, max: 3_600_000 }),
    metricsToken: env.optionalString('METRICS_TOKEN'),
    tracing: tracingRequested(source),
    metricsPort: env.optionalString('METRICS_PORT') === undefined ? undefined : env.int('METRICS_PORT', 9464, { min: 1, max: 65535 }),
    maxEventLoopDelayMs: env.int('MAX_EVENT_LOOP_DELAY_MS', 0, { min: 0, max: 60_000 }),
    maxHeapUsedBytes: env.int('MAX_HEAP_USED_BYTES', 0, { min: 0, max: 64 * 1024 ** 3 }),
    // Up to a week: longer gaps would let expired rows pile up, and setInterval cannot wait past 24 days anyway.
    housekeepingIntervalMinutes: env.number('HOUSEKEEPING_INTERVAL_MINUTES', 60, { min: 0, max: 7 * 24 * 60 }),
    auditRetentionDays: env.number('AUDIT_RETENTION_DAYS', 365, { min: 1, max: 36_500 }),
    housekeepingBatchSize: env.int('HOUSEKEEPING_BATCH_SIZE', 1000, { min: 1, max: 100_000 }),
    webauthn: parseWebAuthn({
      rpId: env.optionalString('WEBAUTHN_RP_ID'),
      rpName: env.optionalString('WEBAUTHN_RP_NAME'),
      origins: env.optionalString('WEBAUTHN_ORIGINS') === undefined ? undefined : env.list('WEBAUTHN_ORIGINS', []),
      publicUrl: env.optionalUrl('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`,
      projectName: env.string('PROJECT_NAME', 'carbelsad'),
    }),
    emailLoginEnabled: env.bool('EMAIL_LOGIN_ENABLED', true),
    oauth: parseOAuthSettings(source),
  }
  if (config.smtp.ssl && config.smtp.tls && source.SMTP_TLS !== undefined && source.SMTP_SSL !== undefined) {
    throw new ConfigError('SMTP_TLS and SMTP_SSL are exclusive: STARTTLS (587) or implicit TLS (465), not both')
  }
  if (config.databaseUrl === undefined && config.workers > 1) {
    throw new ConfigError(
      'WORKERS > 1 needs DATABASE_URL and REDIS_URL: the embedded database and in-process stores belong to one process',
    )
  }
  // Below 0.6 s a run would start before the last one had a chance to finish; 0 is the way to turn it off.
  if (config.housekeepingIntervalMinutes > 0 && config.housekeepingIntervalMinutes < 0.01) {
    throw new ConfigError(`HOUSEKEEPING_INTERVAL_MINUTES must be 0 (off) or at least 0.01 (got ${config.housekeepingIntervalMinutes})`)
  }
  if (config.workers > 1 && config.redisUrl === undefined) {
    throw new ConfigError('WORKERS > 1 needs REDIS_URL so rate limits, revocations and WebSocket rooms are shared')
  }
  return deepFreeze(config)
}

function wrapConfigError<T>(name: string, fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof ConfigError && !error.message.startsWith(name)) throw new ConfigError(`${name}: ${error.message}`)
    throw error
  }
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === 'object') deepFreeze(inner as object)
  }
  return Object.freeze(value)
}

/** `.env` in the working directory, overridden by the real environment. */
export function readEnvironment(cwd = process.cwd()): EnvSource {
  const file = resolve(cwd, '.env')
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file)) : {}
  return { ...fromFile, ...process.env }
}
