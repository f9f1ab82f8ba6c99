import type { Middleware } from 'openapi-fetch'
import { api } from './client.js'
import type { paths } from './schema.js'

/**
 * The signed-in session: the token pair kept in localStorage (so a reload keeps you signed in),
 * refreshed shortly before the access token expires, and a bearer header added to API calls.
 *
 * Refresh tokens rotate: each one works once, and presenting a used one revokes the whole session.
 * Two refreshes racing with the same token would therefore sign the user out, so refreshing is
 * single-flight within a tab and serialised across tabs with the Web Locks API where available.
 */

export interface TokenPair {
  access_token: string
  refresh_token: string
}

interface StoredSession extends TokenPair {
  /** When this tab (or another) received the access token, by the local clock. */
  received_at: number
  /** Access token lifetime in seconds, from its own `iat`/`exp` claims. */
  lifetime: number
}

/** `expired`: the server ended the session; the page stays as it is while the user signs in again. */
export type SessionState = 'signed-in' | 'expired' | 'signed-out'

const STORAGE_KEY = 'carbelsad.session'
const LOCK_NAME = 'carbelsad.refresh'

/** Routes that never carry the bearer token; a 401 from them is an answer, not an expired session. */
const PUBLIC_PATHS = new Set<keyof paths>([
  '/api/v1/auth/login',
  '/api/v1/auth/register',
  '/api/v1/auth/refresh',
  '/api/v1/auth/logout',
  '/api/v1/auth/verify-2fa',
  '/api/v1/auth/resend-2fa',
  '/api/v1/auth/verify-email',
  '/api/v1/auth/forgot-password',
  '/api/v1/auth/reset-password',
  '/api/v1/auth/oauth/providers',
  '/api/v1/auth/oauth/exchange',
  '/api/v1/auth/passkeys/login/options',
  '/api/v1/auth/passkeys/login/verify',
  '/api/v1/auth/passkeys/2fa/options',
  '/api/v1/auth/email-login',
  '/api/v1/auth/email-login/verify',
  '/api/v1/health',
  '/api/v1/health/live',
  '/api/v1/health/db',
  '/api/v1/health/cache',
  '/api/v1/health/ready',
  '/api/v1/dev/outbox',
])

/** Routes that carry a bearer token their caller set (see `reauthenticate`): the middleware leaves them alone. */
const SELF_AUTHORIZED = new Set<keyof paths>(['/api/v1/auth/reauthenticate'])

/**
 * Reads `iat` and `exp` without verifying the signature: the server verifies, the console only needs
 * to know when to refresh. The lifetime (not `exp`) is used, so a skewed local clock does not matter.
 */
function lifetimeOf(accessToken: string): number {
  try {
    const payload = accessToken.split('.')[1] ?? ''
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
    const claims = JSON.parse(json) as { iat?: unknown; exp?: unknown }
    if (typeof claims.exp === 'number' && typeof claims.iat === 'number' && claims.exp > claims.iat) return claims.exp - claims.iat
  } catch {
    // An unreadable token is refreshed at once rather than trusted.
  }
  return 0
}

function read(): StoredSession | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY)
    if (!raw) return null
    const parsed = JSON.parse(raw) as Partial<StoredSession>
    if (typeof parsed.access_token !== 'string' || typeof parsed.refresh_token !== 'string') return null
    return { access_token: parsed.access_token, refresh_token: parsed.refresh_token, received_at: Number(parsed.received_at) || 0, lifetime: Number(parsed.lifetime) || 0 }
  } catch {
    return null
  }
}

let current: StoredSession | null = read()
let expired = false
let refreshTimer: ReturnType<typeof setTimeout> | undefined
let inflightRefresh: Promise<string | null> | null = null
let pendingSignIn: Promise<string | null> | null = null
const listeners = new Set<(state: SessionState) => void>()
const signInHandlers = new Set<() => Promise<boolean>>()

/** Refresh this long before expiry: a minute, or a fifth of a short lifetime. */
function marginMs(session: StoredSession): number {
  return Math.min(60_000, (session.lifetime * 1000) / 5)
}

function dueAt(session: StoredSession): number {
  return session.received_at + session.lifetime * 1000 - marginMs(session)
}

function notify() {
  const state = sessionState()
  for (const listener of listeners) listener(state)
}

function schedule() {
  clearTimeout(refreshTimer)
  if (!current) return
  const delay = Math.max(0, dueAt(current) - Date.now())
  refreshTimer = setTimeout(() => {
    refresh().catch(() => {
      // Offline or the server is away: the next API call retries, and a 401 asks to sign in.
    })
  }, delay)
}

function adopt(session: StoredSession | null) {
  const before = sessionState()
  current = session
  if (session) expired = false
  schedule()
  if (before !== sessionState()) notify()
}

/** Stores a fresh pair from login, 2FA, or refresh. */
export function storeTokens(tokens: TokenPair) {
  const session: StoredSession = { ...tokens, received_at: Date.now(), lifetime: lifetimeOf(tokens.access_token) }
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session))
  adopt(session)
}

/** Replaces only the access token (a password change revokes every access token but keeps the refresh token). */
export function storeAccessToken(accessToken: string) {
  if (!current) return
  storeTokens({ access_token: accessToken, refresh_token: current.refresh_token })
}

/** Signing out on purpose. */
export function clearTokens() {
  localStorage.removeItem(STORAGE_KEY)
  expired = false
  adopt(null)
}

/** The server refused the refresh token: keep the page, ask the user to sign in again. */
function expire() {
  localStorage.removeItem(STORAGE_KEY)
  const before = sessionState()
  current = null
  expired = true
  schedule()
  if (before !== 'expired') notify()
}

export function sessionState(): SessionState {
  if (current) return 'signed-in'
  return expired ? 'expired' : 'signed-out'
}

export function onSessionChange(listener: (state: SessionState) => void): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export function refreshTokenOf(): string | null {
  return current?.refresh_token ?? null
}

/** Runs `task` while holding the cross-tab refresh lock (plain call where Web Locks are missing, e.g. plain http on a LAN address). */
async function exclusive<T>(task: () => Promise<T>): Promise<T> {
  if (typeof navigator !== 'undefined' && navigator.locks) return navigator.locks.request(LOCK_NAME, task)
  return task()
}

/**
 * Trades the refresh token for a new pair. Resolves to the new access token, or null when the
 * session is over (the refresh token was refused). Network failures reject and keep the session.
 */
export function refresh(): Promise<string | null> {
  inflightRefresh ??= exclusive(async () => {
    const known = current
    const stored = read()
    // Another tab may have rotated while we waited for the lock: its pair is the valid one now.
    if (stored && stored.refresh_token !== known?.refresh_token && Date.now() < dueAt(stored)) {
      adopt(stored)
      return stored.access_token
    }
    const refreshToken = stored?.refresh_token ?? known?.refresh_token
    if (!refreshToken) return null
    const { data, response } = await api.POST('/api/v1/auth/refresh', { body: { refresh_token: refreshToken } })
    if (data) {
      storeTokens(data)
      return data.access_token
    }
    if (response.status === 401 || response.status === 422) {
      expire()
      return null
    }
    throw new Error(`refresh failed with HTTP ${response.status}`)
  }).finally(() => {
    inflightRefresh = null
  })
  return inflightRefresh
}

/** What proves the user again: their password, an authenticator or recovery code, or a passkey's answer. */
export type Proof = { password: string } | { code: string } | { passkey: Record<string, unknown> }

/**
 * Proves again who the user is (before a sensitive action) and stores the pair that comes back: the
 * same session with a fresh proof time, whose previous refresh token the server has just revoked.
 * It runs under the refresh lock, because a refresh racing it with that old token would look like
 * a stolen token to the server and end the session; the token is read before the lock is taken,
 * since reading it may refresh, which takes the lock itself.
 */
export async function reauthenticate(proof: Proof) {
  const token = await accessToken()
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {}
  return exclusive(async () => {
    const result = await api.POST('/api/v1/auth/reauthenticate', { body: proof, headers })
    if (result.data) storeTokens(result.data)
    return result
  })
}

/** A usable access token (refreshed first when close to expiry), or null when signed out. */
export async function accessToken(): Promise<string | null> {
  if (!current) return null
  if (Date.now() >= dueAt(current)) {
    try {
      return await refresh()
    } catch {
      return current?.access_token ?? null
    }
  }
  return current.access_token
}

/**
 * Registers the UI that asks the user to sign in again (a dialog over the current page, so nothing
 * they typed is lost). It resolves true once they signed in, false if they gave up.
 */
export function handleSignInRequests(handler: () => Promise<boolean>): () => void {
  signInHandlers.add(handler)
  return () => signInHandlers.delete(handler)
}

/** Single-flight: several calls failing at once share one sign-in dialog. */
export function signInAgain(): Promise<string | null> {
  const handler = [...signInHandlers].at(-1)
  if (!handler) return Promise.resolve(null)
  pendingSignIn ??= handler()
    .then((ok) => (ok ? (current?.access_token ?? null) : null))
    .finally(() => {
      pendingSignIn = null
    })
  return pendingSignIn
}

/** Requests carried over from onRequest, so a call that hit a 401 can be replayed after signing in. */
const replayable = new WeakMap<Request, Request>()

/** Adds the bearer token; on a 401, refreshes or asks the user to sign in, then replays the call once. */
export const authMiddleware: Middleware = {
  async onRequest({ request, schemaPath }) {
    if (PUBLIC_PATHS.has(schemaPath as keyof paths) || SELF_AUTHORIZED.has(schemaPath as keyof paths)) return undefined
    const token = await accessToken()
    if (token) request.headers.set('Authorization', `Bearer ${token}`)
    replayable.set(request, request.clone())
    return request
  },
  async onResponse({ request, response, schemaPath }) {
    if (response.status !== 401 || PUBLIC_PATHS.has(schemaPath as keyof paths) || SELF_AUTHORIZED.has(schemaPath as keyof paths)) return undefined
    const copy = replayable.get(request)
    // A call made while signed out is simply refused; only a session that ended asks to sign in again.
    if (!copy || !request.headers.has('Authorization')) return undefined
    // The access token may be revoked while the refresh token still works (e.g. a password change elsewhere).
    let token = await refresh().catch(() => null)
    token ??= await signInAgain()
    if (!token) return undefined
    copy.headers.set('Authorization', `Bearer ${token}`)
    return fetch(copy)
  },
}

/** Another tab signed in, refreshed or signed out: follow it. */
if (typeof window !== 'undefined') {
  window.addEventListener('storage', (event) => {
    if (event.key !== STORAGE_KEY) return
    adopt(read())
  })
  schedule()
}
