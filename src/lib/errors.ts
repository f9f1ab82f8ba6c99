import createError from '@fastify/error'

/**
 * Every error the app raises on purpose, made once with a stable code and status.
 * The error handler turns any of them into `{"detail": message}`.
 */
export const Errors = {
  BadRequest: createError('APP_BAD_REQUEST', '%s', 400),
  Unauthorized: createError('APP_UNAUTHORIZED', '%s', 401),
  InvalidCredentials: createError('APP_AUTH_INVALID_CREDENTIALS', 'Incorrect username/email or password', 401),
  InvalidToken: createError('APP_AUTH_INVALID_TOKEN', 'Could not validate credentials', 401),
  InvalidRefreshToken: createError('APP_AUTH_INVALID_REFRESH_TOKEN', 'Invalid or expired refresh token', 401),
  Forbidden: createError('APP_FORBIDDEN', '%s', 403),
  InactiveUser: createError('APP_AUTH_INACTIVE_USER', 'User account is disabled', 403),
  EmailNotVerified: createError('APP_AUTH_EMAIL_NOT_VERIFIED', 'Email address is not verified', 403),
  ReauthenticationRequired: createError(
    'APP_AUTH_REAUTHENTICATION_REQUIRED',
    'This action needs a recent sign-in: send your password with it, or confirm it at POST /api/v1/auth/reauthenticate and retry',
    403,
  ),
  NotFound: createError('APP_NOT_FOUND', '%s', 404),
  Conflict: createError('APP_CONFLICT', '%s', 409),
  Unprocessable: createError('APP_UNPROCESSABLE', '%s', 422),
  TooManyRequests: createError('APP_TOO_MANY_REQUESTS', '%s', 429),
  ServiceUnavailable: createError('APP_SERVICE_UNAVAILABLE', '%s', 503),
} as const

/**
 * Machine-readable codes that reach the client as `code` next to `detail`, for errors a client must
 * tell apart without reading English (a console shows a password prompt on `reauthentication_required`).
 */
export const PUBLIC_ERROR_CODES: Readonly<Record<string, string>> = {
  APP_AUTH_REAUTHENTICATION_REQUIRED: 'reauthentication_required',
}

/** A 429 that carries its own Retry-After, for limits enforced inside services rather than hooks. */
export function tooManyRequests(message: string, retryAfterSeconds: number, limiter: string): Error {
  return Object.assign(new Errors.TooManyRequests(message), { retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)), limiter })
}

export function forbidden(message = 'Not enough permissions'): Error {
  return new Errors.Forbidden(message)
}

/** A 422 about one body field, shaped like schema validation errors so clients handle both alike. */
export function fieldError(field: string, message: string): Error {
  return Object.assign(new Errors.Unprocessable(message), { detail: [{ loc: ['body', field], msg: message, type: 'value_error' }] })
}
