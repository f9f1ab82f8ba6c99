import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { clearTokens } from '../../api/session.js'
import { ErrorAlert } from '../../components/Alert.js'
import { ConfirmButton } from '../../components/ConfirmButton.js'
import { setFlash } from '../../flash.js'
import { useAction } from '../../hooks/use-action.js'
import { navigate } from '../../router.js'

export function SessionsSection() {
  const action = useAction()

  const signOutEverywhere = async () => {
    const answer = await action.run(() => attempt(api.POST('/api/v1/auth/logout-all')))
    if (!answer) return
    clearTokens()
    setFlash('You were signed out on every device, and your API keys were revoked.')
    navigate('/login')
  }

  return (
    <section class="card stack" aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <p>Lost a device, or signed in somewhere you should not have? End every session, this one included, and revoke every API key.</p>
      <ErrorAlert problem={action.problem} />
      <ConfirmButton label="Sign out everywhere" title="Sign out everywhere?" confirmLabel="Sign out everywhere" danger onConfirm={signOutEverywhere}>
        <p>Every device signed in to your account, this one included, will have to sign in again. Scripts using your API keys stop working too.</p>
      </ConfirmButton>
    </section>
  )
}
