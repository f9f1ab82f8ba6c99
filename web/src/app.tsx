import type { ComponentChildren, ComponentType } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import { roleAtLeast } from './api/types.js'
import { ConfirmIdentityDialog } from './components/ConfirmIdentityDialog.js'
import { Header } from './components/Header.js'
import { SignInAgainDialog } from './components/SignInAgainDialog.js'
import { CurrentUserProvider, useCurrentUser } from './current-user.js'
import { AdminAuditPage } from './pages/AdminAudit.js'
import { AdminUsersPage } from './pages/AdminUsers.js'
import { EmailLoginPage } from './pages/EmailLogin.js'
import { ForgotPasswordPage } from './pages/ForgotPassword.js'
import { LivePage } from './pages/Live.js'
import { LoginPage } from './pages/Login.js'
import { OAuthCallbackPage } from './pages/OAuthCallback.js'
import { ProfilePage } from './pages/Profile.js'
import { RegisterPage } from './pages/Register.js'
import { ResetPasswordPage } from './pages/ResetPassword.js'
import { SecurityPage } from './pages/Security.js'
import { StatusPage } from './pages/Status.js'
import { TwoFactorPage } from './pages/TwoFactor.js'
import { VerifyEmailPage } from './pages/VerifyEmail.js'
import { navigate, useLocation, type RoutePath } from './router.js'

/**
 * Who may see a page: `guest` pages (sign-in, register) send signed-in users on, `user` and `admin`
 * pages send everyone else to sign in, `public` pages are for all.
 */
type Access = 'guest' | 'public' | 'user' | 'admin'

interface Page {
  title: string
  access: Access
  component: ComponentType
}

const PAGES: Record<Exclude<RoutePath, '/'>, Page> = {
  '/login': { title: 'Sign in', access: 'guest', component: LoginPage },
  '/register': { title: 'Create an account', access: 'guest', component: RegisterPage },
  '/two-factor': { title: 'Two-step verification', access: 'guest', component: TwoFactorPage },
  '/forgot-password': { title: 'Forgot password', access: 'public', component: ForgotPasswordPage },
  '/reset-password': { title: 'Choose a new password', access: 'public', component: ResetPasswordPage },
  '/verify-email': { title: 'Verify email', access: 'public', component: VerifyEmailPage },
  '/oauth/callback': { title: 'Signing in', access: 'public', component: OAuthCallbackPage },
  '/email-login': { title: 'Signing in', access: 'guest', component: EmailLoginPage },
  '/profile': { title: 'Profile', access: 'user', component: ProfilePage },
  '/security': { title: 'Security', access: 'user', component: SecurityPage },
  '/admin/users': { title: 'Users', access: 'admin', component: AdminUsersPage },
  '/admin/audit': { title: 'Audit log', access: 'admin', component: AdminAuditPage },
  '/live': { title: 'Live', access: 'user', component: LivePage },
  '/status': { title: 'Status', access: 'public', component: StatusPage },
}

function Routes() {
  const { path } = useLocation()
  const { user, session, loading } = useCurrentUser()
  const mainRef = useRef<HTMLElement>(null)
  const firstRender = useRef(true)
  const page = path in PAGES ? PAGES[path as keyof typeof PAGES] : undefined

  // Where the page cannot be shown, move on; `expired` keeps the page (the sign-in dialog is over it).
  const redirect = (() => {
    if (!page) return session === 'signed-out' ? '/login' : '/profile'
    if (page.access === 'guest' && session === 'signed-in') return '/profile'
    if ((page.access === 'user' || page.access === 'admin') && session === 'signed-out') return `/login?next=${encodeURIComponent(path)}` as const
    return null
  })()

  useEffect(() => {
    // Effects run a moment after rendering; if the user has navigated meanwhile (e.g. "Sign out"
    // going to /login), this redirect was meant for a page that is no longer shown.
    if (redirect && window.location.pathname === path) navigate(redirect, { replace: true })
  }, [redirect, path])

  useEffect(() => {
    if (page) document.title = `${page.title} · carbelsad`
    // Move focus to the new content on in-app navigation, so keyboard and screen-reader users land there.
    if (!firstRender.current) mainRef.current?.focus()
    firstRender.current = false
  }, [path])

  let content: ComponentChildren
  if (redirect || !page || ((page.access === 'user' || page.access === 'admin') && (loading || !user))) {
    content = <p class="loading">Loading…</p>
  } else if (page.access === 'admin' && user && !roleAtLeast(user.role, 'admin')) {
    content = (
      <section class="card">
        <h1>Not available</h1>
        <p>This page is for administrators.</p>
      </section>
    )
  } else {
    const Component = page.component
    content = <Component />
  }

  return (
    <main id="main" ref={mainRef} tabIndex={-1}>
      {content}
    </main>
  )
}

export function App() {
  return (
    <CurrentUserProvider>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <Routes />
      <footer class="site-footer">
        <p>
          carbelsad · <a href="/api/docs">API docs</a>
        </p>
      </footer>
      <SignInAgainDialog />
      <ConfirmIdentityDialog />
    </CurrentUserProvider>
  )
}
