import { useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { clearTokens } from '../api/session.js'
import { ErrorAlert } from '../components/Alert.js'
import { TextField } from '../components/fields.js'
import { setFlash } from '../flash.js'
import { useAction } from '../hooks/use-action.js'
import { Link, navigate, useLocation } from '../router.js'

/** Landing page of the mailed `/reset-password?token=…` link. */
export function ResetPasswordPage() {
  const { query } = useLocation()
  const token = query.get('token') ?? ''
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const action = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    if (password !== confirm) {
      action.setProblem({ message: 'The passwords do not match.', fields: { confirm: 'Type the same password twice' } })
      return
    }
    const answer = await action.run(() => attempt(api.POST('/api/v1/auth/reset-password', { body: { token, new_password: password } })))
    if (!answer) return
    // A reset ends every session, this browser's included.
    clearTokens()
    setFlash(answer.detail)
    navigate('/login')
  }

  if (!token) {
    return (
      <section class="card narrow" aria-labelledby="reset-title">
        <h1 id="reset-title">Choose a new password</h1>
        <p>This page needs the link from the password reset email.</p>
        <p>
          <Link href="/forgot-password">Ask for a new link</Link>
        </p>
      </section>
    )
  }

  return (
    <section class="card narrow" aria-labelledby="reset-title">
      <h1 id="reset-title">Choose a new password</h1>
      <form class="stack" onSubmit={submit} noValidate>
        <ErrorAlert problem={action.problem} />
        <TextField
          label="New password"
          name="new_password"
          type="password"
          value={password}
          onValue={setPassword}
          autoComplete="new-password"
          required
          autoFocus
          error={action.fieldError('new_password')}
        />
        <TextField
          label="Confirm new password"
          name="confirm"
          type="password"
          value={confirm}
          onValue={setConfirm}
          autoComplete="new-password"
          required
          error={action.fieldError('confirm')}
        />
        <button type="submit" class="button-primary" disabled={action.busy}>
          Set new password
        </button>
      </form>
      {action.problem?.message.includes('Invalid or expired') ? (
        <p>
          <Link href="/forgot-password">Ask for a new link</Link>
        </p>
      ) : null}
    </section>
  )
}
