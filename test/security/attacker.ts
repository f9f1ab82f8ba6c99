import { expect } from 'vitest'
import type { App } from '../../src/app.js'
import { RESET_PASSWORD_SUBJECT, codeFrom, mailsTo, tokenFrom, waitForMail, type SignedInUser, type TokenPair } from '../helpers/factories.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'

/** What the security tests look at in an answer. */
export interface Answer {
  statusCode: number
  body: string
  headers: Record<string, unknown>
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON the server sent and asserts on it
  json: () => any
}

export interface Call {
  headers?: Record<string, string>
  payload?: unknown
  /** The client address the server sees (rate limits count per address). */
  ip?: string
}

/** One request the way a client (or an attacker) sends it. */
export async function call(app: App, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, options: Call = {}): Promise<Answer> {
  return app.inject({
    method,
    url,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.payload === undefined ? {} : { payload: options.payload as object }),
    ...(options.ip ? { remoteAddress: options.ip } : {}),
  }) as unknown as Promise<Answer>
}

export const apiKeyHeader = (key: string) => ({ 'x-api-key': key })

/** Creates an API key with a session that has just signed in; the key is shown once. */
export async function createApiKey(app: App, headers: Record<string, string>, scopes: ('read' | 'write')[] = ['read', 'write']): Promise<{ id: number; key: string }> {
  const response = await call(app, 'POST', '/api/v1/api-keys/', { headers, payload: { name: 'automation', scopes } })
  expect(response.statusCode, response.body).toBe(201)
  return response.json() as { id: number; key: string }
}

/** The audit entries of one action about one user, read by an administrator through the API. */
export async function auditEntries(app: App, adminHeaders: Record<string, string>, targetId: number, action: string) {
  const response = await call(app, 'GET', `/api/v1/audit/?target_id=${targetId}&action=${encodeURIComponent(action)}&limit=100`, { headers: adminHeaders })
  expect(response.statusCode, response.body).toBe(200)
  return (response.json() as { items: Array<{ action: string; actor_id: number | null; target_id: number | null; ip: string | null; details: Record<string, unknown> }> }).items
}

export const mailIds = async (app: App, address: string) => (await mailsTo(app, address)).map((mail) => mail.id)

/** Asks for a password reset of `email` and answers the token of the link mailed to it. */
export async function mailedResetToken(app: App, email: string): Promise<string> {
  const seen = await mailIds(app, email)
  expect((await call(app, 'POST', '/api/v1/auth/forgot-password', { payload: { email } })).statusCode).toBe(202)
  return tokenFrom(await waitForMail(app, email, { subject: RESET_PASSWORD_SUBJECT, exclude: seen }))
}

/** Asks for an email sign-in of `email` and answers the link's token and the code of the mail. */
export async function mailedSignIn(app: App, email: string): Promise<{ token: string; code: string }> {
  const seen = await mailIds(app, email)
  expect((await call(app, 'POST', '/api/v1/auth/email-login', { payload: { email } })).statusCode).toBe(202)
  const mail = await waitForMail(app, email, { subject: /^Sign in to /, exclude: seen })
  return { token: tokenFrom(mail), code: codeFrom(mail) }
}

/** The console's origin (PUBLIC_URL of apps the test context builds): what a passkey is bound to. */
export const ORIGIN = 'http://localhost:8000'

/** Adds a passkey to the signed-in caller through the API (the session must be fresh); the stored passkey and its authenticator. */
export async function addPasskey(app: App, headers: Record<string, string>, name = 'My laptop', authenticator = new SoftwareAuthenticator(ORIGIN)) {
  const options = await call(app, 'POST', '/api/v1/auth/passkeys/register/options', { headers, payload: {} })
  expect(options.statusCode, options.body).toBe(200)
  const { response } = authenticator.register(options.json())
  const added = await call(app, 'POST', '/api/v1/auth/passkeys/register/verify', { headers, payload: { response, name } })
  expect(added.statusCode, added.body).toBe(201)
  return { passkey: added.json() as { id: string; name: string }, response, authenticator }
}

/** Turns on email 2FA the way the seed's flow does (fresh login, then enable-2fa twice); returns the recovery codes. */
export async function enableEmail2fa(app: App, user: SignedInUser): Promise<string[]> {
  const seen = await mailIds(app, user.email)
  const start = await call(app, 'POST', '/api/v1/auth/enable-2fa', { headers: user.headers })
  expect(start.statusCode, start.body).toBe(200)
  const code = codeFrom(await waitForMail(app, user.email, { subject: /sign-in code/i, exclude: seen }))
  const confirm = await call(app, 'POST', '/api/v1/auth/enable-2fa', { headers: user.headers, payload: { code } })
  expect(confirm.statusCode, confirm.body).toBe(200)
  return confirm.json().recovery_codes as string[]
}

/** A login that stops at the 2FA challenge; the mailed code comes with it (email method). */
export async function startTwoFactorLogin(app: App, user: { username: string; email: string; password: string }, ip?: string) {
  const seen = await mailIds(app, user.email)
  const response = await call(app, 'POST', '/api/v1/auth/login', { payload: { username_or_email: user.username, password: user.password }, ...(ip ? { ip } : {}) })
  expect(response.statusCode, response.body).toBe(200)
  const body = response.json() as { requires_2fa: true; challenge_token: string; method: string }
  expect(body.requires_2fa).toBe(true)
  const code = codeFrom(await waitForMail(app, user.email, { subject: /sign-in code/i, exclude: seen }))
  return { challenge: body.challenge_token, code }
}

/** 403 with the machine-readable code a client turns into a password prompt. */
export function expectReauthenticationRequired(response: Answer, what: string): void {
  expect(response.statusCode, `${what}: ${response.body}`).toBe(403)
  expect(response.json(), what).toEqual({ detail: expect.any(String), code: 'reauthentication_required' })
}

/** 429 with a usable Retry-After (seconds, within the limit's window). */
export function expectTooManyRequests(response: Answer, what: string, maxWindowSeconds = 15 * 60): void {
  expect(response.statusCode, `${what}: ${response.body}`).toBe(429)
  const retryAfter = Number(response.headers['retry-after'])
  expect(retryAfter, `${what}: retry-after`).toBeGreaterThan(0)
  expect(retryAfter, `${what}: retry-after`).toBeLessThanOrEqual(maxWindowSeconds)
}

export type { TokenPair }

/**
 * Holds one call of `target[method]` until `release()`: before it runs, or with `after` once it has
 * returned (the request has read what it read). Only the first call `when` accepts waits, and the
 * method is put back then, so only the request under test waits. `entered` resolves when it arrives.
 * This makes a race deterministic: the request is held, the other side commits, the request goes on.
 */
export function gate<T extends object, K extends keyof T>(
  target: T,
  method: K,
  options: { after?: boolean; when?: (args: unknown[], result?: unknown) => boolean } = {},
) {
  const original = target[method] as unknown as (...args: unknown[]) => unknown
  let release!: () => void
  let arrived!: () => void
  const open = new Promise<void>((resolve) => (release = resolve))
  const entered = new Promise<void>((resolve) => (arrived = resolve))
  const hold = async () => {
    ;(target as Record<K, unknown>)[method] = original
    arrived()
    await open
  }
  ;(target as Record<K, unknown>)[method] = async (...args: unknown[]) => {
    if (options.after) {
      const result = await original.apply(target, args)
      if (!options.when || options.when(args, result)) await hold()
      return result
    }
    if (!options.when || options.when(args)) await hold()
    return original.apply(target, args)
  }
  return { entered, release }
}
