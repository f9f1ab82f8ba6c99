import { useEffect, useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { ConfirmButton } from '../../components/ConfirmButton.js'
import { TextField } from '../../components/fields.js'
import { useCurrentUser } from '../../current-user.js'
import { formatDateTime } from '../../format.js'
import { useAction } from '../../hooks/use-action.js'
import { createPasskey, passkeysSupported } from '../../passkeys.js'

interface Passkey {
  id: string
  name: string
  created_at: string
  last_used_at: string | null
  backed_up: boolean
  transports: string[]
}

/** The user's passkeys: add one on this device, rename, remove. */
export function PasskeysSection() {
  const { user } = useCurrentUser()
  const [passkeys, setPasskeys] = useState<Passkey[] | null>(null)
  const [name, setName] = useState('')
  const [notice, setNotice] = useState('')
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null)
  const list = useAction()
  const action = useAction()

  const load = async () => {
    const data = await list.run(() => attempt(api.GET('/api/v1/auth/passkeys')))
    if (data) setPasskeys(data)
  }
  useEffect(() => {
    void load()
  }, [])

  const add = async (event: Event) => {
    event.preventDefault()
    setNotice('')
    // A fresh proof is asked for by the API middleware (a dialog) when the sign-in is not recent.
    const options = await action.run(() => attempt(api.POST('/api/v1/auth/passkeys/register/options', { body: null })))
    if (!options) return
    const created = await createPasskey(options)
    if (!created.ok) {
      action.setProblem(created.problem)
      return
    }
    const label = name.trim() || 'Passkey'
    const stored = await action.run(() => attempt(api.POST('/api/v1/auth/passkeys/register/verify', { body: { response: created.data as never, name: label } })))
    if (!stored) return
    setName('')
    setNotice(`Added “${stored.name}”. You can sign in with it now.`)
    await load()
  }

  const rename = async (event: Event) => {
    event.preventDefault()
    if (!renaming) return
    const done = await action.run(() => attempt(api.PATCH('/api/v1/auth/passkeys/{id}', { params: { path: { id: renaming.id } }, body: { name: renaming.name.trim() } })))
    if (!done) return
    setRenaming(null)
    setNotice(`Renamed to “${done.name}”.`)
    await load()
  }

  const remove = async (passkey: Passkey) => {
    setNotice('')
    const outcome = await attempt(api.DELETE('/api/v1/auth/passkeys/{id}', { params: { path: { id: passkey.id } }, body: null }))
    action.setProblem(outcome.ok ? null : outcome.problem)
    if (outcome.ok) setNotice(`Removed “${passkey.name}”.`)
    await load()
  }

  return (
    <section class="card stack" aria-labelledby="passkeys-title">
      <h2 id="passkeys-title">Passkeys</h2>
      <p class="muted">Sign in with your fingerprint, face or device PIN instead of a password. A passkey also answers the two-step check.</p>
      <ErrorAlert problem={action.problem ?? list.problem} />
      <Notice>{notice}</Notice>
      {passkeys && passkeys.length > 0 ? (
        <ul class="session-list" aria-label="Your passkeys">
          {passkeys.map((passkey) => (
            <li key={passkey.id} class="session" data-passkey={passkey.id}>
              {renaming?.id === passkey.id ? (
                <form class="row" onSubmit={rename}>
                  <TextField label="New label" name="passkey_label" value={renaming.name} onValue={(value) => setRenaming({ id: passkey.id, name: value })} maxLength={100} required autoFocus />
                  <button type="submit" class="button-primary" disabled={action.busy}>
                    Save
                  </button>
                  <button type="button" class="button-link" onClick={() => setRenaming(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <>
                  <div class="session-info">
                    <p class="session-device">
                      <strong>{passkey.name}</strong>
                      {passkey.backed_up ? <span class="badge">Synced</span> : null}
                    </p>
                    <dl class="session-facts">
                      <div>
                        <dt>Added</dt>
                        <dd>
                          <time dateTime={passkey.created_at}>{formatDateTime(passkey.created_at, user?.timezone)}</time>
                        </dd>
                      </div>
                      <div>
                        <dt>Last used</dt>
                        <dd>{passkey.last_used_at ? <time dateTime={passkey.last_used_at}>{formatDateTime(passkey.last_used_at, user?.timezone)}</time> : 'Never'}</dd>
                      </div>
                    </dl>
                  </div>
                  <div class="row">
                    <button type="button" class="button-link" aria-label={`Rename ${passkey.name}`} onClick={() => setRenaming({ id: passkey.id, name: passkey.name })}>
                      Rename
                    </button>
                    <ConfirmButton
                      label="Remove"
                      ariaLabel={`Remove ${passkey.name}`}
                      title={`Remove “${passkey.name}”?`}
                      confirmLabel="Remove passkey"
                      danger
                      onConfirm={() => remove(passkey)}
                    >
                      <p>You will no longer be able to sign in with this passkey. The copy on your device stays until you delete it there.</p>
                    </ConfirmButton>
                  </div>
                </>
              )}
            </li>
          ))}
        </ul>
      ) : passkeys ? (
        <p>You have no passkeys yet.</p>
      ) : null}
      {passkeysSupported() ? (
        <form class="row" onSubmit={add}>
          <TextField label="Passkey label" name="new_passkey_label" value={name} onValue={setName} maxLength={100} placeholder="My laptop" />
          <button type="submit" class="button-primary" disabled={action.busy}>
            Add a passkey
          </button>
        </form>
      ) : (
        <p class="muted">This browser cannot create passkeys.</p>
      )}
    </section>
  )
}
