// The second step of `npm run build:server`: bundles tsc's output (dist/) into dist/bundle/, what
// `npm start` and the Docker image run. Loading ~900 modules file by file (resolve, stat, read,
// compile each) was most of a start's time; the same code in a few files starts about 0.2 s sooner.
// tsc still type-checks and still writes dist/ whole: dist/scripts/*.js and dist/server.js run as before.
//
// Packages stay outside the bundle, loaded from node_modules as usual, when bundling would change them:
// - native or WebAssembly code, or files found next to their own sources: bcrypt, PGlite and its
//   socket server, BullMQ (Lua scripts), @fastify/swagger-ui (static assets), pino (transports run
//   its files in worker threads);
// - what tracing instruments as it loads (ioredis, the OpenTelemetry SDK), and openid-client, which
//   is loaded only when a sign-in provider starts.
// The bundle sits two folders below the root, as every compiled module does (dist/<folder>/x.js),
// so the paths the code finds from its own location (package.json, drizzle/, templates/, dist/web/)
// stay right. The embedded database's thread has its own entry, next to the code that starts it.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'

const ROOT = join(import.meta.dirname, '..')
const OUT = join(ROOT, 'dist/bundle')

const EXTERNAL = [
  'bcrypt',
  '@electric-sql/*',
  'bullmq',
  '@fastify/swagger-ui',
  'pino',
  'pino-pretty',
  'ioredis',
  '@opentelemetry/*',
  'openid-client',
]

rmSync(OUT, { recursive: true, force: true })
await build({
  absWorkingDir: ROOT,
  entryPoints: { server: 'dist/server.js', 'pglite-worker': 'dist/db/pglite-worker.js' },
  outdir: OUT,
  bundle: true,
  // Shared code and the modules the server imports on demand (the app after tracing starts, the
  // Redis cache, the job queue) become chunks loaded when first imported, as before.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // CommonJS packages inside an ES module bundle still call require() for Node's built-in modules.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  // Not keepNames: it redefines the name of every closure as it is made, per request too, and cost
  // 15 of health's 55 µs per request (measured). The price: a class esbuild renames (one that refers
  // to itself) logs err.type with a leading underscore (_DrizzleQueryError).
  // Stack traces name bundle lines; NODE_OPTIONS=--enable-source-maps maps them back to src/.
  sourcemap: 'linked',
  logLevel: 'warning',
})
