import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests drive real servers and sockets; a stray handle should fail loudly, not hang CI.
    teardownTimeout: 10_000,
  },
})
