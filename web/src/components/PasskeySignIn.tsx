import { useEffect } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { storeTokens } from '../api/session.js'
import { useAction } from '../hooks/use-action.js'
import { autofillSupported, passkeysSupported, usePasskey } from '../passkeys.js'
import { ErrorAlert } from './Alert.js'
import type { Challenge } from './SignInForm.js'

interface PasskeySignInProps {
  onSignedIn(): void
  /** The passkey did not verify the user and the account has 2FA: the code step follows. */
  onChallenge(challenge: Challenge): void
}

type SignInAnswer = { access_token: string; refresh_token: string; token_type: 'bearer'; expires_in: number } | { requires_2fa: true; challenge_token: string; method: 'email' | 'totp' }

/**
 * "Sign in with a passkey": a button, and where the browser supports it, conditional UI (the passkey
 * offered in the username field's autofill) started as soon as the page shows.
 */
export function PasskeySignIn({ onSignedIn, onChallenge }: PasskeySignInProps) {
  const action = useAction()

  const signIn = async (autofill: boolean) => {
    const options = await action.run(() => attempt(api.POST('/api/v1/auth/passkeys/login/options', { body: {} })))
    if (!options) return
    const answer = await usePasskey(options, autofill)
    if (!answer.ok) {
      if (!autofill) action.setProblem(answer.problem)
      return
    }
    const result = (await action.run(() =>
      attempt(api.POST('/api/v1/auth/passkeys/login/verify', { body: { response: answer.data as never, challenge_id: options.challenge_id } })),
    )) as SignInAnswer | undefined
    if (!result) return
    if ('requires_2fa' in result) {
      onChallenge({ challenge_token: result.challenge_token, method: result.method, username_or_email: 'your passkey account' })
      return
    }
    storeTokens(result)
    onSignedIn()
  }

  useEffect(() => {
    if (!passkeysSupported()) return
    void autofillSupported().then((supported) => {
      if (supported) void signIn(true)
    })
  }, [])

  if (!passkeysSupported()) return null
  return (
    <div class="stack">
      <ErrorAlert problem={action.problem} />
      <button type="button" class="button-secondary" onClick={() => void signIn(false)} disabled={action.busy}>
        Sign in with a passkey
      </button>
    </div>
  )
}
