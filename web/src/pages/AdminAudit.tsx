import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import type { AuditPage } from '../api/types.js'
import { ErrorAlert } from '../components/Alert.js'
import { SelectField, TextField } from '../components/fields.js'
import { Pager } from '../components/Pager.js'
import { formatDateTime } from '../format.js'
import { useAction } from '../hooks/use-action.js'

const PAGE_SIZE = 25

/** The actions the server records (grep `action:` in src/modules); free text is still allowed below. */
const ACTIONS = [
  'auth.login',
  'auth.login_failed',
  'auth.2fa_failed',
  'auth.logout_all',
  'auth.refresh_reuse',
  'user.register',
  'user.create',
  'user.update',
  'user.update_self',
  'user.role_change',
  'user.delete',
  'user.email_verified',
  'user.password_change',
  'user.password_reset',
  'user.password_reset_requested',
  'user.2fa_enabled',
  'user.2fa_disabled',
  'user.recovery_codes_regenerated',
  'api_key.create',
  'api_key.revoke',
]

interface Filters {
  action: string
  actor: string
  target: string
  since: string
  until: string
}

const EMPTY: Filters = { action: '', actor: '', target: '', since: '', until: '' }

/** `datetime-local` gives local wall time without a zone; the API wants an instant. */
function instant(local: string): string | undefined {
  if (!local) return undefined
  const date = new Date(local)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}

function positiveId(text: string): number | undefined {
  const value = Number(text)
  return Number.isInteger(value) && value > 0 ? value : undefined
}

export function AdminAuditPage() {
  const [draft, setDraft] = useState<Filters>(EMPTY)
  const [filters, setFilters] = useState<Filters>(EMPTY)
  const [skip, setSkip] = useState(0)
  const [page, setPage] = useState<AuditPage | null>(null)
  const list = useAction()

  useEffect(() => {
    const actorId = positiveId(filters.actor)
    const targetId = positiveId(filters.target)
    const since = instant(filters.since)
    const until = instant(filters.until)
    void list
      .run(() =>
        attempt(
          api.GET('/api/v1/audit', {
            params: {
              query: {
                skip,
                limit: PAGE_SIZE,
                ...(filters.action ? { action: filters.action } : {}),
                ...(actorId ? { actor_id: actorId } : {}),
                ...(targetId ? { target_id: targetId } : {}),
                ...(since ? { since } : {}),
                ...(until ? { until } : {}),
              },
            },
          }),
        ),
      )
      .then((data) => {
        if (data) setPage(data)
      })
  }, [filters, skip])

  const apply = (event: Event) => {
    event.preventDefault()
    setFilters(draft)
    setSkip(0)
  }

  const only = (patch: Partial<Filters>) => {
    const next = { ...draft, ...patch }
    setDraft(next)
    setFilters(next)
    setSkip(0)
  }

  const set = (key: keyof Filters) => (value: string) => setDraft({ ...draft, [key]: value })

  return (
    <div class="page">
      <h1>Audit log</h1>
      <form class="filters" role="search" aria-label="Filter the audit log" onSubmit={apply} noValidate>
        <SelectField label="Action" name="action" value={draft.action} onValue={set('action')} options={[{ value: '', label: 'Any action' }, ...ACTIONS.map((action) => ({ value: action, label: action }))]} />
        <TextField label="Actor id" name="actor_id" value={draft.actor} onValue={set('actor')} inputMode="numeric" error={list.fieldError('actor_id')} />
        <TextField label="Target id" name="target_id" value={draft.target} onValue={set('target')} inputMode="numeric" error={list.fieldError('target_id')} />
        <TextField label="Since" name="since" type="datetime-local" value={draft.since} onValue={set('since')} error={list.fieldError('since')} />
        <TextField label="Until" name="until" type="datetime-local" value={draft.until} onValue={set('until')} error={list.fieldError('until')} />
        <div class="row align-end">
          <button type="submit" class="button-primary">
            Apply
          </button>
          <button type="button" class="button" onClick={() => only(EMPTY)}>
            Clear
          </button>
        </div>
      </form>
      <ErrorAlert problem={list.problem} />
      <div class="table-wrap" aria-busy={list.busy}>
        <table class="audit">
          <caption class="visually-hidden">Audit entries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Action</th>
              <th scope="col">Actor</th>
              <th scope="col">Target</th>
              <th scope="col">IP</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {page?.items.map((entry) => (
              <tr key={entry.id}>
                <td>{formatDateTime(entry.created_at)}</td>
                <td>
                  <button type="button" class="button-link" onClick={() => only({ action: entry.action })} title="Show only this action">
                    {entry.action}
                  </button>
                </td>
                <td>
                  {entry.actor_id === null ? (
                    '—'
                  ) : (
                    <button type="button" class="button-link" onClick={() => only({ actor: String(entry.actor_id) })} title="Show only this actor">
                      #{entry.actor_id}
                    </button>
                  )}
                </td>
                <td>
                  {entry.target_id === null ? (
                    '—'
                  ) : (
                    <button type="button" class="button-link" onClick={() => only({ target: String(entry.target_id) })} title="Show only this target">
                      #{entry.target_id}
                    </button>
                  )}
                </td>
                <td>{entry.ip ?? '—'}</td>
                <td>
                  <code class="details">{Object.keys(entry.details).length > 0 ? JSON.stringify(entry.details) : ''}</code>
                </td>
              </tr>
            ))}
            {page && page.items.length === 0 ? (
              <tr>
                <td colSpan={6}>No entries match these filters.</td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {page ? <Pager skip={page.skip} limit={page.limit} total={page.total} onSkip={setSkip} noun="entries" /> : null}
    </div>
  )
}
