import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { fieldError } from '../../lib/errors.js'
import { ErrorDetail, Message } from '../../lib/schemas.js'
import { Password, RegisterBody, UserPublic, toUserPublic } from '../users/users-schemas.js'
import type { ClientInfo } from './auth-service.js'

export const TokenPair = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Access token lifetime in seconds' }),
})
export const Challenge = Type.Object({
  requires_2fa: Type.Literal(true),
  challenge_token: Type.String(),
  method: Type.Union([Type.Literal('email'), Type.Literal('totp')]),
})
/** Refresh, challenge and emailed tokens: opaque random strings, bounded so junk is refused early. */
const OpaqueToken = Type.String({ minLength: 1, maxLength: 512 })
const RefreshBody = Type.Object({ refresh_token: OpaqueToken })
const Code = Type.String({ minLength: 6, maxLength: 11, description: '6-digit code, or a recovery code (xxxxx-xxxxx) at verify-2fa' })
const PasswordBody = Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }) })
const TokenBody = Type.Object({ token: OpaqueToken })
const RecoveryCodes = Type.Array(Type.String(), { description: 'One-time recovery codes: shown once, stored hashed' })
const TwoFaState = Type.Object({
  two_fa_enabled: Type.Boolean(),
  confirmation_required: Type.Optional(Type.Boolean()),
  method: Type.Optional(Type.Union([Type.Literal('email'), Type.Literal('totp')])),
  recovery_codes: Type.Optional(RecoveryCodes),
  detail: Type.Optional(Type.String()),
})

/** A password sent with a sensitive action proves the caller there and then (docs/SECURITY.md#fresh-proof). */
const ProofPassword = Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Your password, when your last sign-in is not recent' }))

const client = (request: FastifyRequest): ClientInfo => ({ ip: request.ip, userAgent: request.headers['user-agent'] })

/** Registration, login, token rotation, logout, 2FA, email verification and password reset. */
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/register',
    {
      config: { access: 'public', limit: 'register' },
      schema: { operationId: 'register', tags: ['auth'], summary: 'Register a new user', body: RegisterBody, response: { 201: UserPublic, 403: ErrorDetail, 409: ErrorDetail, 422: ErrorDetail } },
    },
    async (request, reply) => reply.code(201).send(toUserPublic(await app.usersService.register(request.body, request.ip))),
  )

  app.post(
    '/login',
    {
      config: { access: 'public', limit: 'login' },
      schema: {
        operationId: 'login',
        tags: ['auth'],
        summary: 'Log in with username or email; users with 2FA get a challenge instead of tokens',
        body: Type.Object({
          username_or_email: Type.String({ minLength: 1, maxLength: 255, examples: ['johndoe'] }),
          password: Type.String({ minLength: 1, maxLength: 1024, examples: ['securepass123'] }),
        }),
        response: { 200: Type.Union([TokenPair, Challenge]), 401: ErrorDetail, 403: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      try {
        const result = await app.authService.login(request.body.username_or_email, request.body.password, client(request))
        app.metrics.loginAttempts.inc({ result: 'requires_2fa' in result ? 'challenge' : 'success' })
        return result
      } catch (error) {
        const failed = (error as { statusCode?: number }).statusCode === 401
        app.metrics.loginAttempts.inc({ result: failed ? 'failure' : 'refused' })
        throw error
      }
    },
  )

  app.post(
    '/refresh',
    {
      config: { access: 'public', limit: 'refresh' },
      schema: { operationId: 'refreshTokens', tags: ['auth'], summary: 'Trade a refresh token for a new pair (the old one dies)', body: RefreshBody, response: { 200: TokenPair, 401: ErrorDetail, 422: ErrorDetail } },
    },
    async (request) => app.authService.refresh(request.body.refresh_token, client(request)),
  )

  app.post(
    '/logout',
    { config: { access: 'public' }, schema: { operationId: 'logout', tags: ['auth'], summary: 'End the session of a refresh token', body: RefreshBody, response: { 200: Message, 422: ErrorDetail } } },
    async (request) => {
      await app.authService.logout(request.body.refresh_token)
      return { detail: 'Logged out' }
    },
  )

  app.post(
    '/logout-all',
    {
      config: { access: 'session' },
      schema: { operationId: 'logoutAll', tags: ['auth'], summary: 'End every session of the caller and revoke every API key', response: { 200: Message, 422: ErrorDetail } },
    },
    async (request) => {
      await app.authService.logoutAll(request.user.id, client(request))
      return { detail: 'All sessions ended' }
    },
  )

  app.post(
    '/verify-2fa',
    {
      config: { access: 'public', limit: 'verify-2fa' },
      schema: {
        operationId: 'verifyTwoFactor',
        tags: ['auth'],
        summary: 'Finish a 2FA login with the code (or a recovery code), or with "passkey" after POST /auth/passkeys/2fa/options',
        body: Type.Object({
          challenge_token: OpaqueToken,
          code: Type.Optional(Code),
          passkey: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'AuthenticationResponseJSON from the browser' })),
        }),
        response: { 200: TokenPair, 401: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      const { challenge_token: challengeToken, code, passkey } = request.body
      try {
        if (passkey !== undefined && code === undefined) return await app.twoFactor.verifyLoginWithPasskey(challengeToken, passkey, client(request))
        if (code === undefined) throw fieldError('code', 'Send "code", or "passkey" for a passkey answer')
        return await app.twoFactor.verifyLogin(challengeToken, code, client(request))
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 401) app.metrics.twoFactorFailures.inc()
        throw error
      }
    },
  )

  app.post(
    '/resend-2fa',
    {
      config: { access: 'public', limit: 'resend-2fa' },
      schema: {
        operationId: 'resendTwoFactorCode',
        tags: ['auth'],
        summary: 'Mail a new 2FA code (at most once a minute)',
        body: Type.Object({ challenge_token: OpaqueToken }),
        response: { 200: Message, 401: ErrorDetail, 429: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request, reply) => {
      try {
        await app.twoFactor.resend(request.body.challenge_token)
      } catch (error) {
        const retryAfter = (error as { retryAfter?: number }).retryAfter
        if (retryAfter) {
          reply.header('retry-after', String(retryAfter))
          reply.limiter = 'resend_2fa_cooldown'
        }
        throw error
      }
      return { detail: 'A new code has been sent' }
    },
  )

  app.post(
    '/enable-2fa',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'enableTwoFactor',
        tags: ['auth'],
        summary: 'Turn on email 2FA: without a body mails a code; with {"code"} confirms and returns recovery codes',
        body: Type.Optional(Type.Union([Type.Object({ code: Type.Optional(Code), password: ProofPassword }), Type.Null()])),
        response: { 200: TwoFaState, 400: ErrorDetail, 409: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      const code = request.body && typeof request.body === 'object' ? request.body.code : undefined
      if (code === undefined) {
        await app.twoFactor.requestEnable(request.user.id)
        return { two_fa_enabled: false, confirmation_required: true, detail: 'A confirmation code was sent to your email' }
      }
      const recoveryCodes = await app.twoFactor.confirmEnable(request.user.id, code, request.ip)
      return { two_fa_enabled: true, method: 'email' as const, recovery_codes: recoveryCodes }
    },
  )

  app.post(
    '/disable-2fa',
    {
      config: { access: 'session', fresh: true },
      schema: { operationId: 'disableTwoFactor', tags: ['auth'], summary: 'Turn off 2FA (needs your password)', body: PasswordBody, response: { 200: TwoFaState, 400: ErrorDetail, 409: ErrorDetail, 422: ErrorDetail } },
    },
    async (request) => {
      await app.twoFactor.disable(request.user.id, request.ip)
      return { two_fa_enabled: false }
    },
  )

  app.post(
    '/test-2fa',
    { config: { access: 'session' }, schema: { operationId: 'sendTestEmail', tags: ['auth'], summary: 'Mail a test email to yourself', response: { 200: Message, 429: ErrorDetail } } },
    async (request) => {
      await app.attemptLimits.assertMailAllowed(request.user.email)
      await app.mailer.send({ to: request.user.email, template: 'test-email', language: request.user.language, data: { username: request.user.username } })
      return { detail: `Test email sent to ${request.user.email}` }
    },
  )

  app.post(
    '/totp/setup',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'setupTotp',
        tags: ['auth'],
        summary: 'Start authenticator-app 2FA: returns the secret and otpauth URL (for a QR code)',
        body: Type.Optional(Type.Union([Type.Object({ password: ProofPassword }), Type.Null()])),
        response: { 200: Type.Object({ secret: Type.String(), otpauth_url: Type.String() }), 400: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => app.twoFactor.setupTotp(request.user.id),
  )

  app.post(
    '/totp/confirm',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'confirmTotp',
        tags: ['auth'],
        summary: 'Confirm the authenticator with a current code; 2FA switches to TOTP',
        body: Type.Object({ code: Code, password: ProofPassword }),
        response: { 200: TwoFaState, 400: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      const recoveryCodes = await app.twoFactor.confirmTotp(request.user.id, request.body.code, request.ip)
      return { two_fa_enabled: true, method: 'totp' as const, ...(recoveryCodes ? { recovery_codes: recoveryCodes } : {}) }
    },
  )

  app.post(
    '/recovery-codes',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'regenerateRecoveryCodes',
        tags: ['auth'],
        summary: 'Issue a fresh set of recovery codes (the old ones stop working)',
        body: PasswordBody,
        response: { 200: Type.Object({ recovery_codes: RecoveryCodes }), 400: ErrorDetail, 409: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      const codes = await app.twoFactor.regenerateRecoveryCodes(request.user.id, request.ip)
      // New codes get past the second factor: the owner is told (never the codes).
      await app.accountService.notifyRecoveryCodesRegenerated(request.user)
      return { recovery_codes: codes }
    },
  )

  app.post(
    '/verify-email',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'verifyEmail',
        tags: ['auth'],
        summary: 'Confirm an email address with the mailed token (a verification link, or the link that completes an email change)',
        body: TokenBody,
        response: { 200: Message, 400: ErrorDetail, 409: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      await app.accountService.verifyEmail(request.body.token, client(request))
      return { detail: 'Email verified' }
    },
  )

  app.post(
    '/resend-verification',
    { config: { access: 'session' }, schema: { operationId: 'resendVerification', tags: ['auth'], summary: 'Mail a new verification link', response: { 200: Message, 409: ErrorDetail, 429: ErrorDetail } } },
    async (request) => {
      await app.accountService.resendVerification(request.user.id)
      return { detail: 'Verification email sent' }
    },
  )

  app.post(
    '/forgot-password',
    {
      config: { access: 'public', limit: 'forgot-password' },
      schema: {
        operationId: 'forgotPassword',
        tags: ['auth'],
        summary: 'Mail a password reset link (same answer whether or not the email is registered)',
        body: Type.Object({ email: Type.String({ format: 'email', maxLength: 255 }) }),
        response: { 202: Message, 422: ErrorDetail, 503: ErrorDetail },
      },
    },
    async (request, reply) => {
      await app.accountService.forgotPassword(request.body.email, client(request))
      return reply.code(202).send({ detail: 'If that email is registered, a reset link has been sent' })
    },
  )

  app.post(
    '/reset-password',
    {
      config: { access: 'public', limit: 'reset-password' },
      schema: {
        operationId: 'resetPassword',
        tags: ['auth'],
        summary: 'Set a new password with the mailed token; every session ends and every API key is revoked',
        body: Type.Object({ token: OpaqueToken, new_password: Password }),
        response: { 200: Message, 400: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      await app.accountService.resetPassword(request.body.token, request.body.new_password, client(request))
      return { detail: 'Password has been reset; sign in with the new password' }
    },
  )

  app.post(
    '/reauthenticate',
    {
      config: { access: 'session', limit: 'reauthenticate' },
      schema: {
        operationId: 'reauthenticate',
        tags: ['auth'],
        summary: 'Prove again who you are (password, a 2FA code, or a passkey after POST /auth/passkeys/reauthenticate/options) before a sensitive action; answers a new token pair',
        body: Type.Object({
          password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
          code: Type.Optional(Code),
          passkey: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'AuthenticationResponseJSON from the browser' })),
        }),
        response: { 200: TokenPair, 400: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      const { password, code, passkey } = request.body
      return app.authService.reauthenticate(request.user.id, request.auth.sessionId!, { password, code, passkey }, client(request))
    },
  )
}

export default authRoutes
