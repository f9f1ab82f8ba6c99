import { useEffect, useRef, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { clearTokens, handleSignInRequests, onSessionChange, signInAgain } from '../api/session.js'
import { useCurrentUser } from '../current-user.js'
import { navigate } from '../router.js'
import { Dialog } from './Dialog.js'
import { SignInForm, type Challenge } from './SignInForm.js'
import { TwoFactorForm } from './TwoFactorForm.js'

/**
 * When the session ends under the user (expired, signed out elsewhere, password changed on another
 * device), this dialog opens over the current page. The page stays mounted underneath, so whatever
 * they typed is still there, and the API call that failed is replayed once they are back.
 */
export function SignInAgainDialog() {
  const { user } = useCurrentUser()
  const [open, setOpen] = useState(false)
  const [challenge, setChallenge] = useState<Challenge | null>(null)
  const settle = useRef<((ok: boolean) => void) | null>(null)
  const userId = useRef<number | null>(null)
  userId.current = user?.id ?? userId.current

  useEffect(() => {
    const stopHandling = handleSignInRequests(
      () =>
        new Promise<boolean>((resolve) => {
          settle.current = resolve
          setChallenge(null)
          setOpen(true)
        }),
    )
    // The background refresh found the session over: ask now, not at the next click.
    const stopWatching = onSessionChange((state) => {
      if (state === 'expired') void signInAgain()
    })
    return () => {
      stopHandling()
      stopWatching()
    }
  }, [])

  const finish = async () => {
    const { data } = await api.GET('/api/v1/users/me')
    setOpen(false)
    settle.current?.(true)
    settle.current = null
    // Someone else signed in at this desk: what is on screen belongs to the previous account.
    if (data && userId.current !== null && data.id !== userId.current) window.location.assign('/profile')
  }

  const giveUp = () => {
    setOpen(false)
    settle.current?.(false)
    settle.current = null
    clearTokens()
    navigate(`/login?next=${encodeURIComponent(window.location.pathname)}`)
  }

  return (
    <Dialog open={open} title="Sign in to continue" onClose={giveUp}>
      <p>Your session has ended. Sign in again to carry on where you left off; nothing you entered is lost.</p>
      {challenge ? (
        <TwoFactorForm challenge={challenge} onSignedIn={finish} onRestart={() => setChallenge(null)} />
      ) : (
        <SignInForm initialIdentifier={user?.username ?? ''} onSignedIn={finish} onChallenge={setChallenge} submitLabel="Sign in and continue" />
      )}
    </Dialog>
  )
}
