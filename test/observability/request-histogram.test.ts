import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { RequestHistogram } from '../../src/observability/request-histogram.js'

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const sortedLines = (text: string) => text.split('\n').filter(Boolean).sort()

describe('RequestHistogram', () => {
  it('exposes exactly what prom-client’s Histogram exposes for the same observations', async () => {
    const ours = new Registry()
    const theirs = new Registry()
    for (const registry of [ours, theirs]) registry.setDefaultLabels({ app: 'carbelsad' })
    const fast = new RequestHistogram('http_request_duration_seconds', 'Request duration', BUCKETS, ours)
    const reference = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Request duration',
      labelNames: ['method', 'route', 'status_code'],
      buckets: BUCKETS,
      registers: [theirs],
    })
    // Values on a bound, between bounds, below the first and above the last; series interleaved.
    const observations: Array<[string, string, number, number]> = [
      ['GET', '/api/v1/health/', 200, 0.0004],
      ['GET', '/api/v1/users/me', 200, 0.005],
      ['GET', '/api/v1/health/', 200, 0.0051],
      ['POST', '/api/v1/auth/login', 401, 0.3],
      ['GET', '/api/v1/health/', 503, 7.5],
      ['GET', 'unmatched', 404, 1],
      ['GET', '/api/v1/users/me', 200, 2.5],
      ['GET', '/api/v1/health/', 200, 0.001],
    ]
    fast.observe('GET', '/api/v1/health/', 200, Number.NaN)
    for (const [method, route, status, seconds] of observations) {
      fast.observe(method, route, status, seconds)
      reference.observe({ method, route, status_code: String(status) }, seconds)
    }
    const text = await ours.metrics()
    expect(sortedLines(text)).toEqual(sortedLines(await theirs.metrics()))
    expect(text).toContain('http_request_duration_seconds_count{app="carbelsad",method="GET",route="/api/v1/health/",status_code="200"} 3')
    expect(text).toContain('http_request_duration_seconds_bucket{le="0.001",app="carbelsad",method="GET",route="/api/v1/health/",status_code="200"} 2')
    // The JSON form too (prom-client adds an empty `exemplar` to its own values).
    const json = async (registry: Registry) =>
      (await registry.getMetricsAsJSON()).flatMap((metric) =>
        metric.values
          .map(({ labels, value, ...rest }) => `${(rest as { metricName?: string }).metricName} ${JSON.stringify(Object.entries(labels).sort())} ${value}`)
          .sort(),
      )
    expect(await json(ours)).toEqual(await json(theirs))
  })

  it('starts over when the registry resets its metrics', async () => {
    const registry = new Registry()
    const histogram = new RequestHistogram('request_seconds', 'Request duration', BUCKETS, registry)
    histogram.observe('GET', '/', 200, 0.2)
    expect(await registry.metrics()).toContain('request_seconds_count{method="GET",route="/",status_code="200"} 1')
    registry.resetMetrics()
    expect(await registry.metrics()).not.toContain('request_seconds_count')
  })
})
