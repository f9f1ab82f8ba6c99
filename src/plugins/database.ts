import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'
import { createDatabase, type Database, type Db } from '../db/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: Database
    db: Db
  }
}

export interface DatabasePluginOptions {
  config: Config
  /** An already open database (tests, scripts); the plugin then leaves closing it to the owner. */
  database?: Database | undefined
}

export default fp(
  async function databasePlugin(app: FastifyInstance, { config, database }: DatabasePluginOptions) {
    const owned = database === undefined
    const opened =
      database ??
      (await createDatabase({
        url: config.databaseUrl,
        dataDir: config.dataDir,
        poolSize: config.databasePoolSize,
        timeoutSeconds: config.databaseTimeoutSeconds,
        tracing: config.tracing,
        prepare: config.databasePrepare,
        migrationUrl: config.databaseMigrationUrl,
      }))
    if (config.autoMigrate) {
      await opened.migrate()
      app.log.info({ database: opened.kind }, 'migrations applied')
    }
    app.decorate('database', opened)
    app.decorate('db', opened.db)
    if (owned) app.addHook('onClose', () => opened.close())
  },
  { name: 'database' },
)
