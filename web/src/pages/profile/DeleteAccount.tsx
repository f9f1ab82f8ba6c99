import { useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { networkProblem, toProblem, type Outcome, type Problem } from '../../api/errors.js'
import { clearTokens } from '../../api/session.js'
import { ErrorAlert } from '../../components/Alert.js'
import { Dialog } from '../../components/Dialog.js'
import { TextField } from '../../components/fields.js'
import { useCurrentUser } from '../../current-user.js'
import { setFlash } from '../../flash.js'
import { useAction } from '../../hooks/use-action.js'
import { navigate } from '../../router.js'

/** What the sign-in page says once the account is gone. */
export const ACCOUNT_DELETED_MESSAGE = 'Your account was deleted, and you were signed out everywhere. We mailed a confirmation to your address.'

/** The server's answers this form tells apart (docs/ERRORS.md), in words for the person deleting. */
function problemOf(error: unknown, response: Response): Problem {
  const code = (error as { code?: unknown } | undefined)?.code
  if (code === 'incorrect_password') return { message: 'That password is not right. Your account was not deleted.', fields: { password: 'Wrong password' } }
  if (code === 'last_superadmin') {
    return {
      message: 'You are the last active superadmin, so your account cannot be deleted: nobody could manage the others. Make another user a superadmin first.',
      fields: {},
    }
  }
  return toProblem(error, response)
}

/**
 * The password travels in the request itself, so the proof is as fresh as it gets and the console's
 * proof dialog never has to step in.
 */
async function deleteAccount(password: string): Promise<Outcome<true>> {
  try {
    const { error, response } = await api.DELETE('/api/v1/users/me', { body: { password } })
    if (response.ok) return { ok: true, data: true, response }
    return { ok: false, problem: problemOf(error, response), response }
  } catch (error) {
    return { ok: false, problem: networkProblem(error) }
  }
}

export function DeleteAccount() {
  const { user } = useCurrentUser()
  const [open, setOpen] = useState(false)
  const [password, setPassword] = useState('')
  const [typed, setTyped] = useState('')
  const action = useAction()
  if (!user) return null

  const close = () => {
    setOpen(false)
    setPassword('')
    setTyped('')
    action.setProblem(null)
  }

  const submit = async (event: Event) => {
    event.preventDefault()
    const fields: Record<string, string> = {}
    if (typed.trim() !== user.username) fields.confirm = `Type ${user.username} exactly`
    if (!password) fields.password = 'This field is required'
    if (Object.keys(fields).length > 0) {
      action.setProblem({ message: fields.confirm ? 'Type your username to confirm that you want to delete this account.' : 'Enter your password.', fields })
      return
    }
    const done = await action.run(() => deleteAccount(password))
    if (!done) return
    // The server ended every session with the account: there is nothing left to sign out of.
    clearTokens()
    setFlash(ACCOUNT_DELETED_MESSAGE)
    navigate('/login', { replace: true })
  }

  return (
    <section class="card stack" aria-labelledby="delete-account-title">
      <h2 id="delete-account-title">Delete account</h2>
      <div>
        <p>Deleting your account is permanent. It removes:</p>
        <ul>
          <li>your profile and sign-in details (password, two-factor settings and recovery codes)</li>
          <li>every session: you are signed out on all your devices at once</li>
          <li>your API keys, passkeys and linked sign-in accounts</li>
          <li>pending email changes and any links we mailed you</li>
        </ul>
      </div>
      <p class="muted">
        The security log keeps one entry that the account number was deleted, without your name or address. We mail a confirmation to {user.email}. Download
        your data first if you want a copy.
      </p>
      <div class="stack danger-zone">
        <button type="button" class="button-danger" onClick={() => setOpen(true)}>
          Delete my account
        </button>
      </div>
      <Dialog open={open} title="Delete your account?" onClose={close}>
        <form class="stack" onSubmit={submit} noValidate>
          <p>
            This deletes <strong>{user.username}</strong> and everything that belongs to it. It cannot be undone.
          </p>
          <ErrorAlert problem={action.problem} />
          <input type="text" name="username" autoComplete="username" value={user.username} readOnly hidden />
          <TextField
            label="Your password"
            name="password"
            type="password"
            value={password}
            onValue={setPassword}
            autoComplete="current-password"
            required
            autoFocus
            error={action.fieldError('password')}
          />
          <TextField
            label={`Type your username, ${user.username}, to confirm`}
            name="confirm"
            value={typed}
            onValue={setTyped}
            autoComplete="off"
            spellcheck={false}
            required
            error={action.fieldError('confirm')}
          />
          <div class="row">
            <button type="submit" class="button-danger" disabled={action.busy}>
              {action.busy ? 'Deleting…' : 'Delete my account permanently'}
            </button>
            <button type="button" class="button" onClick={close} disabled={action.busy}>
              Cancel
            </button>
          </div>
        </form>
      </Dialog>
    </section>
  )
}
