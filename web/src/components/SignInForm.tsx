import { useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { storeTokens } from '../api/session.js'
import type { TwoFactorMethod } from '../api/types.js'
import { useAction } from '../hooks/use-action.js'
import { ErrorAlert } from './Alert.js'
import { TextField } from './fields.js'

export interface Challenge {
  challenge_token: string
  method: TwoFactorMethod
  username_or_email: string
}

interface SignInFormProps {
  initialIdentifier?: string
  /** Tokens are stored already; go on. */
  onSignedIn(): void
  /** The account has 2FA: a code is needed to finish. */
  onChallenge(challenge: Challenge): void
  submitLabel?: string
}

/** Username-or-email and password; the first step of every sign-in, on the page or in the dialog. */
export function SignInForm({ initialIdentifier = '', onSignedIn, onChallenge, submitLabel = 'Sign in' }: SignInFormProps) {
  const [identifier, setIdentifier] = useState(initialIdentifier)
  const [password, setPassword] = useState('')
  const action = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    const result = await action.run(() => attempt(api.POST('/api/v1/auth/login', { body: { username_or_email: identifier.trim(), password } })))
    if (!result) return
    if ('requires_2fa' in result) {
      onChallenge({ challenge_token: result.challenge_token, method: result.method, username_or_email: identifier.trim() })
      return
    }
    storeTokens(result)
    onSignedIn()
  }

  return (
    <form class="stack" onSubmit={submit} noValidate>
      <ErrorAlert problem={action.problem} />
      <TextField
        label="Username or email"
        name="username_or_email"
        value={identifier}
        onValue={setIdentifier}
        // `webauthn` lets the browser offer passkeys in this field's autofill (conditional UI).
        autoComplete="username webauthn"
        required
        autoFocus={!initialIdentifier}
        error={action.fieldError('username_or_email')}
      />
      <TextField
        label="Password"
        name="password"
        type="password"
        value={password}
        onValue={setPassword}
        autoComplete="current-password"
        required
        autoFocus={Boolean(initialIdentifier)}
        error={action.fieldError('password')}
      />
      <button type="submit" class="button-primary" disabled={action.busy}>
        {action.busy ? 'Signing in…' : submitLabel}
      </button>
    </form>
  )
}
