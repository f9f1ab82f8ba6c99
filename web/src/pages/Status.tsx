import { Fragment } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { formatDateTime } from '../format.js'

interface Check {
  name: string
  ok: boolean
  status: string
  facts: [string, string][]
}

const DOWN = (name: string, detail: string): Check => ({ name, ok: false, status: 'unreachable', facts: [['Detail', detail]] })

/** Runs one probe; a 503 is a normal answer here (the dependency is down), not an error. */
async function probe(name: string, run: () => Promise<{ data?: object; error?: unknown; response: Response }>): Promise<Check> {
  try {
    const { data, error, response } = await run()
    const body = (data ?? error ?? {}) as Record<string, unknown>
    const facts: [string, string][] = []
    if (typeof body.backend === 'string') facts.push(['Backend', body.backend])
    if (typeof body.latency_ms === 'number') facts.push(['Latency', `${body.latency_ms.toFixed(1)} ms`])
    if (typeof body.version === 'string') facts.push(['Version', body.version])
    if (typeof body.uptime_seconds === 'number') facts.push(['Uptime', `${Math.round(body.uptime_seconds)} s`])
    if (typeof body.detail === 'string') facts.push(['Detail', body.detail])
    return { name, ok: response.ok, status: typeof body.status === 'string' ? body.status : `HTTP ${response.status}`, facts }
  } catch (error) {
    return DOWN(name, error instanceof Error ? error.message : 'no answer')
  }
}

export function StatusPage() {
  const [checks, setChecks] = useState<Check[] | null>(null)
  const [checkedAt, setCheckedAt] = useState('')
  const [busy, setBusy] = useState(false)

  const run = async () => {
    setBusy(true)
    const results = await Promise.all([
      probe('Application', () => api.GET('/api/v1/health')),
      probe('Database', () => api.GET('/api/v1/health/db')),
      probe('Cache', () => api.GET('/api/v1/health/cache')),
      probe('Readiness', () => api.GET('/api/v1/health/ready')),
    ])
    setChecks(results)
    setCheckedAt(new Date().toISOString())
    setBusy(false)
  }

  useEffect(() => {
    void run()
    // Kept fresh while the page is open, as a status board would be.
    const timer = setInterval(() => void run(), 15_000)
    return () => clearInterval(timer)
  }, [])

  const allOk = checks?.every((check) => check.ok) ?? false

  return (
    <div class="page">
      <div class="page-head">
        <h1>Status</h1>
        <button type="button" class="button" onClick={run} disabled={busy}>
          {busy ? 'Checking…' : 'Check again'}
        </button>
      </div>
      <p class={checks ? (allOk ? 'summary ok' : 'summary bad') : 'summary'}>
        {/* Only the verdict is a live region: the time changes on every poll and would be read out each time. */}
        <span role="status">{checks ? (allOk ? 'All systems operational.' : 'Some checks are failing.') : 'Checking…'}</span>
        {checkedAt ? <span class="muted"> Last checked {formatDateTime(checkedAt)}.</span> : null}
      </p>
      <ul class="status-grid">
        {checks?.map((check) => (
          <li key={check.name} class={`card status-card ${check.ok ? 'ok' : 'bad'}`}>
            <h2>{check.name}</h2>
            <p class="status-line">
              <span class="dot" aria-hidden="true" />
              <span data-testid={`status-${check.name.toLowerCase()}`}>{check.status}</span>
            </p>
            <dl class="facts">
              {check.facts.map(([label, value]) => (
                <Fragment key={label}>
                  <dt>{label}</dt>
                  <dd>{value}</dd>
                </Fragment>
              ))}
            </dl>
          </li>
        ))}
      </ul>
    </div>
  )
}
