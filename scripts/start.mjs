// `npm start`: build what is stale (usually nothing), then become the server in this same process.
// Importing the server here, rather than `… && node dist/bundle/server.js`, saves a second Node start-up
// and, with `exec` in the npm script, keeps a shell out of the signal path: npm forwards SIGTERM/SIGINT
// straight to this process, which is the server, and it shuts down gracefully. (Without `exec`, dash
// dies of the signal and leaves the server running.)
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { buildIfStale, ROOT, watchSignalsDuringBuild } from './build-if-stale.mjs'

const release = watchSignalsDuringBuild()
try {
  await buildIfStale()
} catch (error) {
  console.error(`build: ${error.message}`)
  process.exit(1)
}
// The server installs its own shutdown handlers; ours must not exit under it.
release()

// The bundled server (scripts/bundle-server.mjs): the same code as dist/server.js, in a few files.
const server = join(ROOT, 'dist/bundle/server.js')
// With WORKERS > 1, cluster.fork() starts process.argv[1] again: the workers should run the server
// itself, not repeat the build check.
process.argv[1] = server
await import(pathToFileURL(server).href)
