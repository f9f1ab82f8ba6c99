/**
 * `npm run test:coverage`, second step: Vitest measures the code that runs inside its workers, but the
 * server and the npm scripts also run as child processes (shutdown, tracing and scripts tests). Those
 * children write raw V8 coverage (NODE_V8_COVERAGE, see spawnTsx in test/helpers/processes.ts); this
 * maps it back to the TypeScript lines through tsx's source maps and prints line coverage of `src/`
 * with and without it.
 *
 * Lines only: V8 reports byte ranges of the transpiled code, and a source map ties them to lines
 * reliably, while statements, branches and functions would need tsx's exact output to be rebuilt.
 *
 * Usage: tsx test/tools/merge-spawned-coverage.ts <coverage dir> (with coverage-final.json and spawned/).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

interface IstanbulFile {
  statementMap: Record<string, { start: { line: number } }>
  s: Record<string, number>
}
interface V8Range {
  startOffset: number
  endOffset: number
  count: number
}
interface V8Script {
  url: string
  functions: { ranges: V8Range[] }[]
}
interface V8File {
  result: V8Script[]
  'source-map-cache'?: Record<string, { lineLengths: number[]; data: { mappings: string } | null }>
}

const root = resolve(import.meta.dirname, '../..')
const srcDir = join(root, 'src')
const reportDir = resolve(process.argv[2] ?? 'coverage')
const spawnedDir = join(reportDir, 'spawned')

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** Source-map segments as [generated line, generated column, original line], all 0-based. */
function segments(mappings: string): [number, number, number][] {
  const out: [number, number, number][] = []
  // Each field is a delta from its previous value; only the generated column restarts on each line.
  let sourceLine = 0
  mappings.split(';').forEach((line, generatedLine) => {
    let generatedColumn = 0
    for (const segment of line.split(',')) {
      if (!segment) continue
      const values: number[] = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = BASE64.indexOf(char)
        value += (digit & 31) << shift
        if (digit & 32) {
          shift += 5
        } else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      generatedColumn += values[0] ?? 0
      if (values.length < 4) continue
      sourceLine += values[2]!
      out.push([generatedLine, generatedColumn, sourceLine])
    }
  })
  return out
}

/** The count V8 gives an offset: that of the innermost range holding it (block coverage nests ranges). */
function countAt(ranges: readonly V8Range[], offset: number): number {
  let best: V8Range | undefined
  for (const range of ranges) {
    if (range.startOffset <= offset && offset < range.endOffset && (!best || range.endOffset - range.startOffset < best.endOffset - best.startOffset)) best = range
  }
  return best?.count ?? 0
}

/** Lines of each src/ file (1-based) that ran in a spawned process. */
function spawnedLines(): Map<string, Set<number>> {
  const covered = new Map<string, Set<number>>()
  if (!existsSync(spawnedDir)) return covered
  for (const name of readdirSync(spawnedDir).filter((file) => file.endsWith('.json'))) {
    const raw = JSON.parse(readFileSync(join(spawnedDir, name), 'utf8')) as V8File
    const maps = raw['source-map-cache'] ?? {}
    for (const script of raw.result) {
      if (!script.url.startsWith('file://') || !script.url.endsWith('.ts')) continue
      const path = fileURLToPath(script.url)
      const map = maps[script.url]
      if (!path.startsWith(`${srcDir}/`) || !map?.data) continue
      const lineStarts: number[] = []
      let offset = 0
      for (const length of map.lineLengths) {
        lineStarts.push(offset)
        offset += length + 1
      }
      const ranges = script.functions.flatMap((fn) => fn.ranges)
      const lines = covered.get(path) ?? new Set<number>()
      for (const [generatedLine, generatedColumn, sourceLine] of segments(map.data.mappings)) {
        if (countAt(ranges, (lineStarts[generatedLine] ?? 0) + generatedColumn) > 0) lines.add(sourceLine + 1)
      }
      covered.set(path, lines)
    }
  }
  return covered
}

/** Istanbul's line coverage: a line counts when a statement starts on it, and is covered when one of those ran. */
function lineTotals(files: Record<string, IstanbulFile>, extra: Map<string, Set<number>>) {
  let total = 0
  let covered = 0
  const perFile: { file: string; before: number; after: number; total: number }[] = []
  for (const [file, coverage] of Object.entries(files)) {
    const lines = new Map<number, boolean>()
    for (const [id, statement] of Object.entries(coverage.statementMap)) {
      const line = statement.start.line
      lines.set(line, (lines.get(line) ?? false) || (coverage.s[id] ?? 0) > 0)
    }
    const added = extra.get(file)
    let before = 0
    let after = 0
    for (const [line, ran] of lines) {
      if (ran) before += 1
      if (ran || added?.has(line)) after += 1
    }
    total += lines.size
    covered += after
    if (after > before) perFile.push({ file: relative(root, file), before, after, total: lines.size })
  }
  return { total, covered, perFile }
}

const finalPath = join(reportDir, 'coverage-final.json')
if (!existsSync(finalPath)) {
  console.error(`no ${finalPath}: run vitest with --coverage first`)
  process.exit(1)
}
const files = JSON.parse(readFileSync(finalPath, 'utf8')) as Record<string, IstanbulFile>
const inProcess = lineTotals(files, new Map())
const merged = lineTotals(files, spawnedLines())
const percent = (part: number, whole: number) => `${((100 * part) / Math.max(whole, 1)).toFixed(2)}%`

console.log('\n=============== Coverage with spawned processes ================')
console.log(`Lines in the test processes only : ${percent(inProcess.covered, inProcess.total)} ( ${inProcess.covered}/${inProcess.total} )`)
console.log(`Lines with server/script children: ${percent(merged.covered, merged.total)} ( ${merged.covered}/${merged.total} )`)
for (const { file, before, after, total } of merged.perFile.sort((a, b) => b.after - b.before - (a.after - a.before))) {
  console.log(`  ${file}: ${before} -> ${after} of ${total} lines`)
}
console.log('================================================================')
writeFileSync(
  join(reportDir, 'lines-with-spawned.json'),
  JSON.stringify({ inProcess: { covered: inProcess.covered, total: inProcess.total }, withSpawned: { covered: merged.covered, total: merged.total } }, null, 2),
)
