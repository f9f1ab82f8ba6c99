import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'
import { openDatabase, type Database, type Db } from '../db/database.js'

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
  /** A database the server began opening before building the app; the app owns it and closes it. */
  opening?: Promise<Database> | undefined
}

export default fp(
  async function databasePlugin(app: FastifyInstance, { config, database, opening }: DatabasePluginOptions) {
    const owned = database === undefined
    const opened = database ?? (await (opening ?? openDatabase(config)))
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
