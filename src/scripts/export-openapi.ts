/**
 * Writes the OpenAPI document to a file without starting a server, so the web console's typed
 * client can be regenerated from it (npm run api:types).
 * Usage: tsx src/scripts/export-openapi.ts [output path]
 */
import { writeFileSync } from 'node:fs'
import { buildApp } from '../app.js'
import { loadConfig } from '../config/config.js'
import { createDatabase } from '../db/database.js'

const output = process.argv[2] ?? 'web/openapi.json'
// DEBUG on so the dev-only routes (the mail outbox the console reads) are part of the document.
const config = loadConfig({ DEBUG: 'true', SECRET_KEY: 'openapi-export-only-'.padEnd(64, 'x') })
const database = await createDatabase({ dataDir: 'memory://' })
const app = await buildApp({ config, logger: false, database })
await app.ready()
writeFileSync(output, `${JSON.stringify(app.swagger(), null, 2)}\n`)
await app.close()
await database.close()
console.log(`OpenAPI document written to ${output}`)
