import { useEffect, useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { clearTokens } from '../../api/session.js'
import type { Session } from '../../api/types.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { ConfirmButton } from '../../components/ConfirmButton.js'
import { useCurrentUser } from '../../current-user.js'
import { setFlash } from '../../flash.js'
import { formatDateTime, formatRelative } from '../../format.js'
import { useAction } from '../../hooks/use-action.js'
import { navigate } from '../../router.js'

const METHOD_NAMES: Record<string, string> = {
  password: 'password',
  totp: 'authenticator app',
  email_code: 'emailed code',
  recovery_code: 'recovery code',
}

/** `password+totp` → "password + authenticator app"; a method this console does not know yet keeps its own name. */
function methodName(method: string): string {
  return method
    .split('+')
    .map((part) => METHOD_NAMES[part] ?? part.replace(/_/g, ' '))
    .join(' + ')
}

/**
 * The first entry is how the session signed in; later ones are re-confirmations before sensitive
 * actions, which can pile up over a month, so each kind is named once.
 */
function describeProof(methods: readonly string[]): string {
  const [signIn, ...again] = methods
  if (!signIn) return '—'
  const first = methodName(signIn)
  const label = first.charAt(0).toUpperCase() + first.slice(1)
  if (again.length === 0) return label
  return `${label}; confirmed again with ${[...new Set(again.map(methodName))].join(', ')}`
}

function deviceOf(session: Session): string {
  return session.device ?? 'Unknown device'
}

export function SessionsSection() {
  const { user } = useCurrentUser()
  const [sessions, setSessions] = useState<Session[] | null>(null)
  const [notice, setNotice] = useState('')
  const [now, setNow] = useState(Date.now)
  const action = useAction()
  const list = useAction()

  const load = async () => {
    const data = await list.run(() => attempt(api.GET('/api/v1/auth/sessions')))
    if (data) setSessions(data)
    setNow(Date.now())
  }
  useEffect(() => {
    void load()
    // "5 minutes ago" should not stay "just now" while the page is open.
    const timer = setInterval(() => setNow(Date.now()), 30_000)
    return () => clearInterval(timer)
  }, [])

  const signOut = async (session: Session) => {
    setNotice('')
    // A 204 has no body, so the outcome (not the data) tells success apart.
    const outcome = await attempt(api.DELETE('/api/v1/auth/sessions/{id}', { params: { path: { id: session.id } } }))
    if (outcome.ok) setNotice(`Signed out ${deviceOf(session)}.`)
    // Ended meanwhile (it expired, or another device signed it out): the list was stale, not the request wrong.
    else if (outcome.response?.status === 404) setNotice(`${deviceOf(session)} was already signed out.`)
    action.setProblem(outcome.ok || outcome.response?.status === 404 ? null : outcome.problem)
    await load()
  }

  const signOutOthers = async () => {
    setNotice('')
    const outcome = await attempt(api.DELETE('/api/v1/auth/sessions'))
    action.setProblem(outcome.ok ? null : outcome.problem)
    if (outcome.ok) setNotice('Signed out every other session. Only this device is still signed in.')
    await load()
  }

  const signOutEverywhere = async () => {
    const answer = await action.run(() => attempt(api.POST('/api/v1/auth/logout-all')))
    if (!answer) return
    clearTokens()
    setFlash('You were signed out on every device, and your API keys were revoked.')
    navigate('/login')
  }

  const others = sessions?.filter((session) => !session.current) ?? []

  return (
    <section class="card stack" aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <p class="muted">Where your account is signed in. Don't recognise one? Sign it out, then change your password.</p>
      <ErrorAlert problem={action.problem ?? list.problem} />
      <Notice>{notice}</Notice>
      {sessions ? (
        <ul class="session-list" aria-label="Your sessions">
          {sessions.map((session) => (
            <li key={session.id} class={session.current ? 'session session-current' : 'session'} data-session={session.id}>
              <div class="session-info">
                <p class="session-device">
                  <strong title={session.user_agent ?? undefined}>{deviceOf(session)}</strong>
                  {session.current ? <span class="badge badge-current">This device</span> : null}
                </p>
                <dl class="session-facts">
                  <div>
                    <dt>Last active</dt>
                    <dd>
                      {/* The current session is in use right now; its stored time lags by up to a minute. */}
                      <time dateTime={session.last_used_at} title={formatDateTime(session.last_used_at, user?.timezone)}>
                        {session.current ? 'now' : formatRelative(session.last_used_at, now)}
                      </time>
                    </dd>
                  </div>
                  <div>
                    <dt>IP address</dt>
                    <dd>{session.ip ?? '—'}</dd>
                  </div>
                  <div>
                    <dt>Signed in</dt>
                    <dd>
                      <time dateTime={session.created_at}>{formatDateTime(session.created_at, user?.timezone)}</time>
                    </dd>
                  </div>
                  <div>
                    <dt>Proven with</dt>
                    <dd>{describeProof(session.auth_methods)}</dd>
                  </div>
                </dl>
              </div>
              {session.current ? null : (
                <ConfirmButton
                  label="Sign out"
                  ariaLabel={`Sign out ${deviceOf(session)}${session.ip ? ` at ${session.ip}` : ''}`}
                  title={`Sign out ${deviceOf(session)}?`}
                  confirmLabel="Sign out"
                  danger
                  onConfirm={() => signOut(session)}
                >
                  <p>That device has to sign in again; anything open there stops working at once.</p>
                </ConfirmButton>
              )}
            </li>
          ))}
        </ul>
      ) : list.problem ? null : (
        <p class="loading">Loading sessions…</p>
      )}
      {others.length > 0 ? (
        <div class="row">
          <ConfirmButton
            label="Sign out all other sessions"
            title="Sign out all other sessions?"
            confirmLabel="Sign out the others"
            danger
            onConfirm={signOutOthers}
          >
            <p>
              {others.length === 1 ? 'The other device' : `The ${others.length} other devices`} will have to sign in again. This device stays signed in, and
              your API keys keep working.
            </p>
          </ConfirmButton>
        </div>
      ) : sessions ? (
        <p class="muted">No other device is signed in.</p>
      ) : null}
      <div class="stack danger-zone">
        <h3>Sign out everywhere</h3>
        <p>Lost a device, or signed in somewhere you should not have? End every session, this one included, and revoke every API key.</p>
        <ConfirmButton label="Sign out everywhere" title="Sign out everywhere?" confirmLabel="Sign out everywhere" danger onConfirm={signOutEverywhere}>
          <p>Every device signed in to your account, this one included, will have to sign in again. Scripts using your API keys stop working too.</p>
        </ConfirmButton>
      </div>
    </section>
  )
}
