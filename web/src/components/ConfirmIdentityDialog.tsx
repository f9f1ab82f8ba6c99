import { useEffect, useRef, useState } from 'preact/hooks'
import { attempt } from '../api/errors.js'
import { handleProofRequests } from '../api/reauth.js'
import { reauthenticate, type Proof } from '../api/session.js'
import { useCurrentUser } from '../current-user.js'
import { useAction } from '../hooks/use-action.js'
import { passkeysSupported, usePasskey } from '../passkeys.js'
import { api } from '../api/client.js'
import { ErrorAlert } from './Alert.js'
import { Dialog } from './Dialog.js'
import { TextField } from './fields.js'

/**
 * Asks for the password (or a 2FA code) when a sensitive action answers `reauthentication_required`.
 * Like the sign-in dialog it opens over the page, which stays as it was; once the server accepts the
 * proof, the refused call is replayed (reauthMiddleware) and the page gets that answer instead.
 */
export function ConfirmIdentityDialog() {
  const { user } = useCurrentUser()
  const [open, setOpen] = useState(false)
  const [useCode, setUseCode] = useState(false)
  const [password, setPassword] = useState('')
  const [code, setCode] = useState('')
  const action = useAction()
  const settle = useRef<((proof: Proof | null) => void) | null>(null)

  useEffect(
    () =>
      handleProofRequests(
        () =>
          new Promise<Proof | null>((resolve) => {
            settle.current = resolve
            setPassword('')
            setCode('')
            setUseCode(false)
            action.setProblem(null)
            setOpen(true)
          }),
      ),
    [],
  )

  const finish = (proof: Proof | null) => {
    setOpen(false)
    // Secrets are not kept in the page once they did their job.
    setPassword('')
    setCode('')
    settle.current?.(proof)
    settle.current = null
  }

  const submit = async (event: Event) => {
    event.preventDefault()
    const typed = useCode ? code.replace(/\s/g, '') : password
    if (!typed) {
      action.setProblem({ message: useCode ? 'Enter a code.' : 'Enter your password.', fields: { [useCode ? 'code' : 'password']: 'This field is required' } })
      return
    }
    const proof: Proof = useCode ? { code: typed } : { password: typed }
    const tokens = await action.run(() => attempt(reauthenticate(proof)))
    if (tokens) finish(proof)
  }

  // A passkey that verifies the user is a proof too, and the only one an account without a password has.
  const confirmWithPasskey = async () => {
    const options = await action.run(() => attempt(api.POST('/api/v1/auth/passkeys/reauthenticate/options')))
    if (!options) return
    const answer = await usePasskey(options)
    if (!answer.ok) {
      action.setProblem(answer.problem)
      return
    }
    const proof: Proof = { passkey: answer.data as Record<string, unknown> }
    const tokens = await action.run(() => attempt(reauthenticate(proof)))
    if (tokens) finish(proof)
  }

  // Email codes are only mailed at sign-in, so for email 2FA only recovery codes can stand in here.
  const codeChoice = user?.two_fa_enabled ? (user.two_fa_method === 'totp' ? 'Use an authenticator or recovery code' : 'Use a recovery code') : null

  return (
    <Dialog open={open} title="Confirm it’s you" onClose={() => finish(null)}>
      <form class="stack" onSubmit={submit} noValidate>
        <p>{useCode ? 'Enter a 6-digit code from your authenticator app, or one of your recovery codes.' : 'This action needs your password again, for your security.'}</p>
        <ErrorAlert problem={action.problem} />
        {/* Lets a password manager tell which account the password is for. */}
        <input type="text" name="username" autoComplete="username" value={user?.username ?? ''} readOnly hidden />
        {useCode ? (
          <TextField
            key="code"
            label={user?.two_fa_method === 'totp' ? 'Authenticator or recovery code' : 'Recovery code'}
            name="code"
            value={code}
            onValue={setCode}
            autoComplete="one-time-code"
            maxLength={11}
            required
            autoFocus
            spellcheck={false}
            error={action.fieldError('code')}
          />
        ) : (
          <TextField
            key="password"
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
        )}
        <div class="row">
          <button type="submit" class="button-primary" disabled={action.busy}>
            {action.busy ? 'Checking…' : 'Confirm and continue'}
          </button>
          <button type="button" class="button" onClick={() => finish(null)} disabled={action.busy}>
            Cancel
          </button>
        </div>
        {codeChoice ? (
          <button
            type="button"
            class="button-link"
            onClick={() => {
              action.setProblem(null)
              setUseCode(!useCode)
            }}
          >
            {useCode ? 'Use your password instead' : codeChoice}
          </button>
        ) : null}
        {passkeysSupported() ? (
          <button type="button" class="button-link" onClick={() => void confirmWithPasskey()} disabled={action.busy}>
            Use a passkey
          </button>
        ) : null}
      </form>
    </Dialog>
  )
}
