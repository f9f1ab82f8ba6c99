/**
 * The embedded database's own thread: PGlite (PostgreSQL compiled to WebAssembly) runs here and
 * speaks the PostgreSQL wire protocol on a unix socket, so the app reaches it through postgres.js
 * exactly as it reaches a real server (one driver, one code path), and a slow query runs on this
 * thread instead of stalling every request and socket on the main one.
 */
import { chmodSync, mkdirSync, openAsBlob, rmSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

export interface PgliteWorkerData {
  dataDir: string
  socketPath: string
  /** PostgreSQL settings; small buffers keep an idle embedded database light. */
  settings: string[]
  /** Clients allowed at once: the app's one connection, plus a few for psql or the benchmark. */
  maxConnections: number
  /**
   * File holding a PGlite dump (the tarball `PGlite.dumpDataDir()` returns, gzipped when the name
   * ends in .tgz or .tar.gz) that the new database starts as, instead of an empty cluster made by
   * initdb. Only for a database that does not exist yet: PGlite refuses to load a dump over one.
   */
  template?: string | undefined
}

export type PgliteWorkerMessage = { type: 'ready' } | { type: 'failed'; message: string } | { type: 'closed' }

const options = workerData as PgliteWorkerData
if (!parentPort) throw new Error('pglite-worker must run in a worker thread')
const port = parentPort
const send = (message: PgliteWorkerMessage) => port.postMessage(message)

/** PGlite tells a gzipped dump by its type, which a file's name gives in a browser. */
const openDump = (path: string) => openAsBlob(path, { type: /\.(tgz|tar\.gz)$/.test(path) ? 'application/x-gzip' : '' })

async function main() {
  if (!options.dataDir.startsWith('memory://')) mkdirSync(options.dataDir, { recursive: true })
  const loadDataDir = options.template === undefined ? undefined : await openDump(options.template)
  const db = await PGlite.create(options.dataDir, { postgresqlconf: options.settings, loadDataDir })
  // A socket left by a process that was killed would make listen() fail.
  rmSync(options.socketPath, { force: true })
  const server = new PGLiteSocketServer({ db, path: options.socketPath, maxConnections: options.maxConnections })
  await server.start()
  // The socket is a way into the database: only this user may connect, as only it may read the files.
  chmodSync(options.socketPath, 0o600)
  port.on('message', (message: { type?: string }) => {
    if (message.type !== 'close') return
    void (async () => {
      await server.stop().catch(() => {})
      await db.close().catch(() => {})
      rmSync(options.socketPath, { force: true })
      send({ type: 'closed' })
    })()
  })
  send({ type: 'ready' })
}

main().catch((error: unknown) => send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }))
