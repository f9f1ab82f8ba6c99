import cluster from 'node:cluster'
import { ConfigError, loadConfig, readEnvironment, type Config } from './config/config.js'
import { startEmbeddedServer } from './db/embedded-server.js'
import { startTracing, stopTracing } from './observability/tracing.js'
// Everything else (pino, the database driver, the app) is imported once the embedded database's
// thread has started: see startWorker.

const SHUTDOWN_GRACE_MS = 10_000

/** Process environment plus .env, read once: config and the tracing SDK both take their values from it. */
const environment = readEnvironment()

function readConfig(): Config {
  try {
    return loadConfig(environment)
  } catch (error) {
    if (error instanceof ConfigError) {
      // One clear line naming the variable, no stack: this is an operator's typo, not a bug.
      console.error(`configuration error: ${error.message}`)
      process.exit(1)
    }
    throw error
  }
}

async function startWorker(config: Config): Promise<void> {
  // Opening the embedded database (PostgreSQL starting in WebAssembly on its own thread) is the longest
  // part of a start: its thread starts first, and the app's modules load beside it.
  const embedded = config.databaseUrl ? undefined : startEmbeddedServer(config.dataDir)
  embedded?.catch(() => {})
  // Tracing patches http and ioredis as they load, so the app is imported only after it started.
  if (config.tracing) await startTracing(environment)
  const [{ default: pino }, { TurnBatchedDestination }, { openDatabase }] = await Promise.all([
    import('pino'),
    import('./lib/logger.js'),
    import('./db/database.js'),
  ])
  const opening = openDatabase(config, embedded)
  opening.catch(() => {})
  const { buildApp } = await import('./app.js')
  const pretty = config.debug && process.stdout.isTTY
  // Asynchronous stdout: under load, lines queued while a write is in flight go out together.
  const logStream = pretty ? undefined : new TurnBatchedDestination(pino.destination({ dest: 1, sync: false }))
  const app = await buildApp({ config, prettyLogs: pretty, openingDatabase: opening, ...(logStream ? { logger: logStream } : {}) })
  app.addHook('onClose', async () => {
    await stopTracing().catch((error: unknown) => app.log.warn({ err: error }, 'could not flush traces'))
    logStream?.flushSync()
  })
  if (config.secretKeyGenerated) {
    app.log.warn('SECRET_KEY is not set: using a random key for this process only; tokens die on restart (run: npm run setup:secret)')
  }

  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: finishing in-flight requests')
    const timer = setTimeout(() => {
      app.log.error('shutdown grace period passed; exiting')
      process.exit(1)
    }, SHUTDOWN_GRACE_MS)
    timer.unref()
    // Keep-alive sockets that finish their last response after close() began would otherwise idle
    // for keepAliveTimeout; closing idle ones as they appear lets the process exit promptly.
    setInterval(() => app.server.closeIdleConnections(), 100).unref()
    app
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        app.log.error({ err: error }, 'error during shutdown')
        process.exit(1)
      })
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))

  await app.listen({ host: config.host, port: config.port })
}

async function startPrimary(config: Config): Promise<void> {
  if (config.autoMigrate) {
    // Migrate once here, so N workers do not race to apply the same migration.
    const { createDatabase } = await import('./db/database.js')
    const database = await createDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: 1,
      prepare: config.databasePrepare,
      migrationUrl: config.databaseMigrationUrl,
    })
    await database.migrate().finally(() => database.close())
    process.env.AUTO_MIGRATE = 'false'
  }
  console.log(`starting ${config.workers} workers on ${config.host}:${config.port}`)
  let stopping = false
  for (let index = 0; index < config.workers; index += 1) cluster.fork()
  cluster.on('exit', (worker, code) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    console.error(`worker ${worker.process.pid} exited with ${code}; starting a new one`)
    cluster.fork()
  })
  const stop = (signal: NodeJS.Signals) => {
    stopping = true
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal)
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}

const config = readConfig()
if (cluster.isPrimary && config.workers > 1) {
  startPrimary(config).catch((error: unknown) => {
    console.error('failed to start:', error instanceof Error ? error.message : error)
    process.exit(1)
  })
} else {
  startWorker(config).catch((error: unknown) => {
    console.error('failed to start:', error instanceof Error ? error.message : error)
    process.exit(1)
  })
}
