// Builds only the parts of dist/ whose inputs changed since their last successful build, so `npm start`
// on an up-to-date tree goes straight to the server instead of paying 10-25 s of tsc and Vite.
// Plain JavaScript on purpose: it runs before anything is compiled, and without tsx.
//
// Each part has a stamp written after it built: the size and mtime of every input file at the moment
// the build began. A part is rebuilt when its output is missing, its last build failed, or any input
// was added, removed or touched since. A build made by `npm run build` has no stamp: it counts when
// its output is newer than every input. Stats only, no hashing: a few milliseconds for the whole tree.
//
//   node scripts/build-if-stale.mjs            build what is stale
//   node scripts/build-if-stale.mjs --check    say what is stale, build nothing (exit 1 if anything is)
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'

export const ROOT = resolve(import.meta.dirname, '..')

/**
 * The two parts of `npm run build`. package.json is an input of both: its "type" decides what tsc
 * emits under NodeNext, and its scripts are the build commands themselves.
 */
export const PARTS = [
  {
    name: 'server',
    script: 'build:server',
    inputs: ['src', 'tsconfig.json', 'scripts/bundle-server.mjs', 'package.json', 'package-lock.json'],
    // The bundle is written last (tsc, then scripts/bundle-server.mjs): it exists only if both steps ran.
    output: 'dist/bundle/server.js',
    stamp: 'dist/.build-stamp',
  },
  {
    name: 'console',
    script: 'build:web',
    // web/ holds the sources, its tsconfig, vite.config.ts and openapi.json; the build goes to dist/web.
    inputs: ['web', 'package.json', 'package-lock.json'],
    output: 'dist/web/index.html',
    // Inside dist/web so that wiping the console's output (Vite empties it on every build) drops the stamp too.
    // The server serves only dist/web/assets/, so the stamp is never public.
    stamp: 'dist/web/.build-stamp',
  },
]

function listFiles(root, path, into) {
  let stat
  try {
    stat = statSync(path)
  } catch {
    return into
  }
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path)) {
      if (entry === 'node_modules') continue
      listFiles(root, join(path, entry), into)
    }
  } else {
    into[relative(root, path).split(sep).join('/')] = `${stat.size}:${Math.trunc(stat.mtimeMs)}`
  }
  return into
}

/** Every input file of a part, by path relative to the root, with its size and mtime. */
export function inputsOf(part, root = ROOT) {
  const files = {}
  for (const input of part.inputs) listFiles(root, join(root, input), files)
  return files
}

const mtimeOf = (signature) => Number(signature.split(':')[1])

/** The part's stamp: `{ files }` after a build here, `{ failed: true }` after one failed, null when there is none. */
function readStamp(part, root) {
  try {
    return JSON.parse(readFileSync(join(root, part.stamp), 'utf8'))
  } catch {
    return null
  }
}

/** Why a part must be rebuilt, or null when it is up to date. */
export function staleReason(part, root = ROOT, current = inputsOf(part, root)) {
  if (!existsSync(join(root, part.output))) return `${part.output} is missing`
  const stamp = readStamp(part, root)
  if (!stamp) {
    // `npm run build` (the Dockerfile, peer benchmarks, a developer) writes no stamp; an output newer
    // than every input is that build's, so it is not done again.
    const builtAt = statSync(join(root, part.output)).mtimeMs
    const [newest, signature] = Object.entries(current).reduce((a, b) => (mtimeOf(b[1]) > mtimeOf(a[1]) ? b : a), ['', '0:0'])
    return mtimeOf(signature) < builtAt ? null : `no build stamp, and ${newest} is newer than ${part.output}`
  }
  if (stamp.failed) return 'its last build failed'
  const stamped = stamp.files ?? {}
  for (const [path, signature] of Object.entries(current)) {
    if (stamped[path] === undefined) return `${path} is new`
    if (stamped[path] !== signature) return `${path} changed`
  }
  for (const path of Object.keys(stamped)) {
    if (current[path] === undefined) return `${path} was removed`
  }
  return null
}

function writeStamp(part, root, content) {
  writeFileSync(join(root, part.stamp), `${JSON.stringify(content)}\n`)
}

let running = null

function runScript(script, root) {
  // `npm run` keeps package.json the one place that says how a part is built. Its output goes to
  // stderr: stdout belongs to the server's JSON log lines that follow.
  // Under `npm start` this is npm's own CLI; under `npx` it is npx's, which cannot run scripts.
  const npm = /npm-cli\.js$/.test(process.env.npm_execpath ?? '') ? process.env.npm_execpath : undefined
  const [command, args] = npm ? [process.execPath, [npm, 'run', script, '--silent']] : ['npm', ['run', script, '--silent']]
  return new Promise((done, fail) => {
    running = spawn(command, args, { cwd: root, stdio: ['ignore', 2, 2], shell: !npm && process.platform === 'win32' })
    running.once('error', fail)
    running.once('exit', (code, signal) => {
      running = null
      if (code === 0) done()
      else fail(new Error(`npm run ${script} failed (${signal ?? `exit code ${code}`})`))
    })
  })
}

/** Builds the stale parts, in order; resolves to the names of the parts it built. */
export async function buildIfStale({ root = ROOT, log = (line) => console.error(line), check = false } = {}) {
  const built = []
  const stale = []
  for (const part of PARTS) {
    // Taken before the build: a file saved while tsc runs leaves the stamp behind, so the next start rebuilds.
    const files = inputsOf(part, root)
    const reason = staleReason(part, root, files)
    if (!reason) {
      // Adopt a build made without the script, so later edits are compared file by file.
      if (!check && !readStamp(part, root)) writeStamp(part, root, { built_at: null, files })
      continue
    }
    stale.push(part.name)
    if (check) {
      log(`build: ${part.name} is out of date (${reason})`)
      continue
    }
    log(`build: ${part.name} is out of date (${reason}); running npm run ${part.script}`)
    const started = performance.now()
    try {
      await runScript(part.script, root)
    } catch (error) {
      // Without this, the failed build's newer output would pass for an up-to-date one next time.
      if (existsSync(dirname(join(root, part.stamp)))) writeStamp(part, root, { failed: true })
      throw error
    }
    writeStamp(part, root, { built_at: new Date().toISOString(), files })
    log(`build: ${part.name} built in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    built.push(part.name)
  }
  if (stale.length === 0) log(`build: up to date (${PARTS.map((part) => part.name).join(', ')})`)
  return check ? stale : built
}

/** A signal during a build stops the build too, instead of leaving tsc or Vite running without us. */
function stopOnSignal(signal) {
  running?.kill(signal)
  process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
}

export function watchSignalsDuringBuild() {
  process.on('SIGINT', stopOnSignal)
  process.on('SIGTERM', stopOnSignal)
  return () => {
    process.off('SIGINT', stopOnSignal)
    process.off('SIGTERM', stopOnSignal)
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const check = process.argv.includes('--check')
  const release = watchSignalsDuringBuild()
  buildIfStale({ check })
    .then((parts) => {
      release()
      process.exitCode = check && parts.length > 0 ? 1 : 0
    })
    .catch((error) => {
      console.error(`build: ${error.message}`)
      process.exit(1)
    })
}
