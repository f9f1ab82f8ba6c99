import type { Registry } from 'prom-client'

interface Series {
  readonly labels: Readonly<Record<'method' | 'route' | 'status_code', string>>
  /** Observations per bucket, not cumulative; the last slot is +Inf. */
  readonly counts: Float64Array
  sum: number
  count: number
}

interface ExportedValue {
  labels: Record<string, string | number>
  sharedLabels?: Readonly<Record<string, string>>
  value: number
  metricName: string
}

interface MetricData {
  name: string
  help: string
  type: 'histogram'
  aggregator: 'sum'
  values: ExportedValue[]
}

/**
 * The request-duration histogram (`method`, `route`, `status_code`), which every request observes.
 *
 * prom-client's Histogram spends about 2.5 µs per observation (measured): it builds a label string,
 * looks it up in a dictionary and turns the bucket bound into a string key each time, a twentieth of
 * what a health request costs in all. Here the series is found through nested maps keyed by what the
 * router already holds (the method and route strings, the status number) and counted in a typed
 * array. The registry reads it as it reads prom-client's own histogram, so the exposition (buckets,
 * `_sum`, `_count`, default labels) has the same lines; only the series come grouped by method.
 */
export class RequestHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #bounds: readonly number[]
  readonly #series = new Map<string, Map<string, Map<number, Series>>>()

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.#bounds = [...buckets].sort((a, b) => a - b)
    registry.registerMetric(this as never)
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    // prom-client refuses such a value; a sum of NaN would spoil the series for good.
    if (!Number.isFinite(seconds)) return
    let byRoute = this.#series.get(method)
    if (!byRoute) {
      byRoute = new Map()
      this.#series.set(method, byRoute)
    }
    let byStatus = byRoute.get(route)
    if (!byStatus) {
      byStatus = new Map()
      byRoute.set(route, byStatus)
    }
    let series = byStatus.get(status)
    if (!series) {
      series = { labels: { method, route, status_code: String(status) }, counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 }
      byStatus.set(status, series)
    }
    // A bucket counts the observations less than or equal to its bound (Prometheus `le`).
    const bounds = this.#bounds
    let bucket = 0
    while (bucket < bounds.length && seconds > (bounds[bucket] as number)) bucket += 1
    series.counts[bucket] = (series.counts[bucket] as number) + 1
    series.sum += seconds
    series.count += 1
  }

  /**
   * The metric as the registry's text exposition reads it, in prom-client's own shape: each value's
   * series labels are shared (the registry formats them once per series), `le` is its own.
   */
  getForPromString(): MetricData {
    const values: ExportedValue[] = []
    const bucketName = `${this.name}_bucket`
    for (const byRoute of this.#series.values()) {
      for (const byStatus of byRoute.values()) {
        for (const series of byStatus.values()) {
          const sharedLabels = series.labels
          let cumulative = 0
          this.#bounds.forEach((bound, index) => {
            cumulative += series.counts[index] as number
            values.push({ labels: { le: bound }, sharedLabels, value: cumulative, metricName: bucketName })
          })
          values.push({ labels: { le: '+Inf' }, sharedLabels, value: series.count, metricName: bucketName })
          values.push({ labels: {}, sharedLabels, value: series.sum, metricName: `${this.name}_sum` })
          values.push({ labels: {}, sharedLabels, value: series.count, metricName: `${this.name}_count` })
        }
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** The metric with each value's labels in one object (`registry.getMetricsAsJSON()`). */
  get(): MetricData {
    const data = this.getForPromString()
    return { ...data, values: data.values.map(({ labels, sharedLabels, ...value }) => ({ ...value, labels: { ...labels, ...sharedLabels } })) }
  }

  /** `registry.resetMetrics()` calls this. */
  reset(): void {
    this.#series.clear()
  }
}
