import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client.js'

interface Provider {
  name: string
  label: string
}

/**
 * "Sign in with <label>" for each provider the server offers (OAUTH_PROVIDERS). Each is a plain link:
 * the browser leaves for the provider and comes back through the server to /oauth/callback.
 */
export function ProviderSignIn({ next }: { next: string }) {
  const [providers, setProviders] = useState<Provider[]>([])

  useEffect(() => {
    // No providers, or the list cannot be read: the page simply has no such buttons.
    void api.GET('/api/v1/auth/oauth/providers').then(({ data }) => {
      if (data) setProviders(data)
    })
  }, [])

  if (providers.length === 0) return null
  return (
    <div class="stack" role="group" aria-label="Sign in with another account">
      {providers.map((provider) => (
        <a
          key={provider.name}
          class="button"
          href={`/api/v1/auth/oauth/${encodeURIComponent(provider.name)}/authorize?redirect_to=${encodeURIComponent(next)}`}
        >
          Sign in with {provider.label}
        </a>
      ))}
    </div>
  )
}
