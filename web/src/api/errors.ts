/**
 * Turns the API's error bodies into something a form can show. Errors are `{"detail": "..."}`, or for
 * 422 `{"detail": [{loc, msg, type}]}`, where `loc` is like `["body", "username"]` and names the field.
 */

export interface Problem {
  /** One sentence for the form's alert. */
  message: string
  /** Messages by field name (the JSON field, e.g. `first_name`), for errors the API tied to a field. */
  fields: Record<string, string>
  /** Seconds to wait before trying again, from a 429's Retry-After. */
  retryAfter?: number
}

interface ValidationItem {
  loc: (string | number)[]
  msg: string
  type: string
}

function isValidationItem(value: unknown): value is ValidationItem {
  if (value === null || typeof value !== 'object') return false
  const item = value as Record<string, unknown>
  return Array.isArray(item.loc) && typeof item.msg === 'string'
}

/** AJV's wording for patterns quotes the regular expression, which helps nobody filling in a form. */
function friendly(item: ValidationItem): string {
  if (item.type === 'string_pattern_mismatch') return 'Contains characters or a format that is not allowed'
  if (item.type === 'missing') return 'This field is required'
  if (item.type === 'value_error' && /must match format "email"/.test(item.msg)) return 'Enter a valid email address'
  if (item.type === 'value_error' && /must match format "date-time"/.test(item.msg)) return 'Enter a valid date and time'
  return item.msg.charAt(0).toUpperCase() + item.msg.slice(1)
}

const STATUS_TEXT: Record<number, string> = {
  401: 'You are not signed in, or your session has ended.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  429: 'Too many attempts. Wait a moment and try again.',
  500: 'The server ran into an error. Try again.',
  503: 'The service is unavailable right now. Try again shortly.',
}

/** Seconds from a Retry-After header, which is either a number of seconds or an HTTP date. */
export function retryAfterOf(response: Response | undefined): number | undefined {
  const value = response?.headers.get('Retry-After')?.trim()
  if (!value) return undefined
  const seconds = /^\d+$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000
  return Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : undefined
}

/** "42 s" under two minutes, then minutes, then hours: nobody counts 900 seconds. */
export function formatWait(seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 2 * 3600) return `${Math.ceil(seconds / 60)} min`
  return `${Math.ceil(seconds / 3600)} h`
}

/**
 * A 429's message with the wait spelled out. The server's "…; try again later" gives way to the
 * actual wait; a detail that already names one ("Wait 42 seconds…") is kept as it is.
 */
function tooManyMessage(detail: string, wait: number): string {
  if (/\b\d+\s*(s|secs?|seconds?|min|minutes?)\b/i.test(detail)) return detail
  const reason = detail.replace(/[\s;,.]*try again later[\s.]*$/i, '').replace(/[\s.]+$/, '')
  return `${reason}. Try again in ${formatWait(wait)}.`
}

/** The server's `code` for "confirm it is you": the API middleware asks for the password and retries (reauth.ts). */
export const REAUTHENTICATION_REQUIRED = 'reauthentication_required'

/** A Problem from an openapi-fetch error body and its response. */
export function toProblem(body: unknown, response?: Response): Problem {
  const answer = body !== null && typeof body === 'object' ? (body as { detail?: unknown; code?: unknown }) : {}
  const detail = answer.detail
  const status = response?.status
  // Only reaches a form when the password prompt was closed: the server's text is meant for API clients.
  if (answer.code === REAUTHENTICATION_REQUIRED) return { message: 'Not done: this needs your password again. Try once more and confirm it when asked.', fields: {} }
  if (status === 429) {
    const said = typeof detail === 'string' && detail.length > 0 ? detail : undefined
    const wait = retryAfterOf(response)
    if (wait === undefined) return { message: said ?? STATUS_TEXT[429] ?? 'Too many attempts.', fields: {} }
    return { message: tooManyMessage(said ?? 'Too many attempts', wait), fields: {}, retryAfter: wait }
  }
  if (typeof detail === 'string' && detail.length > 0) return { message: detail, fields: {} }
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {}
    const loose: string[] = []
    for (const item of detail.filter(isValidationItem)) {
      const field = item.loc.length > 1 ? String(item.loc[item.loc.length - 1]) : undefined
      const text = friendly(item)
      if (field && !(field in fields)) fields[field] = text
      else if (!field) loose.push(text)
    }
    const count = Object.keys(fields).length
    // With a union body AJV also reports the branches that did not apply ("must be null"); field errors say more.
    const message = count === 0 ? (loose[0] ?? 'The request was not valid.') : count === 1 ? 'Please correct the highlighted field.' : `Please correct the ${count} highlighted fields.`
    return { message, fields }
  }
  const known = status === undefined ? undefined : STATUS_TEXT[status]
  return { message: known ?? `Request failed${status ? ` (HTTP ${status})` : ''}.`, fields: {} }
}

/** For a call that threw (offline, DNS, server gone) rather than answering. */
export function networkProblem(error: unknown): Problem {
  const reason = error instanceof Error && error.message ? ` (${error.message})` : ''
  return { message: `Could not reach the server${reason}. Check your connection and try again.`, fields: {} }
}

export type Outcome<T> = { ok: true; data: T; response: Response } | { ok: false; problem: Problem; response?: Response }

/**
 * Awaits an openapi-fetch call and folds its three endings (data, error body, thrown) into one
 * shape, so every form handles failures the same way.
 */
export async function attempt<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Outcome<T>> {
  try {
    const { data, error, response } = await pending
    if (response.ok) return { ok: true, data: data as T, response }
    return { ok: false, problem: toProblem(error, response), response }
  } catch (error) {
    return { ok: false, problem: networkProblem(error) }
  }
}
