import { useState } from 'preact/hooks'

interface RecoveryCodesProps {
  codes: readonly string[]
  onDone(): void
}

/** Shown once: the server keeps only hashes, so this is the user's only chance to save them. */
export function RecoveryCodes({ codes, onDone }: RecoveryCodesProps) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(codes.join('\n'))
      setCopied(true)
    } catch {
      setCopied(false)
    }
  }
  return (
    <section class="secret-box" aria-labelledby="recovery-title">
      <h3 id="recovery-title">Your recovery codes</h3>
      <p>
        Each code signs you in once if you cannot get a verification code. <strong>They are shown only now.</strong> Store them
        somewhere safe, such as a password manager.
      </p>
      <ul class="codes" aria-label="Recovery codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <div class="row">
        <button type="button" class="button" onClick={copy}>
          {copied ? 'Copied' : 'Copy codes'}
        </button>
        <button type="button" class="button-primary" onClick={onDone}>
          I have saved them
        </button>
      </div>
    </section>
  )
}
