/**
 * The embedded database's own thread: PGlite (PostgreSQL compiled to WebAssembly) runs here and
 * speaks the PostgreSQL wire protocol on a unix socket, so the app reaches it through postgres.js
 * exactly as it reaches a real server (one driver, one code path), and a slow query runs on this
 * thread instead of stalling every request and socket on the main one.
 */
import { chmodSync, mkdirSync, openAsBlob, rmSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
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

/**
 * WebAssembly functions are compiled fast (Liftoff) first and optimised (TurboFan) once they have run
 * enough. With V8's default threshold, PostgreSQL's start-up alone optimises most of it: about 40 MB of
 * code an idle instance never needs, and this thread then waits about 0.2 s for those compile jobs
 * before it answers its first connection. A budget 500 times larger leaves start-up code unoptimised
 * (idle RSS about 30 MB lower, the first query 0.2 s sooner) and still optimises, within the first
 * seconds of load, the functions a steady load keeps running: admin-list throughput did not change.
 * Set before PGlite compiles its module. (The flag is process-wide; PGlite is the only WebAssembly the app runs.)
 */
setFlagsFromString('--wasm-tiering-budget=1000000000')

/**
 * PGlite hands a statement's answer over one protocol message at a time, and the socket server
 * writes each as it comes: five or more small writes, and as many wake-ups of the app, per query.
 * Collecting a statement's answer into one write (flushed early when it grows large) makes it one.
 */
const FLUSH_BYTES = 256 * 1024
function batchedAnswers(db: PGlite): PGlite {
  const stream = db.execProtocolRawStream.bind(db)
  return new Proxy(db, {
    get(target, property) {
      if (property !== 'execProtocolRawStream') {
        // Called on PGlite itself, not on this proxy: its own methods may use private state.
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      }
      return async (message: Uint8Array, streamOptions: Parameters<PGlite['execProtocolRawStream']>[1]) => {
        const deliver = streamOptions.onRawData
        let chunks: Uint8Array[] = []
        let size = 0
        const flush = () => {
          if (size === 0) return
          deliver(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
          chunks = []
          size = 0
        }
        try {
          await stream(message, {
            ...streamOptions,
            onRawData: (chunk: Uint8Array) => {
              // PGlite may reuse the memory behind a chunk once the callback returns: keep a copy.
              chunks.push(Uint8Array.prototype.slice.call(chunk))
              size += chunk.length
              if (size >= FLUSH_BYTES) flush()
            },
          })
        } finally {
          flush()
        }
      }
    },
  })
}

/** PGlite tells a gzipped dump by its type, which a file's name gives in a browser. */
const openDump = (path: string) => openAsBlob(path, { type: /\.(tgz|tar\.gz)$/.test(path) ? 'application/x-gzip' : '' })

async function main() {
  if (!options.dataDir.startsWith('memory://')) mkdirSync(options.dataDir, { recursive: true })
  const loadDataDir = options.template === undefined ? undefined : await openDump(options.template)
  const db = await PGlite.create(options.dataDir, { postgresqlconf: options.settings, loadDataDir })
  // A socket left by a process that was killed would make listen() fail.
  rmSync(options.socketPath, { force: true })
  const server = new PGLiteSocketServer({ db: batchedAnswers(db), path: options.socketPath, maxConnections: options.maxConnections })
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
