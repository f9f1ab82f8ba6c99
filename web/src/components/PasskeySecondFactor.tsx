import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { storeTokens } from '../api/session.js'
import { useAction } from '../hooks/use-action.js'
import { passkeysSupported, usePasskey } from '../passkeys.js'
import { ErrorAlert } from './Alert.js'

interface PasskeySecondFactorProps {
  challengeToken: string
  onSignedIn(): void
}

/** The 2FA step answered with a passkey instead of a code. */
export function PasskeySecondFactor({ challengeToken, onSignedIn }: PasskeySecondFactorProps) {
  const action = useAction()
  if (!passkeysSupported()) return null

  const answer = async () => {
    const options = await action.run(() => attempt(api.POST('/api/v1/auth/passkeys/2fa/options', { body: { challenge_token: challengeToken } })))
    if (!options) return
    const used = await usePasskey(options)
    if (!used.ok) {
      action.setProblem(used.problem)
      return
    }
    const tokens = await action.run(() => attempt(api.POST('/api/v1/auth/verify-2fa', { body: { challenge_token: challengeToken, passkey: used.data as never } })))
    if (!tokens) return
    storeTokens(tokens)
    onSignedIn()
  }

  return (
    <div class="stack">
      <ErrorAlert problem={action.problem} />
      <button type="button" class="button-secondary" onClick={() => void answer()} disabled={action.busy}>
        Use a passkey instead
      </button>
    </div>
  )
}
