import { useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { storeTokens } from '../api/session.js'
import { useAction } from '../hooks/use-action.js'
import { ErrorAlert, Notice } from './Alert.js'
import { TextField } from './fields.js'
import type { Challenge } from './SignInForm.js'

interface TwoFactorFormProps {
  challenge: Challenge
  onSignedIn(): void
  /** The challenge is dead (expired, too many wrong codes): start over with the password. */
  onRestart(): void
}

/** The second sign-in step: the emailed code, the authenticator code, or a recovery code. */
export function TwoFactorForm({ challenge, onSignedIn, onRestart }: TwoFactorFormProps) {
  const [code, setCode] = useState('')
  const [useRecovery, setUseRecovery] = useState(false)
  const [notice, setNotice] = useState('')
  const action = useAction()
  const resend = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    setNotice('')
    const tokens = await action.run(() =>
      attempt(api.POST('/api/v1/auth/verify-2fa', { body: { challenge_token: challenge.challenge_token, code: code.trim() } })),
    )
    if (!tokens) return
    storeTokens(tokens)
    onSignedIn()
  }

  const sendAgain = async () => {
    setNotice('')
    action.setProblem(null)
    const sent = await resend.run(() => attempt(api.POST('/api/v1/auth/resend-2fa', { body: { challenge_token: challenge.challenge_token } })))
    if (sent) setNotice('A new code is on its way. Earlier codes no longer work.')
  }

  const dead = action.problem?.message.includes('log in again') ?? false
  const prompt = useRecovery
    ? 'Enter one of your recovery codes (like abcde-12345). Each works once.'
    : challenge.method === 'email'
      ? 'We emailed you a 6-digit code. It expires in a few minutes.'
      : 'Enter the 6-digit code from your authenticator app.'

  return (
    <form class="stack" onSubmit={submit} noValidate>
      <p id="two-factor-prompt">{prompt}</p>
      <ErrorAlert problem={action.problem ?? resend.problem} />
      <Notice>{notice}</Notice>
      {dead ? (
        <button type="button" class="button-primary" onClick={onRestart}>
          Sign in again
        </button>
      ) : (
        <>
          <TextField
            key={useRecovery ? 'recovery' : 'code'}
            label={useRecovery ? 'Recovery code' : 'Verification code'}
            name="code"
            value={code}
            onValue={setCode}
            autoComplete="one-time-code"
            inputMode={useRecovery ? 'text' : 'numeric'}
            maxLength={useRecovery ? 11 : 6}
            required
            autoFocus
            spellcheck={false}
            error={action.fieldError('code')}
          />
          <button type="submit" class="button-primary" disabled={action.busy}>
            {action.busy ? 'Checking…' : 'Verify'}
          </button>
        </>
      )}
      <div class="row">
        {challenge.method === 'email' && !useRecovery ? (
          <button type="button" class="button-link" onClick={sendAgain} disabled={resend.busy}>
            Send a new code
          </button>
        ) : null}
        <button
          type="button"
          class="button-link"
          onClick={() => {
            setUseRecovery(!useRecovery)
            setCode('')
            action.setProblem(null)
          }}
        >
          {useRecovery ? 'Use a verification code instead' : 'Use a recovery code'}
        </button>
      </div>
    </form>
  )
}
