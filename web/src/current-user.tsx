import { createContext, type ComponentChildren } from 'preact'
import { useCallback, useContext, useEffect, useMemo, useState } from 'preact/hooks'
import { api } from './api/client.js'
import { clearTokens, onSessionChange, refreshTokenOf, sessionState, type SessionState } from './api/session.js'
import type { User } from './api/types.js'

interface CurrentUserValue {
  /** Null while signed out; kept while the session is `expired` so the page can stay up. */
  user: User | null
  session: SessionState
  /** True until the first /users/me answer after a (re)load. */
  loading: boolean
  reload(): Promise<void>
  setUser(user: User): void
  signOut(): Promise<void>
}

const CurrentUserContext = createContext<CurrentUserValue | null>(null)

export function CurrentUserProvider({ children }: { children: ComponentChildren }) {
  const [session, setSession] = useState<SessionState>(sessionState)
  const [user, setUser] = useState<User | null>(null)
  const [loading, setLoading] = useState(sessionState() === 'signed-in')

  const reload = useCallback(async () => {
    if (sessionState() !== 'signed-in') return
    try {
      const { data } = await api.GET('/api/v1/users/me')
      if (data) setUser(data)
    } finally {
      setLoading(false)
    }
  }, [])

  useEffect(() => {
    void reload()
    return onSessionChange((state) => {
      setSession(state)
      if (state === 'signed-in') void reload()
      if (state === 'signed-out') setUser(null)
    })
  }, [reload])

  const signOut = useCallback(async () => {
    const refreshToken = refreshTokenOf()
    // Ending the refresh token server-side first; the local copy goes whatever the answer.
    if (refreshToken) await api.POST('/api/v1/auth/logout', { body: { refresh_token: refreshToken } }).catch(() => undefined)
    clearTokens()
  }, [])

  const value = useMemo(() => ({ user, session, loading, reload, setUser, signOut }), [user, session, loading, reload, signOut])
  return <CurrentUserContext.Provider value={value}>{children}</CurrentUserContext.Provider>
}

export function useCurrentUser(): CurrentUserValue {
  const value = useContext(CurrentUserContext)
  if (!value) throw new Error('useCurrentUser needs <CurrentUserProvider>')
  return value
}
