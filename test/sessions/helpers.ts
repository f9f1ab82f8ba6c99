import { afterAll, expect } from 'vitest'
import WebSocket from 'ws'
import type { App } from '../../src/app.js'
import { authHeader, type TokenPair } from '../helpers/factories.js'
import { sample, scrape } from '../helpers/metrics.js'
import { waitFor } from '../helpers/wait.js'

/** Two clients a person would recognise in the list: a browser on a laptop and a script. */
export const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
export const CURL = 'curl/8.5.0'

export interface SessionView {
  id: string
  created_at: string
  last_used_at: string
  ip: string | null
  user_agent: string | null
  device: string | null
  auth_methods: string[]
  current: boolean
}

export interface Client {
  userAgent?: string
  ip?: string
}

const clientOptions = (client: Client) => ({
  ...(client.userAgent ? { headers: { 'user-agent': client.userAgent } } : {}),
  ...(client.ip ? { remoteAddress: client.ip } : {}),
})

/** A password sign-in from a given browser and address (loginAs sends no user agent). */
export async function signIn(app: App, user: { username: string; password: string }, client: Client = {}): Promise<TokenPair> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username_or_email: user.username, password: user.password },
    ...clientOptions(client),
  })
  expect(response.statusCode, response.body).toBe(200)
  const body = response.json() as TokenPair & { requires_2fa?: boolean }
  expect(body.requires_2fa, 'login answered with a 2FA challenge').toBeUndefined()
  return body
}

/** The `sid` claim of an access token: the session it belongs to. */
export function sessionIdOf(accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sid?: unknown }
  if (typeof payload.sid !== 'string') throw new Error('access token without a sid')
  return payload.sid
}

export const me = (app: App, token: string, client: Client = {}) =>
  app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { ...authHeader(token), ...(client.userAgent ? { 'user-agent': client.userAgent } : {}) }, ...(client.ip ? { remoteAddress: client.ip } : {}) })

export const refresh = (app: App, refreshToken: string) => app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: refreshToken } })

export const logout = (app: App, refreshToken: string) => app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token: refreshToken } })

export const listResponse = (app: App, headers: Record<string, string>) => app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers })

/** The caller's live sessions, as the API lists them. */
export async function listSessions(app: App, accessToken: string): Promise<SessionView[]> {
  const response = await listResponse(app, authHeader(accessToken))
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as SessionView[]
}

export const endSession = (app: App, accessToken: string, id: string) =>
  app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${id}`, headers: authHeader(accessToken) })

export const endOtherSessions = (app: App, accessToken: string) => app.inject({ method: 'DELETE', url: '/api/v1/auth/sessions', headers: authHeader(accessToken) })

export interface AuditEntry {
  id: number
  action: string
  actor_id: number | null
  target_id: number | null
  ip: string | null
  details: Record<string, unknown>
  created_at: string
}

/** The audit entries of one action about one user, as an admin reads them. */
export async function auditOf(app: App, adminHeaders: Record<string, string>, action: string, userId: number): Promise<AuditEntry[]> {
  const response = await app.inject({ method: 'GET', url: `/api/v1/audit?action=${encodeURIComponent(action)}&target_id=${userId}&limit=100`, headers: adminHeaders })
  expect(response.statusCode, response.body).toBe(200)
  return (response.json() as { items: AuditEntry[] }).items
}

/** Session id → the reasons its `session.ended` entries give (one each, when nothing ends twice). */
export async function endReasons(app: App, adminHeaders: Record<string, string>, userId: number): Promise<Record<string, string[]>> {
  const reasons: Record<string, string[]> = {}
  for (const entry of await auditOf(app, adminHeaders, 'session.ended', userId)) {
    const id = String(entry.details.session_id)
    reasons[id] ??= []
    reasons[id].push(String(entry.details.reason))
  }
  return reasons
}

const sockets: WebSocket[] = []
/** Sockets opened through `openSocket` are torn down with the file, whatever the tests left open. */
export function closeSocketsAfterAll(): void {
  afterAll(() => {
    for (const socket of sockets) socket.terminate()
  })
}

export interface TestSocket {
  socket: WebSocket
  opened: Promise<void>
  /** Resolves with the close code; never rejects, so a test can wait on several. */
  closed: Promise<number>
}

export function openSocket(url: string): TestSocket {
  const socket = new WebSocket(url)
  sockets.push(socket)
  return {
    socket,
    opened: new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    }),
    closed: new Promise<number>((resolve) => socket.on('close', (code) => resolve(code))),
  }
}

/** The close code, or 'open' when the socket was still open after `timeoutMs` (generous: CI is slow). */
export function closeCodeWithin(client: TestSocket, timeoutMs = 15_000): Promise<number | 'open'> {
  return Promise.race([client.closed, new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), timeoutMs).unref())])
}

const sessionChecksDone = async (app: App) => sample(await scrape(app), 'ws_session_checks_total')

/** Waits until two whole socket session checks ran after this call: the second surely saw what happened before it. */
export async function afterTwoSessionChecks(app: App): Promise<void> {
  const before = await sessionChecksDone(app)
  await waitFor(async () => (await sessionChecksDone(app)) >= before + 2, 'two websocket session checks')
}
