/**
 * Vitest global setup: what every test database would otherwise rebuild on its own, made once.
 *
 * - On PGlite (no TEST_DATABASE_URL), two dumps of a new cluster, one as initdb leaves it and one with
 *   every migration applied, that test databases start from (test-context.ts): initdb takes seconds of
 *   CPU, a dump loads in a fraction of that.
 * - On PostgreSQL, a migrated database that test databases are created from (`create database ...
 *   template`), instead of each running the migrations.
 * - A JavaScript copy of the PGlite worker, which embedded-server.ts loads instead of registering tsx
 *   in every database thread (most of a second each).
 *
 * Each is named after what it is built from (the worker's source; PGlite's version and the migrations)
 * and kept (in node_modules/.cache/carbelsad/, or on the server), so a later run reuses it and a change
 * to any of those makes a new one. Each is made under a temporary name and renamed, so runs at the same
 * time never use a half-made one.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'
import postgres from 'postgres'
import type { TestProject } from 'vitest/node'
import { createDatabase, MIGRATIONS_FOLDER, stripPoolerFlag } from '../../src/db/database.js'
import { transpiledWorkerUrl, WORKER_SOURCE } from '../../src/db/embedded-server.js'

export interface EmbeddedTemplates {
  /** A cluster as initdb leaves it, without migrations. */
  empty: string
  /** The same with every migration in drizzle/ applied. */
  migrated: string
}

declare module 'vitest' {
  interface ProvidedContext {
    /** Files holding PGlite dumps that embedded test databases start from; undefined on PostgreSQL. */
    embeddedTemplates: EmbeddedTemplates | undefined
    /** On PostgreSQL (TEST_DATABASE_URL), a migrated database that test databases are created from. */
    postgresTemplate: string | undefined
  }
}

const root = resolve(import.meta.dirname, '../..')
const CACHE = join(root, 'node_modules/.cache/carbelsad')
const TEMPLATES_PREFIX = 'pglite-templates-'
/** Templates of older migrations are removed once this old; a run still using one has long finished. */
const STALE_AFTER_MS = 24 * 60 * 60 * 1000

/**
 * Writes the JavaScript copy of the worker where embedded-server.ts looks for it. A worker that
 * imported a module of ours could not be loaded from the copy's folder: then none is written, and the
 * worker goes on loading through tsx.
 */
async function transpileWorker(): Promise<void> {
  const source = readFileSync(WORKER_SOURCE)
  const target = fileURLToPath(transpiledWorkerUrl(source))
  if (existsSync(target)) return
  const { default: ts } = await import('typescript')
  const { outputText } = ts.transpileModule(source.toString(), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    fileName: fileURLToPath(WORKER_SOURCE),
  })
  if (/(from|import)\s*\(?\s*['"]\.{1,2}\//.test(outputText)) return
  mkdirSync(dirname(target), { recursive: true })
  const partial = `${target}.${process.pid}.tmp`
  writeFileSync(partial, outputText)
  renameSync(partial, target)
}

/** Names what a template holds: PGlite's version (its initdb) and every file of the migrations folder. */
function templatesKey(): string {
  const hash = createHash('sha256')
  hash.update(readFileSync(join(root, 'node_modules/@electric-sql/pglite/package.json')))
  const files = readdirSync(MIGRATIONS_FOLDER, { recursive: true, encoding: 'utf8' }).sort()
  for (const file of files) {
    const path = join(MIGRATIONS_FOLDER, file)
    if (statSync(path).isFile()) hash.update(`\0${file}\0`).update(readFileSync(path))
  }
  return hash.digest('hex').slice(0, 16)
}

/**
 * On PostgreSQL: a database with every migration applied, which `create database ... template` copies
 * in a fraction of the time the migrations take. It stays on the server for later runs, named by the
 * migrations it holds; it is made under a name of its own and renamed, so a run at the same time that
 * made it first wins and this one's copy is dropped.
 */
async function postgresTemplate(adminUrl: string): Promise<string | undefined> {
  // A pooler (pgbouncer=true) keeps connections to the template open, and PostgreSQL copies no
  // database that has any: there, test databases are migrated one by one.
  const { url, pgbouncer } = stripPoolerFlag(adminUrl)
  if (pgbouncer) return undefined
  const name = `carbelsad_template_${templatesKey()}`
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  try {
    if ((await admin`select 1 from pg_database where datname = ${name}`).length > 0) return name
    const partial = `${name}_${randomBytes(4).toString('hex')}`
    await admin.unsafe(`create database ${partial}`)
    try {
      const target = new URL(url)
      target.pathname = `/${partial}`
      const database = await createDatabase({ url: target.toString(), poolSize: 1 })
      try {
        await database.migrate()
      } finally {
        await database.close()
      }
      await admin.unsafe(`alter database ${partial} rename to ${name}`)
    } catch (error) {
      await admin.unsafe(`drop database if exists ${partial} with (force)`)
      if ((await admin`select 1 from pg_database where datname = ${name}`).length === 0) throw error
    }
    return name
  } finally {
    await admin.end()
  }
}

async function dump(db: PGlite, file: string): Promise<void> {
  // A checkpoint first, so that a database started from the dump has no WAL to replay.
  await db.exec('checkpoint')
  // Gzipped: a tenth of the size, and PGlite reads the small file and unzips it faster than it reads the whole.
  writeFileSync(file, Buffer.from(await (await db.dumpDataDir('gzip')).arrayBuffer()))
}

async function buildTemplates(directory: string): Promise<void> {
  const db = await PGlite.create('memory://')
  try {
    await dump(db, join(directory, 'empty.tar.gz'))
    // The migrator the app uses (drizzle-orm/postgres-js) and this one run the same SQL and record it the same way.
    await migrate(drizzle(db), { migrationsFolder: MIGRATIONS_FOLDER })
    await dump(db, join(directory, 'migrated.tar.gz'))
  } finally {
    await db.close()
  }
}

function removeStaleTemplates(keep: string): void {
  for (const name of readdirSync(CACHE)) {
    const path = join(CACHE, name)
    if (name.startsWith(TEMPLATES_PREFIX) && path !== keep && Date.now() - statSync(path).mtimeMs > STALE_AFTER_MS) {
      rmSync(path, { recursive: true, force: true })
    }
  }
}

async function templates(): Promise<EmbeddedTemplates> {
  const directory = join(CACHE, `${TEMPLATES_PREFIX}${templatesKey()}`)
  if (!existsSync(directory)) {
    mkdirSync(CACHE, { recursive: true })
    const partial = mkdtempSync(`${directory}.tmp-`)
    try {
      await buildTemplates(partial)
      renameSync(partial, directory)
    } catch (error) {
      rmSync(partial, { recursive: true, force: true })
      // Another run finished the same templates first.
      if (!existsSync(directory)) throw error
    }
    removeStaleTemplates(directory)
  }
  return { empty: join(directory, 'empty.tar.gz'), migrated: join(directory, 'migrated.tar.gz') }
}

export default async function setup(project: TestProject): Promise<void> {
  await transpileWorker()
  const postgresUrl = process.env.TEST_DATABASE_URL || undefined
  project.provide('embeddedTemplates', postgresUrl ? undefined : await templates())
  project.provide('postgresTemplate', postgresUrl ? await postgresTemplate(postgresUrl) : undefined)
}
