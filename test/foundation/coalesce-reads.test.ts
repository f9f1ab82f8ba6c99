import { describe, expect, it } from 'vitest'
import { coalesceReads } from '../../src/db/coalesce.js'

/** A read whose runs the test finishes by hand, in the order it chooses. */
function controlledRead() {
  const runs: Array<{ key: string; finish: (value: string) => void; fail: (reason: unknown) => void }> = []
  const read = (key: string) =>
    new Promise<string>((finish, fail) => {
      runs.push({ key, finish, fail })
    })
  return { runs, read: coalesceReads((key: string) => key, read) }
}

/** Lets the promise callbacks queued so far run. */
const settle = () => new Promise<void>((done) => setImmediate(done))

describe('coalesceReads', () => {
  it('gives a caller who asks during a run the next run, which starts when that one ends, not the run already going', async () => {
    const { runs, read } = controlledRead()
    const first = read('page')
    const second = read('page')
    const third = read('page')
    expect(runs).toHaveLength(1)

    runs[0]!.finish('read before the others asked')
    expect(await first).toBe('read before the others asked')
    await settle()
    // Only now, after everyone waiting had asked, does the read they share start.
    expect(runs).toHaveLength(2)
    runs[1]!.finish('read after they asked')
    expect(await second).toBe('read after they asked')
    expect(await third).toBe('read after they asked')
  })

  it('runs different keys apart and at once', async () => {
    const { runs, read } = controlledRead()
    const one = read('page 1')
    const two = read('page 2')
    expect(runs.map((run) => run.key)).toEqual(['page 1', 'page 2'])
    runs[1]!.finish('two')
    runs[0]!.finish('one')
    expect([await one, await two]).toEqual(['one', 'two'])
  })

  it('rejects only the callers of a failed run; those waiting get a run of their own', async () => {
    const { runs, read } = controlledRead()
    const failing = read('page')
    const waiting = read('page')
    runs[0]!.fail(new Error('connection lost'))
    await expect(failing).rejects.toThrow('connection lost')
    await settle()
    expect(runs).toHaveLength(2)
    runs[1]!.finish('recovered')
    expect(await waiting).toBe('recovered')
  })

  it('turns a read that throws before returning a promise into a rejection', async () => {
    const read = coalesceReads(
      (key: string) => key,
      (key: string): Promise<string> => {
        throw new Error(`cannot read ${key}`)
      },
    )
    await expect(read('page')).rejects.toThrow('cannot read page')
    // Nothing is left running: the next call runs (and fails) again rather than waiting forever.
    await expect(read('page')).rejects.toThrow('cannot read page')
  })

  it('keeps nothing once runs end: a later call starts a run at once', async () => {
    const { runs, read } = controlledRead()
    const first = read('page')
    runs[0]!.finish('first')
    await first
    await settle()
    const later = read('page')
    expect(runs).toHaveLength(2)
    runs[1]!.finish('later')
    expect(await later).toBe('later')
  })
})

describe('coalesceReads, when a run misbehaves', () => {
  it('gives the waiting callers a run of their own once the current run has taken maxWaitMs', async () => {
    const runs: Array<(value: string) => void> = []
    const read = coalesceReads(
      (key: string) => key,
      () => new Promise<string>((finish) => void runs.push(finish)),
      { maxWaitMs: 20 },
    )
    const hung = read('page')
    const waiting = read('page')
    await new Promise((done) => setTimeout(done, 40))
    // The hung run still holds its own caller; the waiter was handed a new run.
    expect(runs).toHaveLength(2)
    const later = read('page')
    runs[1]!('second run')
    expect(await waiting).toBe('second run')
    await settle()
    // The caller who came after the hand-over waits for the run after the second, not for the hung one.
    expect(runs).toHaveLength(3)
    runs[2]!('third run')
    expect(await later).toBe('third run')
    runs[0]!('hung run')
    expect(await hung).toBe('hung run')
  })

  it('accepts a read that answers with a plain value, and a key function that throws', async () => {
    const plain = coalesceReads((key: string) => key, ((key: string) => `value of ${key}`) as unknown as (key: string) => Promise<string>)
    expect(await Promise.all([plain('a'), plain('a')])).toEqual(['value of a', 'value of a'])
    expect(await plain('a')).toBe('value of a')
    const badKey = coalesceReads(
      (): string => {
        throw new Error('no key for this')
      },
      async () => 'never read',
    )
    await expect(badKey('a')).rejects.toThrow('no key for this')
  })

  it("runs the waiters' read in the first waiter's async context (its request's trace), not the previous run's", async () => {
    const { AsyncLocalStorage } = await import('node:async_hooks')
    const request = new AsyncLocalStorage<string>()
    const runs: Array<{ context: string | undefined; finish: (value: string) => void }> = []
    const read = coalesceReads(
      (key: string) => key,
      () => new Promise<string>((finish) => void runs.push({ context: request.getStore(), finish })),
    )
    const first = request.run('request 1', () => read('page'))
    const second = request.run('request 2', () => read('page'))
    const third = request.run('request 3', () => read('page'))
    runs[0]!.finish('one')
    await first
    await settle()
    expect(runs.map((run) => run.context)).toEqual(['request 1', 'request 2'])
    runs[1]!.finish('two')
    expect([await second, await third]).toEqual(['two', 'two'])
  })
})
