import { useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { REAUTHENTICATION_REQUIRED, attempt, networkProblem, toProblem, type Outcome, type Problem } from '../../api/errors.js'
import { reauthenticate } from '../../api/session.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { TextField } from '../../components/fields.js'
import { useCurrentUser } from '../../current-user.js'
import { useAction } from '../../hooks/use-action.js'

/** The server names the file (`account-export-<id>.json`); this is for a header that went missing on the way. */
const FALLBACK_NAME = 'account-export.json'

function fileNameOf(response: Response): string {
  const header = response.headers.get('Content-Disposition') ?? ''
  const name = /filename="?([^";]+)"?/i.exec(header)?.[1]?.trim()
  // Only a plain file name: the browser would strip a path anyway, but nothing else belongs here.
  return name && /^[\w.-]+$/.test(name) ? name : FALLBACK_NAME
}

/** Hands the browser a file to save, as a click on a download link would. */
function saveFile(data: Blob, name: string) {
  const url = URL.createObjectURL(data)
  const link = document.createElement('a')
  link.href = url
  link.download = name
  link.hidden = true
  document.body.append(link)
  link.click()
  link.remove()
  // The click has started the download by the time this runs; the URL is not needed after it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/**
 * One try at the download, in the shape useAction takes: the file's name once it is saved, or `null`
 * when the server wants a fresh proof first. The export is a GET, which the console's proof middleware
 * does not replay (a GET has no body to carry a password), so this page asks for the password itself.
 */
async function tryDownload(): Promise<Outcome<string | null>> {
  try {
    const { data, error, response } = await api.GET('/api/v1/users/me/export', { parseAs: 'blob' })
    if (response.ok && data) {
      const name = fileNameOf(response)
      saveFile(data, name)
      return { ok: true, data: name, response }
    }
    if (response.status === 403 && (error as { code?: unknown } | undefined)?.code === REAUTHENTICATION_REQUIRED) return { ok: true, data: null, response }
    return { ok: false, problem: toProblem(error, response), response }
  } catch (error) {
    return { ok: false, problem: networkProblem(error) }
  }
}

const WRONG_PASSWORD: Problem = { message: 'That password is not right. Nothing was downloaded.', fields: { password: 'Wrong password' } }

export function ExportData() {
  const { user } = useCurrentUser()
  const [asking, setAsking] = useState(false)
  const [password, setPassword] = useState('')
  const [saved, setSaved] = useState('')
  const action = useAction()

  const downloaded = (name: string) => {
    setAsking(false)
    setSaved(`Your data was downloaded as ${name}.`)
  }

  const start = async () => {
    setSaved('')
    const name = await action.run(tryDownload)
    if (name === null) setAsking(true)
    else if (name) downloaded(name)
  }

  const confirm = async (event: Event) => {
    event.preventDefault()
    setSaved('')
    if (!password) {
      action.setProblem({ message: 'Enter your password.', fields: { password: 'This field is required' } })
      return
    }
    const name = await action.run(async (): Promise<Outcome<string | null>> => {
      const proof = await attempt(reauthenticate({ password }))
      if (!proof.ok) return proof.response?.status === 400 ? { ...proof, problem: WRONG_PASSWORD } : proof
      // The password did its job; it is not kept in the page.
      setPassword('')
      return tryDownload()
    })
    // Only a server that counts no proof as fresh (REAUTH_MAX_AGE_SECONDS=0) refuses right after one.
    if (name === null)
      action.setProblem({
        message: 'This server wants your password with every sensitive request, which a download cannot carry. Ask an administrator for a copy of your data.',
        fields: {},
      })
    else if (name) downloaded(name)
  }

  return (
    <section class="card stack" aria-labelledby="export-title">
      <h2 id="export-title">Your data</h2>
      <p class="muted">
        Download a copy of everything stored about you, as a JSON file: your profile, sessions, API keys, passkeys, linked sign-in accounts and the security
        events about your account. Passwords, keys and codes are never part of it.
      </p>
      <ErrorAlert problem={action.problem} />
      <Notice>{saved}</Notice>
      {asking ? (
        <form class="stack" onSubmit={confirm} noValidate aria-label="Confirm it’s you to download your data">
          <p>Your data is as private as your account: confirm it’s you to download it.</p>
          {/* Lets a password manager tell which account the password is for. */}
          <input type="text" name="username" autoComplete="username" value={user?.username ?? ''} readOnly hidden />
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
          <div class="row">
            <button type="submit" class="button-primary" disabled={action.busy}>
              {action.busy ? 'Preparing…' : 'Confirm and download'}
            </button>
            <button
              type="button"
              class="button"
              disabled={action.busy}
              onClick={() => {
                setAsking(false)
                setPassword('')
                action.setProblem(null)
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div class="row">
          <button type="button" class="button" onClick={start} disabled={action.busy}>
            {action.busy ? 'Preparing…' : 'Download my data'}
          </button>
        </div>
      )}
    </section>
  )
}
