import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt, type Problem } from '../api/errors.js'
import { storeTokens } from '../api/session.js'
import { ErrorAlert } from '../components/Alert.js'
import { savePendingChallenge } from '../pending-challenge.js'
import { Link, navigate, useLocation } from '../router.js'

/** Landing page of the mailed `/email-login?token=…` link: signs in at once, or goes on to the 2FA step. */
export function EmailLoginPage() {
  const { query } = useLocation()
  const token = query.get('token') ?? ''
  const [problem, setProblem] = useState<Problem | null>(null)

  useEffect(() => {
    if (!token) {
      setProblem({ message: 'This page needs the link from the sign-in email.', fields: {} })
      return
    }
    void attempt(api.POST('/api/v1/auth/email-login/verify', { body: { token } })).then((outcome) => {
      if (!outcome.ok) {
        setProblem(outcome.problem)
        return
      }
      const result = outcome.data
      if ('requires_2fa' in result) {
        savePendingChallenge({ challenge_token: result.challenge_token, method: result.method, username_or_email: 'the account of this email', next: '/profile' })
        navigate('/two-factor', { replace: true })
        return
      }
      storeTokens(result)
      navigate('/profile', { replace: true })
    })
  }, [token])

  return (
    <section class="card narrow" aria-labelledby="email-login-title" aria-busy={!problem}>
      <h1 id="email-login-title">Signing in</h1>
      {problem ? null : <p>Checking your link…</p>}
      <ErrorAlert problem={problem} />
      {problem ? (
        <p>
          Links work once and for 10 minutes. <Link href="/login">Ask for a new one</Link>.
        </p>
      ) : null}
    </section>
  )
}
