import QRCode from 'qrcode'
import { useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { TextField } from '../../components/fields.js'
import { RecoveryCodes } from '../../components/RecoveryCodes.js'
import { useCurrentUser } from '../../current-user.js'
import { useAction } from '../../hooks/use-action.js'

/** What the section is in the middle of; `idle` shows the buttons that start things. */
type Step = { kind: 'idle' } | { kind: 'email-code' } | { kind: 'totp'; secret: string; qr: string }

export function TwoFactorSection() {
  const { user, reload } = useCurrentUser()
  const [step, setStep] = useState<Step>({ kind: 'idle' })
  const [code, setCode] = useState('')
  const [password, setPassword] = useState('')
  const [codes, setCodes] = useState<string[] | null>(null)
  const [notice, setNotice] = useState('')
  const action = useAction()

  if (!user) return null

  /** Each step starts with an empty code box: a code typed for the other method would be wrong. */
  const start = (next: Step) => {
    setNotice('')
    setCode('')
    setStep(next)
  }

  const sendEmailCode = async () => {
    const answer = await action.run(() => attempt(api.POST('/api/v1/auth/enable-2fa', { body: null })))
    if (!answer) return
    start({ kind: 'email-code' })
    setNotice(answer.detail ?? 'A confirmation code was sent to your email.')
  }

  const setupTotp = async () => {
    const answer = await action.run(() => attempt(api.POST('/api/v1/auth/totp/setup', { body: null })))
    if (!answer) return
    // Rendered here, never by a QR web service: the secret must not leave the browser.
    const qr = await QRCode.toDataURL(answer.otpauth_url, { margin: 1, width: 208, errorCorrectionLevel: 'M' })
    start({ kind: 'totp', secret: answer.secret, qr })
  }

  const confirm = async (event: Event) => {
    event.preventDefault()
    const trimmed = code.replace(/\s/g, '')
    if (!/^\d{6}$/.test(trimmed)) {
      action.setProblem({ message: 'Enter the 6-digit code.', fields: { code: 'The code has 6 digits' } })
      return
    }
    const answer =
      step.kind === 'totp'
        ? await action.run(() => attempt(api.POST('/api/v1/auth/totp/confirm', { body: { code: trimmed } })))
        : await action.run(() => attempt(api.POST('/api/v1/auth/enable-2fa', { body: { code: trimmed } })))
    if (!answer) return
    setStep({ kind: 'idle' })
    setCodes(answer.recovery_codes ?? null)
    setNotice(`Two-factor authentication is on, with ${answer.method === 'totp' ? 'your authenticator app' : 'codes by email'}.`)
    await reload()
  }

  const withPassword = async (event: Event, what: 'disable' | 'codes') => {
    event.preventDefault()
    if (what === 'disable') {
      const answer = await action.run(() => attempt(api.POST('/api/v1/auth/disable-2fa', { body: { password } })))
      if (!answer) return
      setNotice('Two-factor authentication is off.')
      setCodes(null)
      await reload()
    } else {
      const answer = await action.run(() => attempt(api.POST('/api/v1/auth/recovery-codes', { body: { password } })))
      if (!answer) return
      setCodes(answer.recovery_codes)
      setNotice('New recovery codes issued; the old ones no longer work.')
    }
    setPassword('')
  }

  const sendTest = async () => {
    const answer = await action.run(() => attempt(api.POST('/api/v1/auth/test-2fa')))
    if (answer) setNotice(answer.detail)
  }

  const method = user.two_fa_method === 'totp' ? 'an authenticator app' : 'codes sent by email'

  return (
    <section class="card stack" aria-labelledby="tfa-title">
      <h2 id="tfa-title">Two-factor authentication</h2>
      <p>
        Status:{' '}
        <strong data-testid="two-factor-status">{user.two_fa_enabled ? `On, using ${method}` : 'Off'}</strong>
      </p>
      <ErrorAlert problem={action.problem} />
      <Notice>{notice}</Notice>
      {codes ? <RecoveryCodes codes={codes} onDone={() => setCodes(null)} /> : null}

      {step.kind === 'idle' ? (
        <div class="row">
          {!(user.two_fa_enabled && user.two_fa_method === 'email') ? (
            <button type="button" class="button" onClick={sendEmailCode} disabled={action.busy}>
              {user.two_fa_enabled ? 'Switch to email codes' : 'Turn on with email codes'}
            </button>
          ) : null}
          <button type="button" class="button" onClick={setupTotp} disabled={action.busy}>
            {user.two_fa_method === 'totp' && user.two_fa_enabled ? 'Set up a new authenticator' : user.two_fa_enabled ? 'Switch to an authenticator app' : 'Turn on with an authenticator app'}
          </button>
          {user.two_fa_enabled ? (
            <button type="button" class="button" onClick={sendTest} disabled={action.busy}>
              Send a test email
            </button>
          ) : null}
        </div>
      ) : (
        <form class="stack setup" onSubmit={confirm} noValidate>
          {step.kind === 'totp' ? (
            <div class="totp">
              <img src={step.qr} width={208} height={208} alt="QR code to scan with your authenticator app" />
              <div>
                <p>Scan the code with your authenticator app (1Password, Aegis, Google Authenticator…), or type this key into it:</p>
                <p>
                  <code class="secret" data-testid="totp-secret">
                    {step.secret.replace(/(.{4})/g, '$1 ').trim()}
                  </code>
                </p>
              </div>
            </div>
          ) : (
            <p>Enter the 6-digit code we just emailed to {user.email}.</p>
          )}
          <TextField
            label={step.kind === 'totp' ? 'Code from the app' : 'Code from the email'}
            name="code"
            value={code}
            onValue={setCode}
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={7}
            required
            autoFocus
            error={action.fieldError('code')}
          />
          <div class="row">
            <button type="submit" class="button-primary" disabled={action.busy}>
              Turn on
            </button>
            {step.kind === 'email-code' ? (
              <button type="button" class="button" onClick={sendEmailCode} disabled={action.busy}>
                Send another code
              </button>
            ) : null}
            <button type="button" class="button" onClick={() => start({ kind: 'idle' })}>
              Cancel
            </button>
          </div>
        </form>
      )}

      {user.two_fa_enabled && step.kind === 'idle' ? (
        <form class="stack password-actions" onSubmit={(event) => withPassword(event, 'disable')} noValidate>
          <h3>Recovery codes and turning off</h3>
          <TextField
            label="Your password"
            name="password"
            type="password"
            value={password}
            onValue={setPassword}
            autoComplete="current-password"
            hint="Needed to issue new recovery codes or turn two-factor off."
            error={action.fieldError('password')}
          />
          <div class="row">
            <button type="button" class="button" onClick={(event) => withPassword(event, 'codes')} disabled={action.busy}>
              New recovery codes
            </button>
            <button type="submit" class="button-danger" disabled={action.busy}>
              Turn off two-factor
            </button>
          </div>
        </form>
      ) : null}
    </section>
  )
}
