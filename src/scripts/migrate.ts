/**
 * `npm run db:migrate` applies pending migrations; `npm run db:rollback` (`--rollback`) reverts the newest.
 * Uses DATABASE_URL when set, the embedded PGlite data directory otherwise.
 */
import { ConfigError, loadConfig } from '../config/config.js'
import { createDatabase } from '../db/database.js'
import { rollbackLastMigration } from '../db/rollback.js'

async function main(): Promise<void> {
  const config = loadConfig()
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 })
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
