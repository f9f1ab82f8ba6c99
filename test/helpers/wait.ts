/** Waiting on something observable instead of sleeping for a guessed time: the one place tests poll. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface WaitOptions {
  /** Give up after this long; generous, since CI machines are busy. */
  timeoutMs?: number
  intervalMs?: number
}

/**
 * Polls `check` until it answers true. A check that throws counts as "not yet" (a server still
 * starting refuses connections), and its last error is named if the wait gives up.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 25 } = options
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(`${what} did not happen within ${timeoutMs} ms${cause}`)
    }
    await sleep(intervalMs)
  }
}

/** Polls `read` until it returns a defined value, and returns that value. */
export async function waitForValue<T>(read: () => T | undefined | Promise<T | undefined>, what: string, options: WaitOptions = {}): Promise<T> {
  let value: T | undefined
  await waitFor(async () => {
    value = await read()
    return value !== undefined
  }, what, options)
  return value as T
}
