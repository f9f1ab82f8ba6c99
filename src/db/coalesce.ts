import { AsyncResource } from 'node:async_hooks'

/**
 * Identical reads that overlap in time, run as one.
 *
 * A caller that asks while the same read is already running does not get that run's answer: the run
 * may have started before the caller's own last write committed, and returning it would show the
 * caller data older than its write. It waits for the next run instead, which starts as soon as the
 * current one ends and answers every caller that arrived meanwhile. So every answer was read after
 * its caller asked (no caller sees less than a read of its own would), and any number of overlapping
 * identical reads cost about two queries at a time instead of one each.
 *
 * A run that hangs (a connection silently gone) must not hold everyone behind it: after `maxWaitMs`
 * the waiting callers get a run of their own, and the slow one answers only its own callers.
 *
 * `keyOf` must give different keys to calls that read different things: a run is made with the
 * arguments of the call that started it. Callers share the answer, so it must be treated as
 * read-only. Use it only for reads whose answer does not depend on who asks (access is checked before
 * the read), outside transactions.
 */
export function coalesceReads<TArgs, TResult>(
  keyOf: (args: TArgs) => string,
  read: (args: TArgs) => Promise<TResult>,
  { maxWaitMs = 1000 }: { maxWaitMs?: number } = {},
) {
  interface Waiting {
    promise: Promise<TResult>
    resolve: (value: TResult) => void
    reject: (reason: unknown) => void
    timer: NodeJS.Timeout
    /** The first waiter's async context: the run made for the waiters is traced under its request. */
    context: AsyncResource
  }
  interface Run {
    /** Callers waiting for the run after this one. */
    next?: Waiting | undefined
  }
  /** Per key, the newest run still in progress. */
  const latest = new Map<string, Run>()

  const start = (key: string, args: TArgs): Promise<TResult> => {
    const run: Run = {}
    latest.set(key, run)
    let answer: Promise<TResult>
    try {
      answer = Promise.resolve(read(args))
    } catch (error) {
      answer = Promise.reject(error)
    }
    const afterRun = () => {
      if (run.next) handOver(key, args, run)
      else if (latest.get(key) === run) latest.delete(key)
    }
    // Handles the rejection for this bookkeeping only; the run's own callers still receive it.
    answer.then(afterRun, afterRun)
    return answer
  }

  /** Starts the run the callers waiting on `run` are owed: when `run` ends, or when they waited too long. */
  const handOver = (key: string, args: TArgs, run: Run) => {
    const waiting = run.next
    if (!waiting) return
    run.next = undefined
    clearTimeout(waiting.timer)
    waiting.context.runInAsyncScope(() => start(key, args)).then(waiting.resolve, waiting.reject)
  }

  return (args: TArgs): Promise<TResult> => {
    let key: string
    try {
      key = keyOf(args)
    } catch (error) {
      return Promise.reject(error)
    }
    const run = latest.get(key)
    if (!run) return start(key, args)
    if (!run.next) {
      let resolve!: (value: TResult) => void
      let reject!: (reason: unknown) => void
      const promise = new Promise<TResult>((onValue, onError) => {
        resolve = onValue
        reject = onError
      })
      const timer = setTimeout(() => handOver(key, args, run), maxWaitMs)
      // A read that never ends must not keep the process alive either.
      timer.unref()
      run.next = { promise, resolve, reject, timer, context: new AsyncResource('coalesced-read') }
    }
    return run.next.promise
  }
}
