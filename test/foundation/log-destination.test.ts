import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { TurnBatchedDestination } from '../../src/lib/logger.js'

const root = resolve(import.meta.dirname, '../..')

function recordingTarget() {
  const writes: string[] = []
  const target = {
    writes,
    flushes: 0,
    write: (text: string) => void writes.push(text),
    flushSync: () => {
      target.flushes += 1
    },
  }
  return target
}

describe('TurnBatchedDestination (the server’s stdout log destination)', () => {
  it('hands a turn’s lines to the target as one write, in order, once the turn ends', async () => {
    const target = recordingTarget()
    const destination = new TurnBatchedDestination(target)
    destination.write('a\n')
    destination.write('b\n')
    destination.write('c\n')
    expect(target.writes).toEqual([])
    await new Promise((next) => setImmediate(next))
    expect(target.writes).toEqual(['a\nb\nc\n'])
    destination.write('d\n')
    await new Promise((next) => setImmediate(next))
    expect(target.writes).toEqual(['a\nb\nc\n', 'd\n'])
  })

  it('writes pending lines at once on flushSync, then flushes the target', () => {
    const target = recordingTarget()
    const destination = new TurnBatchedDestination(target)
    destination.write('a\n')
    destination.flushSync()
    expect(target.writes).toEqual(['a\n'])
    expect(target.flushes).toBe(1)
  })

  it('writes pending lines before a flush calls back', async () => {
    const target = recordingTarget()
    const destination = new TurnBatchedDestination(target)
    destination.write('a\n')
    const flushed = new Promise<string[]>((resolve) => destination.flush(() => resolve([...target.writes])))
    expect(await flushed).toEqual(['a\n'])
  })

  // A real process on pino's asynchronous stdout: a line logged just before process.exit() is not lost,
  // nor is one logged before the event loop runs dry.
  for (const ending of ['process.exit(3)', '']) {
    it(`loses no line when the process ends ${ending ? 'with process.exit()' : 'by itself'}`, () => {
      const code = `
        import pino from 'pino'
        import { TurnBatchedDestination } from './src/lib/logger.ts'
        const log = pino({}, new TurnBatchedDestination(pino.destination({ dest: 1, sync: false })))
        for (let index = 0; index < 500; index += 1) log.info({ index }, 'line')
        log.info('last line')
        ${ending}`
      let stdout: string
      try {
        stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' })
      } catch (error) {
        stdout = (error as { stdout: string; status: number }).stdout
        expect((error as { status: number }).status).toBe(3)
      }
      const lines = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { msg: string; index?: number })
      expect(lines).toHaveLength(501)
      expect(lines.at(-1)?.msg).toBe('last line')
      expect(lines.slice(0, 500).map((line) => line.index)).toEqual([...Array(500).keys()])
    })
  }
})
