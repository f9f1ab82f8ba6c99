import { and, desc, eq } from 'drizzle-orm'
import { expect } from 'vitest'
import type { App } from '../../src/app.js'
import { auditLogs } from '../../src/db/schema.js'
import { waitFor } from '../helpers/wait.js'
import { followToCallback } from '../helpers/oidc-provider.js'

/** PUBLIC_URL of apps built by the test context (the default): the callback URLs registered at the providers. */
export const PUBLIC_URL = 'http://localhost:8000'
export const callbackUrl = (provider: string) => `${PUBLIC_URL}/api/v1/auth/oauth/${provider}/callback`

/** Waits until the provider was discovered: its authorize route stops answering 503. */
export async function waitForProvider(app: App, provider: string): Promise<void> {
  await waitFor(async () => (await app.inject({ method: 'GET', url: `/api/v1/auth/oauth/${provider}/authorize` })).statusCode === 302, `discovery of ${provider}`)
}

export interface Landing {
  /** Where the callback sent the browser (the console's /oauth/callback page), as a URL. */
  url: URL
  code: string | null
  error: string | null
}

/**
 * Walks a sign-in the way a browser would: from an authorize URL (the app's redirect, optionally
 * rewritten by `rewrite`), through the provider, to the app's callback, and answers where it lands.
 */
export async function walk(app: App, provider: string, authorizeUrl: string, rewrite?: (url: URL) => void): Promise<Landing> {
  const url = new URL(authorizeUrl)
  rewrite?.(url)
  const back = await followToCallback(url.href, callbackUrl(provider))
  return land(app, back)
}

/**
 * The browser-binding cookie each started sign-in set, by its state: the callback carries it back, as
 * the starting browser would.
 */
const bindings = new Map<string, string>()
/** The same cookie by the exchange code the callback answered with: the console's page trades it from that browser. */
const codeBindings = new Map<string, string>()

function remember(response: { headers: Record<string, unknown> }, authorizeUrl: string): void {
  const header = response.headers['set-cookie']
  const cookie = String(Array.isArray(header) ? header[0] : header ?? '').split(';')[0]
  const state = new URL(authorizeUrl).searchParams.get('state')
  if (cookie && state) bindings.set(state, cookie)
}

/** The app's answer to the provider's redirect back; `browser: 'other'` sends it without the starting browser's cookie. */
export async function land(app: App, back: URL, options: { browser?: 'same' | 'other' } = {}): Promise<Landing> {
  const cookie = options.browser === 'other' ? undefined : bindings.get(back.searchParams.get('state') ?? '')
  const response = await app.inject({ method: 'GET', url: `${back.pathname}${back.search}`, headers: cookie ? { cookie } : {} })
  expect(response.statusCode, response.body).toBe(302)
  const location = new URL(String(response.headers.location), PUBLIC_URL)
  expect(location.pathname).toBe('/oauth/callback')
  const code = location.searchParams.get('code')
  if (code && cookie) codeBindings.set(code, cookie)
  return { url: location, code, error: location.searchParams.get('error') }
}

/** GET /oauth/{provider}/authorize: the provider URL it redirects to. */
export async function startSignIn(app: App, provider: string, redirectTo?: string): Promise<string> {
  const query = redirectTo === undefined ? '' : `?redirect_to=${encodeURIComponent(redirectTo)}`
  const response = await app.inject({ method: 'GET', url: `/api/v1/auth/oauth/${provider}/authorize${query}` })
  expect(response.statusCode, response.body).toBe(302)
  const location = String(response.headers.location)
  remember(response, location)
  return location
}

/** POST /oauth/{provider}/link as a signed-in user: the provider URL it answers. */
export async function startLink(app: App, provider: string, headers: Record<string, string>, payload?: Record<string, unknown>) {
  const response = await app.inject({ method: 'POST', url: `/api/v1/auth/oauth/${provider}/link`, headers, ...(payload ? { payload } : {}) })
  if (response.statusCode === 200) remember(response, response.json().authorize_url)
  return response
}

/** POST /oauth/exchange from the browser that signed in; `browser: 'other'` sends it without that browser's cookie. */
export async function exchange(app: App, code: string, options: { browser?: 'same' | 'other' } = {}) {
  const cookie = options.browser === 'other' ? undefined : codeBindings.get(code)
  return app.inject({ method: 'POST', url: '/api/v1/auth/oauth/exchange', payload: { code }, headers: cookie ? { cookie } : {} })
}

/** The newest audit entries of one action, newest first. */
export async function auditOf(app: App, action: string, targetId?: number) {
  const where = targetId === undefined ? eq(auditLogs.action, action) : and(eq(auditLogs.action, action), eq(auditLogs.targetId, targetId))
  return app.db.select().from(auditLogs).where(where).orderBy(desc(auditLogs.id)).limit(20)
}
