import { useEffect, useState } from 'preact/hooks'
import { roleAtLeast } from '../api/types.js'
import { useCurrentUser } from '../current-user.js'
import { Link, navigate, useLocation, type RoutePath } from '../router.js'

interface NavItem {
  href: RoutePath
  label: string
}

/** Site header: brand, navigation (a disclosure menu on narrow screens) and the account controls. */
export function Header() {
  const { user, signOut } = useCurrentUser()
  const { path } = useLocation()
  const [menuOpen, setMenuOpen] = useState(false)

  // A route change closes the phone menu, as a full page load would.
  useEffect(() => setMenuOpen(false), [path])

  const items: NavItem[] = user
    ? [
        { href: '/profile', label: 'Profile' },
        { href: '/security', label: 'Security' },
        ...(roleAtLeast(user.role, 'admin')
          ? ([
              { href: '/admin/users', label: 'Users' },
              { href: '/admin/audit', label: 'Audit log' },
            ] as const)
          : []),
        { href: '/live', label: 'Live' },
        { href: '/status', label: 'Status' },
      ]
    : [
        { href: '/login', label: 'Sign in' },
        { href: '/register', label: 'Register' },
        { href: '/status', label: 'Status' },
      ]

  return (
    <header class="site-header">
      <div class="header-bar">
        <Link href={user ? '/profile' : '/login'} class="brand">
          carbelsad <span class="brand-sub">console</span>
        </Link>
        <button
          type="button"
          class="menu-toggle button"
          aria-expanded={menuOpen}
          aria-controls="site-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
      </div>
      <nav id="site-nav" class={`site-nav${menuOpen ? ' open' : ''}`} aria-label="Main">
        <ul>
          {items.map((item) => (
            <li key={item.href}>
              <Link href={item.href} aria-current={path === item.href ? 'page' : undefined}>
                {item.label}
              </Link>
            </li>
          ))}
        </ul>
        {user ? (
          <div class="account">
            <span class="who">
              {user.username} <span class={`badge badge-${user.role}`}>{user.role}</span>
            </span>
            <button
              type="button"
              class="button"
              onClick={async () => {
                await signOut()
                navigate('/login')
              }}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </nav>
    </header>
  )
}
