import { useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { ErrorAlert, Notice } from '../components/Alert.js'
import { TextField } from '../components/fields.js'
import { useAction } from '../hooks/use-action.js'
import { Link } from '../router.js'

export function ForgotPasswordPage() {
  const [email, setEmail] = useState('')
  const [sent, setSent] = useState('')
  const action = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    setSent('')
    const answer = await action.run(() => attempt(api.POST('/api/v1/auth/forgot-password', { body: { email: email.trim() } })))
    if (answer) setSent(`${answer.detail}. The link works for one hour.`)
  }

  return (
    <section class="card narrow" aria-labelledby="forgot-title">
      <h1 id="forgot-title">Forgot your password?</h1>
      <p>Enter the email address of your account and we will mail you a link to choose a new password.</p>
      <form class="stack" onSubmit={submit} noValidate>
        <ErrorAlert problem={action.problem} />
        <Notice>{sent}</Notice>
        <TextField label="Email" name="email" type="email" value={email} onValue={setEmail} autoComplete="email" required autoFocus error={action.fieldError('email')} />
        <button type="submit" class="button-primary" disabled={action.busy}>
          Send reset link
        </button>
      </form>
      <p>
        <Link href="/login">Back to sign in</Link>
      </p>
    </section>
  )
}
