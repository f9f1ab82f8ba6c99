/**
 * `npm run housekeeping` runs the housekeeping pass once, now, and prints what it deleted. Uses DATABASE_URL
 * when set, the embedded PGlite data directory otherwise (stop the server first then: PGlite belongs to one
 * process). Safe next to running instances on PostgreSQL: rows they are deleting are skipped, not doubled.
 */
import { ConfigError, loadConfig } from '../config/config.js'
import { createDatabase } from '../db/database.js'
import { createAuditRepository } from '../modules/audit/audit-repository.js'
import { createHousekeepingService } from '../modules/housekeeping/housekeeping-service.js'

async function main(): Promise<void> {
  const config = loadConfig()
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1, prepare: config.databasePrepare })
  try {
    const service = createHousekeepingService({ db: database.db, config, audit: createAuditRepository(database.db), now: () => new Date() })
    const started = performance.now()
    const result = await service.run()
    const table = Object.entries(result.removed).map(([name, count]) => `  ${name.padEnd(18)} ${count}`)
    console.log(`housekeeping on ${database.kind}: ${result.total} rows deleted in ${Math.round(performance.now() - started)} ms\n${table.join('\n')}`)
  } finally {
    await database.close()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? `configuration error: ${error.message}` : error)
  process.exit(1)
})
