import { ApiKeysSection } from './security/ApiKeysSection.js'
import { PasswordSection } from './security/PasswordSection.js'
import { SessionsSection } from './security/SessionsSection.js'
import { TwoFactorSection } from './security/TwoFactorSection.js'

export function SecurityPage() {
  return (
    <div class="page">
      <h1>Security</h1>
      <div class="columns">
        <TwoFactorSection />
        <PasswordSection />
      </div>
      <ApiKeysSection />
      <SessionsSection />
    </div>
  )
}
