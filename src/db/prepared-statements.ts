import type { Sql } from 'postgres'

type Callback = (...args: unknown[]) => unknown

/**
 * Drizzle runs every query through postgres.js's `unsafe(text, params, { prepare: false })` unless the
 * query was given a name with `.prepare(name)`. An unnamed statement with parameters costs postgres.js
 * two round trips (describe, then execute) and PostgreSQL a parse and a plan on every call. Asking for
 * `prepare: true` makes each connection prepare a query text once and reuse it; postgres.js still sends
 * nothing prepared when the pool was opened with `prepare: false` (a transaction pooler), and prepares
 * again by itself when a migration invalidates a cached plan.
 */
export function preparedStatements<T extends Sql>(sql: T): T {
  return new Proxy(sql, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      if (property === 'unsafe') {
        return (query: string, args?: unknown[], options?: Record<string, unknown>) =>
          (value as Callback).call(target, query, args ?? [], { ...options, prepare: true })
      }
      if (property === 'begin' || property === 'savepoint') {
        return (...args: unknown[]) => {
          const body = args.pop() as (transaction: Sql) => unknown
          return (value as Callback).call(target, ...args, (transaction: Sql) => body(preparedStatements(transaction)))
        }
      }
      return value
    },
  })
}
