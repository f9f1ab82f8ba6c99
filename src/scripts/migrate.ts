/**
 * `npm run db:migrate` applies pending migrations; `npm run db:rollback` (`--rollback`) reverts the newest.
 * Uses DATABASE_URL when set, the embedded PGlite data directory otherwise.
 */
import { ConfigError, loadConfig } from '../config/config.js'
import { createDatabase } from '../db/database.js'
import { rollbackLastMigration } from '../db/rollback.js'

async function main(): Promise<void> {
  const config = loadConfig()
  // The migration URL throughout: a rollback, like a migration, may need the direct connection past a pooler.
  const database = await createDatabase({ url: config.databaseMigrationUrl, dataDir: config.dataDir, poolSize: 1, prepare: config.databasePrepare })
  try {
    if (process.argv.includes('--rollback')) {
      const tag = await rollbackLastMigration(database.db)
      console.log(tag ? `rolled back ${tag} on ${database.kind}` : 'nothing to roll back')
    } else {
      await database.migrate()
      console.log(`migrations applied on ${database.kind}`)
    }
  } finally {
    await database.close()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? `configuration error: ${error.message}` : error)
  process.exit(1)
})
