import type { ComponentChildren, PartialAnchorHTMLAttributes, TargetedMouseEvent } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ROUTES } from './routes.js'

export type RoutePath = (typeof ROUTES)[number]

export interface Location {
  path: string
  query: URLSearchParams
}

const listeners = new Set<() => void>()

function currentLocation(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) }
}

/** A route plus an optional query, e.g. `/login?next=/security`. */
export type Href = RoutePath | `${RoutePath}?${string}`

export function navigate(to: Href, options: { replace?: boolean } = {}) {
  if (to === `${window.location.pathname}${window.location.search}`) return
  if (options.replace) window.history.replaceState(null, '', to)
  else window.history.pushState(null, '', to)
  for (const listener of listeners) listener()
}

window.addEventListener('popstate', () => {
  for (const listener of listeners) listener()
})

export function useLocation(): Location {
  const [location, setLocation] = useState(currentLocation)
  useEffect(() => {
    const update = () => setLocation(currentLocation())
    listeners.add(update)
    return () => {
      listeners.delete(update)
    }
  }, [])
  return location
}

/** Only console routes are accepted as a `next` target, so a crafted link cannot send users elsewhere. */
export function safeNext(value: string | null, fallback: RoutePath = '/profile'): Href {
  if (!value) return fallback
  const [path = '', query] = value.split('?', 2)
  if (!(ROUTES as readonly string[]).includes(path)) return fallback
  return (query ? `${path}?${query}` : path) as Href
}

type LinkProps = Omit<PartialAnchorHTMLAttributes<HTMLAnchorElement>, 'href' | 'role'> & { href: Href; children: ComponentChildren }

/** An ordinary link (middle-click and "open in new tab" keep working) that routes in-page on a plain click. */
export function Link({ href, children, onClick, ...rest }: LinkProps) {
  const handleClick = (event: TargetedMouseEvent<HTMLAnchorElement>) => {
    onClick?.(event)
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(href)
  }
  return (
    <a href={href} onClick={handleClick} {...rest}>
      {children}
    </a>
  )
}
