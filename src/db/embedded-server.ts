import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { PgliteWorkerData, PgliteWorkerMessage } from './pglite-worker.js'

/**
 * PostgreSQL settings of the embedded database. PGlite's WebAssembly memory only grows and the
 * buffer pool is touched whole at start, so the buffers are what even an idle instance keeps.
 * 8 MB of shared buffers (PostgreSQL's default is 128 MB) holds the hot pages of a development or
 * single-box database (1,000 users and their sessions take well under 1 MB); the data files are
 * in the operating system's page cache besides. WAL buffers are left at PostgreSQL's default
 * (1/32 of the shared buffers).
 */
const SETTINGS = ['shared_buffers = 8MB']
/** The app's connection, plus room for psql or the benchmark. */
const MAX_CONNECTIONS = 4
/** Unix socket paths are limited to about 100 bytes. */
const MAX_SOCKET_PATH = 100
const SOCKET_NAME = '.s.PGSQL.5432'

export interface EmbeddedServer {
  /** Unix socket speaking the PostgreSQL protocol. */
  readonly socketPath: string
  stop(): Promise<void>
}

export interface EmbeddedServerOptions {
  /**
   * File holding a PGlite dump (the tarball `PGlite.dumpDataDir()` returns, gzipped when the name ends
   * in .tgz or .tar.gz) that a new database starts as: no initdb, and whatever the dump holds (applied migrations, say) is there from the start. A
   * data directory that already holds a database opens as it is, and the dump is not read.
   */
  template?: string | undefined
}

/** The TypeScript worker, next to this file when it runs from sources. */
export const WORKER_SOURCE = new URL('./pglite-worker.ts', import.meta.url)

/**
 * Where a JavaScript copy of the worker made from exactly `source` (its text) is looked for: named by
 * the text's hash, so a copy can never stand in for a worker that has changed since.
 */
export function transpiledWorkerUrl(source: string | Buffer): URL {
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16)
  return new URL(`../../node_modules/.cache/carbelsad/pglite-worker-${hash}.mjs`, WORKER_SOURCE)
}

/**
 * The thread's JavaScript only passes protocol bytes between the socket and PGlite: short-lived
 * buffers, for which a 4 MB young generation is plenty (V8's default grows to 16 MB or more, which an
 * idle instance then keeps: about 10 MB of resident memory, measured).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 }

/**
 * Starts the thread that runs PGlite (see pglite-worker.ts). From the compiled app it loads the
 * compiled worker. From sources (tests, `tsx`) it loads a JavaScript copy of the TypeScript worker
 * when one matches it (the test run makes one, see test/setup/), else the TypeScript itself through
 * tsx's loader, which costs each thread most of a second to start.
 */
function spawnWorker(data: PgliteWorkerData): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(new URL('./pglite-worker.js', here), { workerData: data, resourceLimits: WORKER_LIMITS })
  const copy = transpiledWorkerUrl(readFileSync(WORKER_SOURCE))
  if (existsSync(copy)) return new Worker(copy, { workerData: data, resourceLimits: WORKER_LIMITS })
  const tsx = new URL('../../node_modules/tsx/dist/esm/api/index.mjs', here).href
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_SOURCE.href)}) })`
  return new Worker(bootstrap, { eval: true, workerData: data })
}

function waitFor(worker: Worker, wanted: PgliteWorkerMessage['type'], what: string): Promise<void> {
  return new Promise((done, fail) => {
    const cleanup = () => {
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
    }
    const onMessage = (message: PgliteWorkerMessage) => {
      if (message.type === wanted) {
        cleanup()
        done()
      } else if (message.type === 'failed') {
        cleanup()
        fail(new Error(`${what}: ${message.message}`))
      }
    }
    const onError = (error: Error) => {
      cleanup()
      fail(new Error(`${what}: ${error.message}`))
    }
    const onExit = (code: number) => {
      cleanup()
      fail(new Error(`${what}: the database thread exited (${code})`))
    }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
  })
}

async function start(data: PgliteWorkerData): Promise<Worker> {
  const worker = spawnWorker(data)
  try {
    await waitFor(worker, 'ready', 'the embedded database did not open')
  } catch (error) {
    await worker.terminate()
    throw error
  }
  return worker
}

async function stop(worker: Worker): Promise<void> {
  const closed = waitFor(worker, 'closed', 'closing the embedded database').catch(() => {})
  worker.postMessage({ type: 'close' })
  await Promise.race([closed, new Promise((done) => setTimeout(done, 5000).unref())])
  await worker.terminate()
}

/** Opens the embedded database in its own thread; `dataDir` `memory://` keeps nothing. */
export async function startEmbeddedServer(dataDir: string, options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const inMemory = dataDir.startsWith('memory://')
  const directory = inMemory ? dataDir : resolve(dataDir)
  // The socket sits beside the data (psql -h <DATA_DIR> reaches it) unless the path would be too long.
  const beside = inMemory ? undefined : join(directory, SOCKET_NAME)
  const scratch = beside && beside.length <= MAX_SOCKET_PATH ? undefined : mkdtempSync(join(tmpdir(), 'carbelsad-pglite-'))
  const socketPath = scratch ? join(scratch, SOCKET_NAME) : (beside as string)
  const data: PgliteWorkerData = { dataDir: directory, socketPath, settings: SETTINGS, maxConnections: MAX_CONNECTIONS }

  const created = inMemory || !existsSync(join(directory, 'PG_VERSION'))
  const template = created ? options.template : undefined
  let worker = await start({ ...data, template })
  if (created && !inMemory && template === undefined) {
    // Creating the cluster (initdb) leaves hundreds of MB in WebAssembly memory, which never shrinks:
    // a new thread on the finished cluster starts light.
    await stop(worker)
    worker = await start(data)
  }
  return {
    socketPath,
    async stop() {
      await stop(worker)
      if (scratch) rmSync(scratch, { recursive: true, force: true })
    },
  }
}
