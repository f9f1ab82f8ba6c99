import { useState } from 'preact/hooks'
import { PasskeySecondFactor } from '../components/PasskeySecondFactor.js'
import { TwoFactorForm } from '../components/TwoFactorForm.js'
import { clearPendingChallenge, loadPendingChallenge } from '../pending-challenge.js'
import { Link, navigate } from '../router.js'

export function TwoFactorPage() {
  const [challenge] = useState(loadPendingChallenge)

  if (!challenge) {
    return (
      <section class="card narrow" aria-labelledby="tfa-title">
        <h1 id="tfa-title">Two-step verification</h1>
        <p>There is no sign-in waiting for a code in this tab.</p>
        <p>
          <Link href="/login">Sign in</Link>
        </p>
      </section>
    )
  }

  return (
    <section class="card narrow" aria-labelledby="tfa-title">
      <h1 id="tfa-title">Two-step verification</h1>
      <p class="muted">
        Signing in as <strong>{challenge.username_or_email}</strong>.
      </p>
      <TwoFactorForm
        challenge={challenge}
        onSignedIn={() => {
          clearPendingChallenge()
          navigate(challenge.next, { replace: true })
        }}
        onRestart={() => {
          clearPendingChallenge()
          navigate('/login', { replace: true })
        }}
      />
      <PasskeySecondFactor
        challengeToken={challenge.challenge_token}
        onSignedIn={() => {
          clearPendingChallenge()
          navigate(challenge.next, { replace: true })
        }}
      />
    </section>
  )
}
