import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api'
import type { Sql } from 'postgres'

/**
 * Client spans for SQL. OpenTelemetry instruments the `pg` driver, not postgres.js (which serves both
 * PostgreSQL and the embedded database), so it is wrapped here: every query Drizzle sends for a traced request gets a span under
 * the request's span, named for its operation and carrying the parameterised SQL (values never leave).
 */

const tracer = trace.getTracer('carbelsad-db')

export interface DbSpanAttributes {
  system: 'postgresql'
  database: string
  host?: string
  port?: number
}

/**
 * Only queries made on behalf of a traced request get a span: background work (the WebSocket
 * session check every 2 s, mail jobs) would otherwise start a fresh root trace per query.
 */
function startQuerySpan(query: string, attributes: DbSpanAttributes): Span | undefined {
  if (!trace.getSpan(context.active())) return undefined
  const operation = /^\s*(\w+)/.exec(query)?.[1]?.toUpperCase() ?? 'QUERY'
  return tracer.startSpan(`${operation} ${attributes.database}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'db.system.name': attributes.system,
      'db.namespace': attributes.database,
      'db.operation.name': operation,
      'db.query.text': query.length > 2000 ? `${query.slice(0, 2000)}…` : query,
      ...(attributes.host ? { 'server.address': attributes.host } : {}),
      ...(attributes.port ? { 'server.port': attributes.port } : {}),
    },
  })
}

/**
 * A failed query is marked with its SQLSTATE only. PostgreSQL's messages quote the offending value
 * (`invalid input syntax for type uuid: "…"`), and values must not leave the process.
 */
function endSpan(span: Span | undefined, error?: unknown): void {
  if (!span) return
  if (error !== undefined) {
    const code = (error as { code?: unknown }).code
    span.setAttribute('error.type', typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown')
    if (typeof code === 'string') span.setAttribute('db.response.status_code', code)
    span.setStatus({ code: SpanStatusCode.ERROR })
  }
  span.end()
}

/**
 * postgres.js queries are lazy promises: they run when first awaited, and `.values()` may be
 * chained before that. Hooking `then` ends the span when the query settles without starting it early.
 */
function endWhenSettled<T extends PromiseLike<unknown>>(pending: T, span: Span | undefined): T {
  if (!span) return pending
  const originalThen = pending.then
  let observed = false
  Object.defineProperty(pending, 'then', {
    configurable: true,
    writable: true,
    value(this: T, onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) {
      if (!observed) {
        observed = true
        originalThen.call(this, () => endSpan(span), (error: unknown) => endSpan(span, error))
      }
      return originalThen.call(this, onFulfilled, onRejected)
    },
  })
  return pending
}

type Callback = (...args: unknown[]) => unknown

/** Wraps a postgres.js client (and the transaction clients it hands out) so every query is traced. */
export function tracePostgres<T extends Sql>(sql: T, attributes: DbSpanAttributes): T {
  return new Proxy(sql, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      if (property === 'unsafe') {
        return (query: string, ...rest: unknown[]) =>
          endWhenSettled((value as Callback).call(target, query, ...rest) as PromiseLike<unknown>, startQuerySpan(query, attributes))
      }
      if (property === 'begin' || property === 'savepoint') {
        return (...args: unknown[]) => {
          const body = args.pop() as (transaction: Sql) => unknown
          return (value as Callback).call(target, ...args, (transaction: Sql) => body(tracePostgres(transaction, attributes)))
        }
      }
      return value
    },
  })
}
