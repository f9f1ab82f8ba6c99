import { useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { storeAccessToken } from '../../api/session.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { TextField } from '../../components/fields.js'
import { useAction } from '../../hooks/use-action.js'

export function PasswordSection() {
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [confirm, setConfirm] = useState('')
  const [done, setDone] = useState('')
  const action = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    setDone('')
    if (next !== confirm) {
      action.setProblem({ message: 'The new passwords do not match.', fields: { confirm: 'Type the same password twice' } })
      return
    }
    const answer = await action.run(() => attempt(api.POST('/api/v1/users/me/password', { body: { current_password: current, new_password: next } })))
    if (!answer) return
    // Every access token was revoked, this one included; the answer carries its replacement.
    storeAccessToken(answer.access_token)
    setCurrent('')
    setNext('')
    setConfirm('')
    setDone(`${answer.detail}.`)
  }

  return (
    <section class="card stack" aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <form class="stack" onSubmit={submit} noValidate>
        <ErrorAlert problem={action.problem} />
        <Notice>{done}</Notice>
        <TextField label="Current password" name="current_password" type="password" value={current} onValue={setCurrent} autoComplete="current-password" required error={action.fieldError('current_password')} />
        <TextField label="New password" name="new_password" type="password" value={next} onValue={setNext} autoComplete="new-password" required error={action.fieldError('new_password')} hint="Changing it signs out your other devices." />
        <TextField label="Confirm new password" name="confirm" type="password" value={confirm} onValue={setConfirm} autoComplete="new-password" required error={action.fieldError('confirm')} />
        <div class="row">
          <button type="submit" class="button-primary" disabled={action.busy}>
            Change password
          </button>
        </div>
      </form>
    </section>
  )
}
