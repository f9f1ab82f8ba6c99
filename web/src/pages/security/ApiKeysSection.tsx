import { useEffect, useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import type { ApiKey, NewApiKey } from '../../api/types.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { ConfirmButton } from '../../components/ConfirmButton.js'
import { SelectField, TextField } from '../../components/fields.js'
import { formatDateTime } from '../../format.js'
import { useAction } from '../../hooks/use-action.js'

function statusOf(key: ApiKey): string {
  if (key.revoked_at) return 'Revoked'
  if (key.expires_at && new Date(key.expires_at).getTime() <= Date.now()) return 'Expired'
  return 'Active'
}

export function ApiKeysSection() {
  const [keys, setKeys] = useState<ApiKey[] | null>(null)
  const [name, setName] = useState('')
  const [scope, setScope] = useState<'read' | 'write'>('read')
  const [expires, setExpires] = useState('')
  const [created, setCreated] = useState<NewApiKey | null>(null)
  const [notice, setNotice] = useState('')
  const [copied, setCopied] = useState(false)
  const action = useAction()
  const list = useAction()

  const load = async () => {
    const data = await list.run(() => attempt(api.GET('/api/v1/api-keys')))
    if (data) setKeys(data)
  }
  useEffect(() => {
    void load()
  }, [])

  const create = async (event: Event) => {
    event.preventDefault()
    setNotice('')
    setCopied(false)
    // The date input gives a calendar day; the key stops working at the end of it, local time.
    const expiresAt = expires ? new Date(`${expires}T23:59:59`).toISOString() : null
    const key = await action.run(() =>
      attempt(api.POST('/api/v1/api-keys', { body: { name: name.trim(), scopes: scope === 'write' ? ['read', 'write'] : ['read'], expires_at: expiresAt } })),
    )
    if (!key) return
    setCreated(key)
    setName('')
    setExpires('')
    await load()
  }

  const revoke = async (key: ApiKey) => {
    setNotice('')
    // A 204 has no body, so the outcome (not the data) tells success apart.
    const outcome = await attempt(api.DELETE('/api/v1/api-keys/{id}', { params: { path: { id: key.id } } }))
    action.setProblem(outcome.ok ? null : outcome.problem)
    if (!outcome.ok) return
    setNotice(`Key "${key.name}" revoked.`)
    if (created?.id === key.id) setCreated(null)
    await load()
  }

  const copy = async () => {
    if (!created) return
    try {
      await navigator.clipboard.writeText(created.key)
      setCopied(true)
    } catch {
      setCopied(false)
    }
  }

  return (
    <section class="card stack" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <p class="muted">Keys let scripts call the API as you, with your role. Send one in the X-API-Key header. Signing out everywhere or resetting your password revokes them all.</p>
      <ErrorAlert problem={action.problem ?? list.problem} />
      <Notice>{notice}</Notice>
      {created ? (
        <div class="secret-box" role="group" aria-labelledby="new-key-title">
          <h3 id="new-key-title">New key "{created.name}"</h3>
          <p>
            <strong>Copy it now: it is shown only once.</strong>
          </p>
          <p>
            <code class="secret" data-testid="new-api-key">
              {created.key}
            </code>
          </p>
          <div class="row">
            <button type="button" class="button" onClick={copy}>
              {copied ? 'Copied' : 'Copy key'}
            </button>
            <button type="button" class="button-primary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      ) : null}
      <form class="stack" onSubmit={create} noValidate>
        <div class="grid-3">
          <TextField label="Name" name="name" value={name} onValue={setName} required maxLength={100} placeholder="nightly export" error={action.fieldError('name')} />
          <SelectField
            label="Access"
            name="scopes"
            value={scope}
            onValue={(value) => setScope(value === 'write' ? 'write' : 'read')}
            options={[
              { value: 'read', label: 'Read only' },
              { value: 'write', label: 'Read and write' },
            ]}
            error={action.fieldError('scopes')}
          />
          <TextField label="Expires (optional)" name="expires_at" type="date" value={expires} onValue={setExpires} error={action.fieldError('expires_at')} />
        </div>
        <div class="row">
          <button type="submit" class="button-primary" disabled={action.busy}>
            Create key
          </button>
        </div>
      </form>
      {keys && keys.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Your API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Access</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.prefix}</code>
                  </td>
                  <td>{key.scopes.includes('write') ? 'Read and write' : 'Read only'}</td>
                  <td>{formatDateTime(key.last_used_at)}</td>
                  <td>{key.expires_at ? formatDateTime(key.expires_at) : 'Never'}</td>
                  <td>{statusOf(key)}</td>
                  <td>
                    {statusOf(key) === 'Active' ? (
                      <ConfirmButton label="Revoke" title={`Revoke "${key.name}"?`} confirmLabel="Revoke key" danger onConfirm={() => revoke(key)}>
                        <p>Scripts using this key stop working at once. This cannot be undone.</p>
                      </ConfirmButton>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : keys ? (
        <p class="muted">You have no API keys yet.</p>
      ) : null}
    </section>
  )
}
