import type { Challenge } from './components/SignInForm.js'
import type { Href } from './router.js'

/**
 * The 2FA challenge between /login and /two-factor. It lives in sessionStorage (this tab only, gone
 * when the tab closes) so a reload of /two-factor does not send the user back to the password step.
 */
const KEY = 'carbelsad.challenge'

export interface PendingChallenge extends Challenge {
  next: Href
}

export function savePendingChallenge(challenge: PendingChallenge) {
  sessionStorage.setItem(KEY, JSON.stringify(challenge))
}

export function loadPendingChallenge(): PendingChallenge | null {
  try {
    const parsed = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as PendingChallenge | null
    return parsed && typeof parsed.challenge_token === 'string' ? parsed : null
  } catch {
    return null
  }
}

export function clearPendingChallenge() {
  sessionStorage.removeItem(KEY)
}
