import { beforeEach, describe, it, type TestFunction } from 'vitest'
import { hasRedisServer, PG_BIN } from './processes.js'
import { usingPostgres, usingRedis } from './test-context.js'

/**
 * The one place that decides what happens to a test whose service is missing. Locally it is skipped,
 * so `npm test` works on a bare machine. With REQUIRE_SERVICES set (CI's real-services pass) it
 * fails instead: a suite that silently skips there would let a broken feature look green.
 */
export type Service = 'postgres' | 'redis' | 'pg-bin' | 'redis-server'

const available: Record<Service, boolean> = {
  postgres: usingPostgres,
  redis: usingRedis,
  'pg-bin': PG_BIN !== undefined,
  'redis-server': hasRedisServer,
}

const howToProvide: Record<Service, string> = {
  postgres: 'TEST_DATABASE_URL',
  redis: 'TEST_REDIS_URL',
  'pg-bin': 'TEST_PG_BIN',
  'redis-server': 'redis-server on PATH',
}

export const servicesRequired = ['1', 'true', 'yes', 'on'].includes((process.env.REQUIRE_SERVICES ?? '').toLowerCase())

export function missingServices(needs: readonly Service[]): Service[] {
  return needs.filter((service) => !available[service])
}

function missingError(missing: readonly Service[]): Error {
  return new Error(`REQUIRE_SERVICES is set but this test's services are missing: ${missing.map((service) => howToProvide[service]).join(', ')}`)
}

type SuiteFactory = (name: string, body: () => void) => void
type TestFactory = (name: string, fn: TestFunction, timeout?: number) => void

/** `describe` for a suite that needs these services: runs, skips, or (REQUIRE_SERVICES) fails every test. */
export function describeWith(...needs: Service[]): SuiteFactory {
  const missing = missingServices(needs)
  if (missing.length === 0) return (name, body) => describe(name, body)
  if (!servicesRequired) return (name, body) => describe.skip(name, body)
  // The suite is collected as usual, so each test keeps its name in the report and fails with the reason.
  return (name, body) =>
    describe(name, () => {
      beforeEach(() => {
        throw missingError(missing)
      })
      body()
    })
}

/** `it` for a test that needs these services: runs, skips, or (REQUIRE_SERVICES) fails. */
export function itWith(...needs: Service[]): TestFactory {
  const missing = missingServices(needs)
  if (missing.length === 0) return (name, fn, timeout) => it(name, fn, timeout)
  if (!servicesRequired) return (name, fn, timeout) => it.skip(name, fn, timeout)
  return (name) =>
    it(name, () => {
      throw missingError(missing)
    })
}

