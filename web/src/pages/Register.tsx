import { useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { ErrorAlert } from '../components/Alert.js'
import { TextField } from '../components/fields.js'
import { setFlash } from '../flash.js'
import { useAction } from '../hooks/use-action.js'
import { Link, navigate } from '../router.js'

export function RegisterPage() {
  const [username, setUsername] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const action = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    if (password !== confirm) {
      action.setProblem({ message: 'The passwords do not match.', fields: { confirm: 'Type the same password twice' } })
      return
    }
    const created = await action.run(() => attempt(api.POST('/api/v1/auth/register', { body: { username: username.trim(), email: email.trim(), password } })))
    if (!created) return
    setFlash(`Account ${created.username} created. We sent a link to ${created.email} to confirm the address. You can sign in now.`)
    navigate('/login')
  }

  return (
    <section class="card narrow" aria-labelledby="register-title">
      <h1 id="register-title">Create an account</h1>
      <form class="stack" onSubmit={submit} noValidate>
        <ErrorAlert problem={action.problem} />
        <TextField
          label="Username"
          name="username"
          value={username}
          onValue={setUsername}
          autoComplete="username"
          required
          autoFocus
          hint="3–50 characters: letters, digits, _ . -"
          error={action.fieldError('username')}
        />
        <TextField label="Email" name="email" type="email" value={email} onValue={setEmail} autoComplete="email" required error={action.fieldError('email')} />
        <TextField
          label="Password"
          name="password"
          type="password"
          value={password}
          onValue={setPassword}
          autoComplete="new-password"
          required
          hint="At least 8 characters, not a common password, not your username."
          error={action.fieldError('password')}
        />
        <TextField
          label="Confirm password"
          name="confirm"
          type="password"
          value={confirm}
          onValue={setConfirm}
          autoComplete="new-password"
          required
          error={action.fieldError('confirm')}
        />
        <button type="submit" class="button-primary" disabled={action.busy}>
          {action.busy ? 'Creating…' : 'Create account'}
        </button>
      </form>
      <p>
        Already registered? <Link href="/login">Sign in</Link>
      </p>
    </section>
  )
}
