import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt, type Problem } from '../api/errors.js'
import { ErrorAlert, Notice } from '../components/Alert.js'
import { useCurrentUser } from '../current-user.js'
import { Link, useLocation } from '../router.js'

/** Landing page of the mailed `/verify-email?token=…` link: confirms at once, no click needed. */
export function VerifyEmailPage() {
  const { query } = useLocation()
  const token = query.get('token') ?? ''
  const { user, reload } = useCurrentUser()
  const [state, setState] = useState<{ done: boolean; message: string; problem: Problem | null }>({ done: false, message: '', problem: null })

  useEffect(() => {
    if (!token) {
      setState({ done: true, message: '', problem: { message: 'This page needs the link from the confirmation email.', fields: {} } })
      return
    }
    void attempt(api.POST('/api/v1/auth/verify-email', { body: { token } })).then((outcome) => {
      if (outcome.ok) {
        setState({ done: true, message: 'Your email address is confirmed. Thank you!', problem: null })
        void reload()
      } else {
        setState({ done: true, message: '', problem: outcome.problem })
      }
    })
  }, [token, reload])

  return (
    <section class="card narrow" aria-labelledby="verify-title" aria-busy={!state.done}>
      <h1 id="verify-title">Verify email</h1>
      {state.done ? null : <p>Checking your link…</p>}
      <Notice>{state.message}</Notice>
      <ErrorAlert problem={state.problem} />
      {state.problem ? <p>Links work once and for 24 hours. You can ask for a new one on your profile page after signing in.</p> : null}
      <p>{user ? <Link href="/profile">Go to your profile</Link> : <Link href="/login">Sign in</Link>}</p>
    </section>
  )
}
