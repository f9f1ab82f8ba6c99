import { useEffect, useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { ConfirmButton } from '../../components/ConfirmButton.js'
import { useCurrentUser } from '../../current-user.js'
import { formatDateTime } from '../../format.js'
import { useAction } from '../../hooks/use-action.js'

interface Provider {
  name: string
  label: string
}

interface Identity {
  id: string
  provider: string
  email: string | null
  created_at: string
}

/** Set by the /oauth/callback page after a provider was linked, shown here once. */
export const LINKED_NOTICE_KEY = 'carbelsad.linked'

/** Sign-in providers linked to the account: link another (through the provider), or unlink one. */
export function IdentitiesSection() {
  const { user } = useCurrentUser()
  const [providers, setProviders] = useState<Provider[] | null>(null)
  const [identities, setIdentities] = useState<Identity[] | null>(null)
  const [notice, setNotice] = useState(() => {
    const message = sessionStorage.getItem(LINKED_NOTICE_KEY) ?? ''
    sessionStorage.removeItem(LINKED_NOTICE_KEY)
    return message
  })
  const list = useAction()
  const action = useAction()

  const load = async () => {
    const [known, linked] = await Promise.all([api.GET('/api/v1/auth/oauth/providers'), list.run(() => attempt(api.GET('/api/v1/auth/identities')))])
    setProviders(known.data ?? [])
    if (linked) setIdentities(linked)
  }
  useEffect(() => {
    void load()
  }, [])

  // A server without providers and an account without links: nothing to show.
  if (providers !== null && providers.length === 0 && (identities?.length ?? 0) === 0) return null

  const labelOf = (name: string) => providers?.find((provider) => provider.name === name)?.label ?? name

  const link = async (provider: Provider) => {
    setNotice('')
    // A fresh proof is asked for by the API middleware (a dialog) when the sign-in is not recent.
    const answer = await action.run(() =>
      attempt(api.POST('/api/v1/auth/oauth/{name}/link', { params: { path: { name: provider.name } }, body: { redirect_to: '/security' } })),
    )
    if (answer) window.location.assign(answer.authorize_url)
  }

  const unlink = async (identity: Identity) => {
    setNotice('')
    const outcome = await attempt(api.DELETE('/api/v1/auth/identities/{id}', { params: { path: { id: identity.id } }, body: null }))
    action.setProblem(outcome.ok ? null : outcome.problem)
    if (outcome.ok) setNotice(`Unlinked ${labelOf(identity.provider)}.`)
    await load()
  }

  const unlinked = (providers ?? []).filter((provider) => !identities?.some((identity) => identity.provider === provider.name))

  return (
    <section class="card stack" aria-labelledby="identities-title">
      <h2 id="identities-title">Linked sign-in</h2>
      <p class="muted">Accounts at other services you can sign in with.</p>
      <ErrorAlert problem={action.problem ?? list.problem} />
      <Notice>{notice}</Notice>
      {identities ? (
        identities.length === 0 ? (
          <p>No linked accounts yet.</p>
        ) : (
          <ul class="session-list" aria-label="Linked accounts">
            {identities.map((identity) => (
              <li key={identity.id} class="session" data-identity={identity.provider}>
                <div class="session-info">
                  <p class="session-device">
                    <strong>{labelOf(identity.provider)}</strong> {identity.email ? <span class="muted">{identity.email}</span> : null}
                  </p>
                  <p class="muted">
                    Linked <time dateTime={identity.created_at}>{formatDateTime(identity.created_at, user?.timezone)}</time>
                  </p>
                </div>
                <ConfirmButton
                  label="Unlink"
                  ariaLabel={`Unlink ${labelOf(identity.provider)}`}
                  title={`Unlink ${labelOf(identity.provider)}?`}
                  confirmLabel="Unlink"
                  danger
                  onConfirm={() => unlink(identity)}
                >
                  <p>You will no longer be able to sign in with it. An account needs at least one way to sign in: a password, a passkey or another linked account.</p>
                </ConfirmButton>
              </li>
            ))}
          </ul>
        )
      ) : list.problem ? null : (
        <p class="loading">Loading linked accounts…</p>
      )}
      {unlinked.length > 0 ? (
        <div class="row">
          {unlinked.map((provider) => (
            <button key={provider.name} type="button" class="button" onClick={() => void link(provider)} disabled={action.busy}>
              Link {provider.label}
            </button>
          ))}
        </div>
      ) : null}
    </section>
  )
}
