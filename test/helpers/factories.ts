import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { expect } from 'vitest'
import type { App } from '../../src/app.js'
import { users, type NewUserRow, type Role } from '../../src/db/schema.js'

/** A password that passes every rule of the server. */
export const DEFAULT_PASSWORD = 'Correct-horse-battery-9'

let counter = 0

/** A name no other test (or test file) will pick: a counter plus a random suffix. */
export function uniqueName(prefix = 'u'): string {
  counter += 1
  return `${prefix}${counter}_${randomBytes(4).toString('hex')}`
}

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
}

export interface TestUser {
  id: number
  username: string
  email: string
  password: string
  role: Role
  /** The registration answer. */
  body: Record<string, unknown>
}

export interface SignedInUser extends TestUser {
  tokens: TokenPair
  headers: { authorization: string }
}

export function authHeader(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** Registers a user through the API; `overrides` go into the request body as they are. */
export async function registerUser(app: App, overrides: Record<string, unknown> = {}): Promise<TestUser> {
  const username = uniqueName()
  const payload: Record<string, unknown> = { username, email: `${username}@example.com`, password: DEFAULT_PASSWORD, ...overrides }
  const response = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload })
  if (response.statusCode !== 201) throw new Error(`registration failed: ${response.statusCode} ${response.body}`)
  const body = response.json() as Record<string, unknown> & { id: number; username: string; email: string; role: Role }
  return { id: body.id, username: body.username, email: body.email, password: String(payload.password), role: body.role, body }
}

/** Writes user columns straight to the database, then drops the cached principal so the change applies at once. */
export async function setUserColumns(app: App, userId: number, values: Partial<NewUserRow>): Promise<void> {
  await app.db.update(users).set(values).where(eq(users.id, userId))
  await app.invalidateUser(userId)
}

/** Registers a user and gives it a role by writing the database (the only way to make the first admins). */
export async function createUser(app: App, role: Role = 'user', overrides: Record<string, unknown> = {}): Promise<TestUser> {
  const user = await registerUser(app, overrides)
  if (role !== 'user') await setUserColumns(app, user.id, { role })
  return { ...user, role }
}

export async function loginAs(
  app: App,
  user: { username: string; password: string },
  options: { remoteAddress?: string } = {},
): Promise<TokenPair> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username_or_email: user.username, password: user.password },
    ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
  })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  const body = response.json() as TokenPair & { requires_2fa?: boolean }
  if (body.requires_2fa) throw new Error('login answered with a 2FA challenge; use the two-factor helpers')
  return body
}

/** A user with the given role, already signed in. */
export async function signedInUser(app: App, role: Role = 'user', overrides: Record<string, unknown> = {}): Promise<SignedInUser> {
  const user = await createUser(app, role, overrides)
  const tokens = await loginAs(app, user)
  return { ...user, tokens, headers: authHeader(tokens.access_token) }
}

/** GET /users/get/{id} as the given caller; the public user or the failed response. */
export async function fetchUser(app: App, headers: Record<string, string>, userId: number) {
  const response = await app.inject({ method: 'GET', url: `/api/v1/users/get/${userId}`, headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as Record<string, unknown>
}

/** Reads a user row straight from the database (for checks the HTTP API cannot make, e.g. after deletion). */
export async function userRow(app: App, userId: number) {
  const rows = await app.db.select().from(users).where(eq(users.id, userId)).limit(1)
  return rows[0]
}

/** Fails when any key, at any depth, names a password, a hash or a secret. */
export function expectNoSecrets(value: unknown, path = '$'): void {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) expectNoSecrets(item, `${path}[${index}]`)
    return
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      expect(key, `secret-looking key at ${path}.${key}`).not.toMatch(/password|hash|secret/i)
      expectNoSecrets(inner, `${path}.${key}`)
    }
  }
}

/** A clock the app reads through `now`; tests move it forward. */
export interface TestClock {
  now: () => Date
  advance(ms: number): void
  current(): number
}

export function controllableClock(start = Date.now()): TestClock {
  let now = start
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms
    },
    current: () => now,
  }
}

export interface OutboxMail {
  id: string
  to: string
  subject: string
  text: string
  html: string
  created_at: string
}

/** The dev outbox (DEBUG without SMTP), newest first. */
export async function outbox(app: App): Promise<OutboxMail[]> {
  const response = await app.inject({ method: 'GET', url: '/api/v1/dev/outbox' })
  expect(response.statusCode, response.body).toBe(200)
  return (response.json() as { items: OutboxMail[] }).items
}

export async function mailsTo(app: App, address: string): Promise<OutboxMail[]> {
  return (await outbox(app)).filter((mail) => mail.to.toLowerCase() === address.toLowerCase())
}

/**
 * The newest mail to `address` matching `subject` that is not one of `exclude` (ids already seen).
 * Polls briefly: some mails are queued after the reply is sent.
 */
export async function waitForMail(
  app: App,
  address: string,
  options: { subject?: RegExp; exclude?: readonly string[]; timeoutMs?: number } = {},
): Promise<OutboxMail> {
  const deadline = Date.now() + (options.timeoutMs ?? 3_000)
  for (;;) {
    const found = (await mailsTo(app, address)).find(
      (mail) => (!options.subject || options.subject.test(mail.subject)) && !options.exclude?.includes(mail.id),
    )
    if (found) return found
    if (Date.now() > deadline) throw new Error(`no mail to ${address} matching ${String(options.subject)} arrived`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export const SIGN_IN_CODE_SUBJECT = /sign-in code/i
export const VERIFY_EMAIL_SUBJECT = /confirm your email/i
export const RESET_PASSWORD_SUBJECT = /reset your .* password/i

/** The 6-digit code of a 2FA mail (outbox or SMTP): it stands alone on its own line. Throws when there is none. */
export function codeFrom(mail: { text: string }): string {
  const match = /^\s*(\d{6})\s*$/m.exec(mail.text)
  if (!match?.[1]) throw new Error(`no 6-digit code in mail: ${mail.text}`)
  return match[1]
}

/** The token of a link mail (`...?token=...`), from the outbox or SMTP. Throws when there is none. */
export function tokenFrom(mail: { text: string }): string {
  const match = /token=([^\s&"'<>]+)/.exec(mail.text)
  if (!match?.[1]) throw new Error(`no token in mail: ${mail.text}`)
  return decodeURIComponent(match[1])
}

/** A 6-digit code that is certainly not `code`. */
export function wrongCode(code: string): string {
  return String((Number(code) + 1) % 1_000_000).padStart(6, '0')
}

/** A random address in 10.0.0.0/8, so rate-limit counters of different tests never meet. */
export function randomIp(): string {
  const bytes = randomBytes(3)
  return `10.${bytes[0]}.${bytes[1]}.${bytes[2]}`
}
