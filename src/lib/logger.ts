import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import { stdSerializers } from 'pino'
import type { Config } from '../config/config.js'
import { traceIds } from '../observability/trace-context.js'

export interface LogDestination {
  write(line: string): void
}

interface FlushableDestination extends LogDestination {
  flushSync(): void
  flush?(callback: (error?: Error | null) => void): void
}

/**
 * Hands log lines to an asynchronous destination (pino's sonic-boom) once per event-loop turn, joined.
 * sonic-boom measures the byte length of its whole pending chunk on every write, and under load,
 * with a write in flight, that chunk holds the turn's earlier lines: each line paid for a copy of all
 * the lines before it, about 2 µs of a request (measured). Lines wait at most until the end of the
 * turn; `flushSync` (a fatal line, shutdown) and the process's exit write them out at once.
 */
export class TurnBatchedDestination implements FlushableDestination {
  #pending: string[] = []
  readonly #target: FlushableDestination
  readonly #drain = () => {
    if (this.#pending.length === 0) return
    const text = this.#pending.join('')
    this.#pending = []
    this.#target.write(text)
  }

  constructor(target: FlushableDestination) {
    this.#target = target
    // Whatever order the exit listeners run in, pending lines reach the file before the process ends.
    // Only when there are some: after a natural exit pino has already ended the target.
    process.on('exit', () => {
      if (this.#pending.length > 0) this.flushSync()
    })
  }

  write(line: string): void {
    if (this.#pending.length === 0) setImmediate(this.#drain)
    this.#pending.push(line)
  }

  flushSync(): void {
    this.#drain()
    this.#target.flushSync()
  }

  /** `logger.flush(callback)`: the callback runs once the pending lines, too, are written. */
  flush(callback: (error?: Error | null) => void = () => {}): void {
    this.#drain()
    if (this.#target.flush) this.#target.flush(callback)
    else callback()
  }
}

const SECRET_FIELDS = [
  'password',
  'current_password',
  'new_password',
  'access_token',
  'refresh_token',
  'challenge_token',
  'token',
  'code',
  'secret',
  'api_key',
  'key',
]

/** Paths whose values must never reach a log line: credentials, tokens, codes and passwords. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
]

/** Query parameters that carry secrets (the WebSocket handshake sends its token this way). */
const SECRET_QUERY = /([?&](?:token|access_token|api_key|code)=)[^&#]*/gi

export function maskUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[REDACTED]')
}

/**
 * Database errors quote the values they were given. Drizzle's read "Failed query: <sql>\nparams:
 * <values>", and the driver error it wraps ("caused by: invalid input syntax for type uuid: "<value>"")
 * quotes the offending value: emails, password hashes, token hashes. The SQL stays (it is what one
 * debugs with, and it only holds $1 placeholders); the values go.
 */
export function redactErrorText(text: string): string {
  const causeAt = text.indexOf('\ncaused by: ')
  const own = causeAt === -1 ? text : text.slice(0, causeAt)
  const cause = causeAt === -1 ? '' : text.slice(causeAt).replace(/^\ncaused by: [^\n]*/, (line) => line.replace(/"[^"\n]*"/g, '"[REDACTED]"'))
  return own.replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/, '\nparams: [REDACTED]') + cause
}

function serializeError(error: Error) {
  // Drizzle also attaches the values as `params`: dropped along with the text above.
  const { params: _params, validation, ...serialized } = stdSerializers.err(error)
  // Anything thrown may land here, not only Errors: only strings are rewritten.
  const clean = (value: unknown) => (typeof value === 'string' ? redactErrorText(value) : value) as string
  // A validation error's issues carry the rejected value (a password that was too short, say): only
  // where and why are kept.
  const issues = Array.isArray(validation)
    ? validation.map((issue: { keyword?: unknown; instancePath?: unknown; message?: unknown }) => ({
        keyword: issue.keyword,
        instancePath: issue.instancePath,
        message: issue.message,
      }))
    : undefined
  return { ...serialized, ...(issues ? { validation: issues } : {}), message: clean(serialized.message), stack: clean(serialized.stack) }
}

export function loggerOptions(config: Config, stream: LogDestination | undefined, pretty = false): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    // With tracing on, every line names its trace: a request's log lines and its spans share one id.
    ...(config.tracing ? { mixin: traceIds } : {}),
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    serializers: {
      err: serializeError,
      req: (request: { method: string; url: string; ip?: string }) => ({ method: request.method, url: maskUrl(request.url), ip: request.ip }),
    },
    ...(stream ? { stream } : {}),
    ...(pretty && !stream ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  } as FastifyServerOptions['logger']
}

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1]
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/**
 * request.log, made on the request's first log call. pino passes a child's bindings (the request id)
 * through every wildcard redaction path (`*.password`, ...) as it makes the child: about 1.3 µs of
 * every request, measured, while few requests ever log through request.log (the request line is
 * written by app.ts's own logger). The child is the same one Fastify would make, only later.
 */
class RequestLogger {
  #child: FastifyBaseLogger | undefined
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildOptions

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  #logger(): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  #log(level: Level, args: unknown[]): void {
    const logger = this.#logger()
    Reflect.apply(logger[level], logger, args)
  }

  get level(): string {
    return this.#child?.level ?? this.#options?.level ?? this.#parent.level
  }
  set level(level: string) {
    this.#logger().level = level
  }
  fatal(...args: unknown[]) {
    this.#log('fatal', args)
  }
  error(...args: unknown[]) {
    this.#log('error', args)
  }
  warn(...args: unknown[]) {
    this.#log('warn', args)
  }
  info(...args: unknown[]) {
    this.#log('info', args)
  }
  debug(...args: unknown[]) {
    this.#log('debug', args)
  }
  trace(...args: unknown[]) {
    this.#log('trace', args)
  }
  silent(...args: unknown[]) {
    this.#log('silent', args)
  }
  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options)
  }
}

export const requestLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, options) =>
  // The log methods take what pino's do and pass it on as it came; their overloads are pino's.
  new RequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger
