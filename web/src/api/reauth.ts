import type { Middleware } from 'openapi-fetch'
import { REAUTHENTICATION_REQUIRED } from './errors.js'
import { accessToken, type Proof } from './session.js'

/**
 * Sensitive actions (an API key, 2FA changes, a new email) need a recent proof of identity: without
 * one the server answers 403 `reauthentication_required`. This middleware catches that answer for
 * every call, asks the user to confirm it is them (a dialog over the page, so nothing typed is lost),
 * and replays the call once; pages never see the 403 unless the user closes the dialog.
 */

const proofHandlers = new Set<() => Promise<Proof | null>>()
let pendingProof: Promise<Proof | null> | null = null

/**
 * Registers the UI that asks for the password (or a 2FA code) and re-authenticates with it. It
 * resolves to the proof once the server accepted it and the new tokens are stored, or null when the
 * user gave up.
 */
export function handleProofRequests(handler: () => Promise<Proof | null>): () => void {
  proofHandlers.add(handler)
  return () => proofHandlers.delete(handler)
}

/** Single-flight: several calls refused at once share one dialog. */
function confirmIdentity(): Promise<Proof | null> {
  const handler = [...proofHandlers].at(-1)
  if (!handler) return Promise.resolve(null)
  pendingProof ??= handler().finally(() => {
    pendingProof = null
  })
  return pendingProof
}

async function needsProof(response: Response): Promise<boolean> {
  if (response.status !== 403) return false
  try {
    const body = (await response.clone().json()) as { code?: unknown } | null
    return body?.code === REAUTHENTICATION_REQUIRED
  } catch {
    return false
  }
}

/**
 * A copy of `template` with the session's current token and, when `password` is given, that password
 * added to its JSON body (every sensitive action takes one there). Undefined when the body is not a
 * JSON object the password could join.
 */
async function copyOf(template: Request, password?: string): Promise<Request | undefined> {
  const headers = new Headers(template.headers)
  const token = await accessToken()
  if (token) headers.set('Authorization', `Bearer ${token}`)
  if (password === undefined) return new Request(template.clone(), { headers })
  const text = await template.clone().text()
  let body: unknown
  try {
    body = text ? JSON.parse(text) : null
  } catch {
    return undefined
  }
  // `null` is how the console calls actions whose body is optional (enable-2fa, totp/setup).
  if (body !== null && (typeof body !== 'object' || Array.isArray(body))) return undefined
  headers.set('Content-Type', 'application/json')
  return new Request(template.clone(), { headers, body: JSON.stringify({ ...(body as object | null), password }) })
}

/** Requests as sent, kept so one refused for lack of a fresh proof can be replayed. */
const replayable = new WeakMap<Request, Request>()

/**
 * Register it before `authMiddleware`: openapi-fetch runs `onResponse` in reverse order, so a call
 * that first needed a new sign-in (401) and then a fresh proof (403) reaches this one after the
 * sign-in replay, and the replay's answer is what this one looks at.
 */
export const reauthMiddleware: Middleware = {
  onRequest({ request }) {
    // Sensitive actions all change something: reads are not copied.
    if (request.method === 'GET' || request.method === 'HEAD') return undefined
    replayable.set(request, request.clone())
    return undefined
  },
  async onResponse({ request, response }) {
    const template = replayable.get(request)
    if (!template || !(await needsProof(response))) return undefined
    const proof = await confirmIdentity()
    if (!proof) return undefined
    const again = await copyOf(template)
    if (!again) return undefined
    const replayed = await fetch(again)
    if (!('password' in proof) || !(await needsProof(replayed))) return replayed
    // A server whose proof window is shorter than a round trip (REAUTH_MAX_AGE_SECONDS=0) refuses
    // even the proof just renewed; the password in the body is the proof such a server accepts.
    const withPassword = await copyOf(template, proof.password)
    return withPassword ? fetch(withPassword) : replayed
  },
}
