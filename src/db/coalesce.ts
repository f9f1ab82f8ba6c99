/**
 * Identical reads that overlap in time, run as one.
 *
 * A caller that asks while the same read is already running does not get that run's answer: the run
 * may have started before the caller's own last write committed, and returning it would show the
 * caller data older than its write. It waits for the next run instead, which starts as soon as the
 * current one ends and answers every caller that arrived meanwhile. So every answer was read after
 * its caller asked (no caller sees less than a read of its own would), and any number of overlapping
 * identical reads cost at most two queries at a time instead of one each.
 *
 * Callers share the answer: it must be treated as read-only. Use it only for reads whose answer does
 * not depend on who asks (access is checked before the read), outside transactions.
 */
export function coalesceReads<TArgs, TResult>(keyOf: (args: TArgs) => string, read: (args: TArgs) => Promise<TResult>) {
  interface Waiting {
    promise: Promise<TResult>
    resolve: (value: TResult) => void
    reject: (reason: unknown) => void
  }
  /** Per key: the run in progress exists while the key is present; `next` holds who waits for the one after. */
  const running = new Map<string, { next?: Waiting | undefined }>()

  const start = (key: string, args: TArgs, slot: { next?: Waiting | undefined }): Promise<TResult> => {
    let run: Promise<TResult>
    try {
      run = read(args)
    } catch (error) {
      run = Promise.reject(error)
    }
    const afterRun = () => {
      const next = slot.next
      if (!next) {
        running.delete(key)
        return
      }
      slot.next = undefined
      start(key, args, slot).then(next.resolve, next.reject)
    }
    // Handles the rejection for this bookkeeping only; the run's own callers still receive it.
    run.then(afterRun, afterRun)
    return run
  }

  return (args: TArgs): Promise<TResult> => {
    const key = keyOf(args)
    const slot = running.get(key)
    if (!slot) {
      const fresh = {}
      running.set(key, fresh)
      return start(key, args, fresh)
    }
    if (!slot.next) {
      let resolve!: (value: TResult) => void
      let reject!: (reason: unknown) => void
      const promise = new Promise<TResult>((onValue, onError) => {
        resolve = onValue
        reject = onError
      })
      slot.next = { promise, resolve, reject }
    }
    return slot.next.promise
  }
}
