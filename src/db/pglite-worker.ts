/**
 * The embedded database's own thread: PGlite (PostgreSQL compiled to WebAssembly) runs here and
 * speaks the PostgreSQL wire protocol on a unix socket, so the app reaches it through postgres.js
 * exactly as it reaches a real server (one driver, one code path), and a slow query runs on this
 * thread instead of stalling every request and socket on the main one.
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs'
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
}

export type PgliteWorkerMessage = { type: 'ready' } | { type: 'failed'; message: string } | { type: 'closed' }

const options = workerData as PgliteWorkerData
if (!parentPort) throw new Error('pglite-worker must run in a worker thread')
const port = parentPort
const send = (message: PgliteWorkerMessage) => port.postMessage(message)

async function main() {
  if (!options.dataDir.startsWith('memory://')) mkdirSync(options.dataDir, { recursive: true })
  const db = await PGlite.create(options.dataDir, { postgresqlconf: options.settings })
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
