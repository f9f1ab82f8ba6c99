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

/** Shares one in-flight load per key; used by both implementations' getOrSet. */
export class SingleFlight {
  readonly #inFlight = new Map<string, Promise<unknown>>()

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.#inFlight.get(key)
    if (existing) return existing as Promise<T>
    const promise = work().finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, promise)
    return promise
  }
}
