import { useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { storeTokens } from '../api/session.js'
import { useAction } from '../hooks/use-action.js'
import { ErrorAlert, Notice } from './Alert.js'
import { TextField } from './fields.js'
import type { Challenge } from './SignInForm.js'

interface EmailSignInProps {
  onSignedIn(): void
  onChallenge(challenge: Challenge): void
}

type SignInAnswer = { access_token: string; refresh_token: string; token_type: 'bearer'; expires_in: number } | { requires_2fa: true; challenge_token: string; method: 'email' | 'totp' }

/**
 * "Email me a sign-in link": asks for the address, then offers the code of the same mail for
 * whoever reads their mail on another device than this one.
 */
export function EmailSignIn({ onSignedIn, onChallenge }: EmailSignInProps) {
  const [open, setOpen] = useState(false)
  const [email, setEmail] = useState('')
  const [code, setCode] = useState('')
  const [sent, setSent] = useState(false)
  const request = useAction()
  const verify = useAction()

  if (!open) {
    return (
      <button type="button" class="button-link" onClick={() => setOpen(true)}>
        Email me a sign-in link
      </button>
    )
  }

  const send = async (event: Event) => {
    event.preventDefault()
    const answer = await request.run(() => attempt(api.POST('/api/v1/auth/email-login', { body: { email: email.trim() } })))
    if (answer) setSent(true)
  }

  const submitCode = async (event: Event) => {
    event.preventDefault()
    const result = (await verify.run(() => attempt(api.POST('/api/v1/auth/email-login/verify', { body: { email: email.trim(), code: code.trim() } })))) as SignInAnswer | undefined
    if (!result) return
    if ('requires_2fa' in result) {
      onChallenge({ challenge_token: result.challenge_token, method: result.method, username_or_email: email.trim() })
      return
    }
    storeTokens(result)
    onSignedIn()
  }

  return (
    <section class="stack" aria-labelledby="email-sign-in-title">
      <h2 id="email-sign-in-title">Sign in by email</h2>
      {sent ? (
        <form class="stack" onSubmit={submitCode} noValidate>
          <Notice>If that address belongs to an account, a sign-in link and code are on their way. Open the link, or enter the code here.</Notice>
          <ErrorAlert problem={verify.problem} />
          <TextField label="Sign-in code" name="code" value={code} onValue={setCode} autoComplete="one-time-code" inputMode="numeric" maxLength={6} required autoFocus />
          <button type="submit" class="button-primary" disabled={verify.busy}>
            {verify.busy ? 'Checking…' : 'Sign in with the code'}
          </button>
        </form>
      ) : (
        <form class="stack" onSubmit={send} noValidate>
          <ErrorAlert problem={request.problem} />
          <TextField label="Email" name="email" type="email" value={email} onValue={setEmail} autoComplete="email" required autoFocus error={request.fieldError('email')} />
          <button type="submit" class="button-secondary" disabled={request.busy}>
            {request.busy ? 'Sending…' : 'Send the link'}
          </button>
        </form>
      )}
    </section>
  )
}
