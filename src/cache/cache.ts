/**
 * One cache and pub/sub interface with two implementations: Redis (shared by every instance)
 * and in-process (the embedded default, one process only). Values are JSON-serialisable.
 */
export interface Cache {
  readonly kind: 'redis' | 'memory'
  get<T>(key: string): Promise<T | undefined>
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>
  delete(key: string): Promise<void>
  deleteByPrefix(prefix: string): Promise<number>
  /** Adds one and returns the new count; the TTL is set when the key is created, so a window is fixed. */
  increment(key: string, ttlSeconds: number): Promise<number>
  /** Takes one back from a live counter, keeping its expiry; a missing key stays missing. */
  decrement(key: string): Promise<void>
  /** Seconds left on a key, or -1 without expiry, -2 when missing. */
  ttl(key: string): Promise<number>
  /**
   * Returns the cached value or loads, stores and returns it. Concurrent callers for one cold key in
   * this process share a single load (single flight), so a stampede reaches the database once.
   */
  getOrSet<T>(key: string, ttlSeconds: number, load: () => Promise<T>): Promise<T>
  publish(channel: string, message: unknown): Promise<void>
  /** Resolves once subscribed; the returned function unsubscribes. */
  subscribe(channel: string, handler: (message: unknown) => void): Promise<() => Promise<void>>
  /** Round-trip latency in milliseconds; rejects when the store does not answer. */
  ping(timeoutMs: number): Promise<number>
  close(): Promise<void>
}

/**
 * Shares one in-flight load per key; used by both implementations' getOrSet. A delete while a load is
 * in flight `forget`s it: later callers start a load of their own instead of joining one that may have
 * read the old value, and the forgotten load must not store what it read (`stale()` says so).
 */
export class SingleFlight {
  readonly #inFlight = new Map<string, { promise: Promise<unknown>; stale: boolean }>()

  run<T>(key: string, work: (stale: () => boolean) => Promise<T>): Promise<T> {
    const existing = this.#inFlight.get(key)
    if (existing) return existing.promise as Promise<T>
    const flight: { promise: Promise<unknown>; stale: boolean } = { promise: Promise.resolve(), stale: false }
    const promise = work(() => flight.stale).finally(() => {
      if (this.#inFlight.get(key) === flight) this.#inFlight.delete(key)
    })
    flight.promise = promise
    this.#inFlight.set(key, flight)
    return promise
  }

  forget(key: string): void {
    const flight = this.#inFlight.get(key)
    if (!flight) return
    flight.stale = true
    this.#inFlight.delete(key)
  }

  forgetPrefix(prefix: string): void {
    for (const key of [...this.#inFlight.keys()]) if (key.startsWith(prefix)) this.forget(key)
  }
}
