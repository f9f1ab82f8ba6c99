import createError from '@fastify/error'

/**
 * Every error code a client can receive, once: `{"detail": ..., "code": "<code>"}`. Clients match on
 * the code, never on the English `detail`. docs/ERRORS.md lists the same codes (a test keeps the two
 * in step), and the OpenAPI error schema documents them as an enum.
 */
export const ERROR_CODES = {
  malformed_request: { status: 400, meaning: 'The request could not be read: malformed JSON or URL, NUL characters, a bad Content-Length.' },
  bad_request: { status: 400, meaning: 'The request is well formed but cannot be carried out as asked; `detail` says why.' },
  incorrect_password: { status: 400, meaning: 'The password given to confirm an action is wrong. Counts as a failed sign-in.' },
  invalid_code: { status: 400, meaning: 'A confirmation or 2FA code given to a signed-in action is wrong or used up.' },
  invalid_or_expired_token: { status: 400, meaning: 'A mailed link token (verification, email change, password reset) is unknown, used or expired.' },
  nothing_pending: { status: 400, meaning: 'Nothing waits for this confirmation (no code was sent, no setup was started).' },
  invalid_oauth_code: { status: 400, meaning: 'The one-time code from a provider sign-in is unknown, used or expired: sign in with the provider again.' },
  passkey_registration_failed: { status: 400, meaning: 'A new passkey did not verify (wrong origin or RP ID, unknown or used challenge, bad attestation); `detail` says why.' },
  not_authenticated: { status: 401, meaning: 'No credentials, or the access token or API key is invalid, expired or revoked (its session ended).' },
  invalid_credentials: { status: 401, meaning: 'Wrong username/email or password. Says nothing about which.' },
  invalid_refresh_token: { status: 401, meaning: 'The refresh token is unknown, used, revoked or expired.' },
  invalid_2fa_challenge: { status: 401, meaning: 'The 2FA challenge is unknown, expired or out of tries: sign in again.' },
  invalid_2fa_code: { status: 401, meaning: 'Wrong code for the 2FA challenge; the challenge allows a few tries.' },
  invalid_passkey: { status: 401, meaning: 'A passkey answer was refused: unknown or used challenge, unknown credential, another account\'s credential, wrong origin or RP ID, bad signature, or a signature counter that went backwards.' },
  forbidden: { status: 403, meaning: 'Not allowed, for a reason `detail` gives.' },
  insufficient_permissions: { status: 403, meaning: "The caller's role lacks the permission, or may not act on that user." },
  session_required: { status: 403, meaning: 'Needs a signed-in session; API keys cannot do this.' },
  api_key_read_only: { status: 403, meaning: 'A read-only API key tried to change something.' },
  reauthentication_required: { status: 403, meaning: 'Needs a recent proof of identity: send `password`, or call POST /api/v1/auth/reauthenticate, then retry.' },
  inactive_user: { status: 403, meaning: 'The account is deactivated.' },
  email_not_verified: { status: 403, meaning: 'The account must verify its email address first (REQUIRE_EMAIL_VERIFICATION).' },
  last_superadmin: { status: 403, meaning: 'The last active superadmin cannot be demoted, deactivated or deleted.' },
  origin_not_allowed: { status: 403, meaning: 'A WebSocket handshake from an origin that is not allowed.' },
  not_found: { status: 404, meaning: 'No such resource (or not one the caller may see).' },
  conflict: { status: 409, meaning: 'The resource is not in a state that allows this; `detail` says why.' },
  username_taken: { status: 409, meaning: 'Another account has this username.' },
  email_taken: { status: 409, meaning: 'Another account has this email address.' },
  last_sign_in_method: { status: 409, meaning: 'Removing this would leave the account with no way to sign in: set a password or link another provider first.' },
  payload_too_large: { status: 413, meaning: 'The body is larger than BODY_LIMIT_BYTES.' },
  uri_too_long: { status: 414, meaning: 'A path segment is too long.' },
  unsupported_media_type: { status: 415, meaning: 'The body is not JSON.' },
  validation_error: { status: 422, meaning: 'The input failed validation; `detail` is a list of `{loc, msg, type}`, as FastAPI answers.' },
  rate_limited: { status: 429, meaning: 'Too many requests or attempts; `Retry-After` says when to come back.' },
  internal_error: { status: 500, meaning: 'A bug or an unexpected failure; `request_id` identifies it in the logs.' },
  service_unavailable: { status: 503, meaning: 'A dependency (database, Redis, mail) is away, or the server sheds load; retry shortly.' },
} as const satisfies Record<string, { status: number; meaning: string }>

export type ErrorCode = keyof typeof ERROR_CODES

/** Every error the app raises on purpose, made once with its status and public code. */
export const Errors = {
  BadRequest: createError('bad_request', '%s', 400),
  MalformedRequest: createError('malformed_request', '%s', 400),
  IncorrectPassword: createError('incorrect_password', '%s', 400),
  InvalidCode: createError('invalid_code', '%s', 400),
  InvalidOrExpiredToken: createError('invalid_or_expired_token', 'Invalid or expired token', 400),
  NothingPending: createError('nothing_pending', '%s', 400),
  InvalidOAuthCode: createError('invalid_oauth_code', 'Invalid or expired sign-in code; sign in with the provider again', 400),
  InvalidCredentials: createError('invalid_credentials', 'Incorrect username/email or password', 401),
  InvalidToken: createError('not_authenticated', 'Could not validate credentials', 401),
  InvalidRefreshToken: createError('invalid_refresh_token', 'Invalid or expired refresh token', 401),
  InvalidChallenge: createError('invalid_2fa_challenge', '%s', 401),
  InvalidSecondFactor: createError('invalid_2fa_code', '%s', 401),
  InvalidPasskey: createError('invalid_passkey', '%s', 401),
  PasskeyRegistrationFailed: createError('passkey_registration_failed', '%s', 400),
  Forbidden: createError('forbidden', '%s', 403),
  InsufficientPermissions: createError('insufficient_permissions', '%s', 403),
  SessionRequired: createError('session_required', 'This action needs a signed-in session, not an API key', 403),
  ApiKeyReadOnly: createError('api_key_read_only', 'This API key is read-only', 403),
  InactiveUser: createError('inactive_user', 'User account is disabled', 403),
  EmailNotVerified: createError('email_not_verified', 'Email address is not verified', 403),
  LastSuperadmin: createError('last_superadmin', 'The last active superadmin cannot be demoted, deactivated or deleted', 403),
  OriginNotAllowed: createError('origin_not_allowed', '%s', 403),
  ReauthenticationRequired: createError(
    'reauthentication_required',
    'This action needs a recent sign-in: send your password with it, or confirm it at POST /api/v1/auth/reauthenticate and retry',
    403,
  ),
  NotFound: createError('not_found', '%s', 404),
  Conflict: createError('conflict', '%s', 409),
  UsernameTaken: createError('username_taken', 'Username already registered', 409),
  EmailTaken: createError('email_taken', 'Email already registered', 409),
  LastSignInMethod: createError('last_sign_in_method', '%s', 409),
  Unprocessable: createError('validation_error', '%s', 422),
  TooManyRequests: createError('rate_limited', '%s', 429),
  ServiceUnavailable: createError('service_unavailable', '%s', 503),
} as const

/**
 * The public code of an error the app raised, or undefined for anything else (framework, driver).
 * @fastify/error upper-cases the codes it is given; the public ones are snake_case.
 */
export function publicCode(error: { code?: unknown }): ErrorCode | undefined {
  if (typeof error.code !== 'string') return undefined
  const code = error.code.toLowerCase()
  return Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : undefined
}

/** The code for an answer that did not come from one of our errors, by its status. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'bad_request'
    case 401:
      return 'not_authenticated'
    case 403:
      return 'forbidden'
    case 404:
      return 'not_found'
    case 409:
      return 'conflict'
    case 413:
      return 'payload_too_large'
    case 414:
      return 'uri_too_long'
    case 415:
      return 'unsupported_media_type'
    case 422:
      return 'validation_error'
    case 429:
      return 'rate_limited'
    case 503:
      return 'service_unavailable'
    default:
      return status >= 500 ? 'internal_error' : 'bad_request'
  }
}

/** A 429 that carries its own Retry-After, for limits enforced inside services rather than hooks. */
export function tooManyRequests(message: string, retryAfterSeconds: number, limiter: string): Error {
  return Object.assign(new Errors.TooManyRequests(message), { retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)), limiter })
}

export function forbidden(message = 'Not enough permissions'): Error {
  return new Errors.InsufficientPermissions(message)
}

/** A 422 about one body field, shaped like schema validation errors so clients handle both alike. */
export function fieldError(field: string, message: string): Error {
  return Object.assign(new Errors.Unprocessable(message), { detail: [{ loc: ['body', field], msg: message, type: 'value_error' }] })
}
