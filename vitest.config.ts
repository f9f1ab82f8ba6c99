import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Made once and reused: the databases tests start from (migrated), and the PGlite worker as JavaScript.
    globalSetup: ['test/setup/database-templates.ts'],
    testTimeout: 30_000,
    // Generous: opening a database in beforeAll can take tens of seconds on a loaded two-core machine.
    hookTimeout: 120_000,
    // Tests drive real servers and sockets; a stray handle should fail loudly, not hang CI.
    teardownTimeout: 10_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reportsDirectory: 'coverage',
      reporter: ['text-summary', 'json', 'json-summary'],
      // A red run still prints its coverage, so a failing CI log shows what the run reached.
      reportOnFailure: true,
      // The floor, set at the figures measured when it was added (83.6 / 71.3 / 81.6 / 80.1, embedded
      // pass): coverage may only go up. Raise it when a change adds tests; never lower it to let one through.
      thresholds: {
        lines: 83,
        branches: 71,
        functions: 81,
        statements: 80,
      },
    },
  },
})
