import { ApiKeysSection } from './security/ApiKeysSection.js'
import { IdentitiesSection } from './security/IdentitiesSection.js'
import { PasskeysSection } from './security/PasskeysSection.js'
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
      <PasskeysSection />
      <IdentitiesSection />
      <ApiKeysSection />
      <SessionsSection />
    </div>
  )
}
