import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { storeTokens } from '../api/session.js'
import { ErrorAlert } from '../components/Alert.js'
import { useAction } from '../hooks/use-action.js'
import { savePendingChallenge } from '../pending-challenge.js'
import { Link, navigate, safeNext, useLocation } from '../router.js'
import { LINKED_NOTICE_KEY } from './security/IdentitiesSection.js'

/**
 * Where the server sends the browser back from a sign-in provider: with a one-time `code` to trade for
 * the session (never the tokens themselves), with `linked` after linking a provider on the Security
 * page, or with a readable `error`.
 */
export function OAuthCallbackPage() {
  const { query } = useLocation()
  const [error] = useState(() => query.get('error'))
  const action = useAction()

  useEffect(() => {
    const code = query.get('code')
    const linked = query.get('linked')
    // The code is single use and means nothing once traded: drop it from the address bar and history.
    window.history.replaceState(null, '', '/oauth/callback')
    if (linked) {
      sessionStorage.setItem(LINKED_NOTICE_KEY, query.get('already') ? 'That account was already linked.' : 'Linked. You can now sign in with it.')
      const next = safeNext(query.get('next'), '/security')
      // After this render's effects: the router's own listener is subscribed in a parent effect, which runs after this one.
      setTimeout(() => navigate(next, { replace: true }), 0)
      return
    }
    if (!code) return
    void (async () => {
      const next = safeNext(query.get('next'))
      const result = await action.run(() => attempt(api.POST('/api/v1/auth/oauth/exchange', { body: { code } })))
      if (!result) return
      if ('requires_2fa' in result) {
        savePendingChallenge({ challenge_token: result.challenge_token, method: result.method, username_or_email: 'the account you chose at the provider', next })
        navigate('/two-factor', { replace: true })
        return
      }
      storeTokens(result)
      navigate(next, { replace: true })
    })()
  }, [])

  const problem = error ? { message: error, fields: {} } : action.problem
  return (
    <section class="card narrow" aria-labelledby="oauth-title">
      <h1 id="oauth-title">{problem ? 'Sign-in did not complete' : 'Signing in…'}</h1>
      <ErrorAlert problem={problem} />
      {problem ? (
        <p>
          <Link href="/login">Back to sign in</Link>
        </p>
      ) : null}
    </section>
  )
}
