import { useState } from 'preact/hooks'
import { Notice } from '../components/Alert.js'
import { EmailSignIn } from '../components/EmailSignIn.js'
import { PasskeySignIn } from '../components/PasskeySignIn.js'
import { ProviderSignIn } from '../components/ProviderSignIn.js'
import { SignInForm, type Challenge } from '../components/SignInForm.js'
import { takeFlash } from '../flash.js'
import { savePendingChallenge } from '../pending-challenge.js'
import { Link, navigate, safeNext, useLocation } from '../router.js'

export function LoginPage() {
  const { query } = useLocation()
  const next = safeNext(query.get('next'))
  const [flash] = useState(takeFlash)
  const onChallenge = (challenge: Challenge) => {
    savePendingChallenge({ ...challenge, next })
    navigate('/two-factor')
  }

  return (
    <section class="card narrow" aria-labelledby="login-title">
      <h1 id="login-title">Sign in</h1>
      <Notice>{flash}</Notice>
      <SignInForm
        onSignedIn={() => navigate(next, { replace: true })}
        onChallenge={(challenge) => {
          savePendingChallenge({ ...challenge, next })
          navigate('/two-factor')
        }}
      />
      <PasskeySignIn onSignedIn={() => navigate(next, { replace: true })} onChallenge={onChallenge} />
      <EmailSignIn onSignedIn={() => navigate(next, { replace: true })} onChallenge={onChallenge} />
      <ProviderSignIn next={next} />
      <p>
        <Link href="/forgot-password">Forgot your password?</Link>
      </p>
      <p>
        New here? <Link href="/register">Create an account</Link>
      </p>
    </section>
  )
}
