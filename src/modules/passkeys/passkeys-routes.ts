import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ErrorDetail } from '../../lib/schemas.js'
import type { ClientInfo } from '../auth/auth-service.js'
import { Challenge, TokenPair } from '../auth/auth-routes.js'
import { CreationOptions, LoginOptions, PasskeyName, PasskeyPublicSchema, RegistrationResponse, RequestOptions, AuthenticationResponse } from './passkeys-schemas.js'

const client = (request: FastifyRequest): ClientInfo => ({ ip: request.ip, userAgent: request.headers['user-agent'] })
const PasskeyIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
/** A password sent with a sensitive action proves the caller there and then (docs/SECURITY.md#fresh-proof). */
const ProofPassword = Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Your password, when your last sign-in is not recent' }))
const OptionalProof = Type.Optional(Type.Union([Type.Object({ password: ProofPassword }), Type.Null()]))
const ChallengeId = Type.String({ minLength: 16, maxLength: 128 })
const Off = { 404: ErrorDetail }

/** Passkeys (WebAuthn): registration and management by their owner, sign-in, and the 2FA and re-authentication options. */
const passkeysRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    {
      config: { access: 'session' },
      schema: { operationId: 'listPasskeys', tags: ['passkeys'], summary: 'Your passkeys', response: { 200: Type.Array(PasskeyPublicSchema), ...Off } },
    },
    async (request) => app.passkeys.list(request.user.id),
  )

  app.post(
    '/register/options',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'passkeyRegistrationOptions',
        tags: ['passkeys'],
        summary: 'Start adding a passkey: creation options for navigator.credentials.create() (5 minutes, single use)',
        body: OptionalProof,
        response: { 200: CreationOptions, ...Off },
      },
    },
    async (request) => app.passkeys.registrationOptions(request.user.id),
  )

  app.post(
    '/register/verify',
    {
      config: { access: 'session' },
      schema: {
        operationId: 'passkeyRegistrationVerify',
        tags: ['passkeys'],
        summary: 'Finish adding a passkey with the browser’s answer; the options’ challenge proves the fresh sign-in',
        body: Type.Object({ response: RegistrationResponse, name: Type.Optional(PasskeyName) }),
        response: { 201: PasskeyPublicSchema, 400: ErrorDetail, 409: ErrorDetail, ...Off },
      },
    },
    async (request, reply) => {
      const created = await app.passkeys.register(request.user.id, request.body.response as unknown as RegistrationResponseJSON, request.body.name, client(request), {
        // Written only while this session is live and the account's token version is the one it authenticated with.
        sessionId: request.auth.sessionId,
        tokenVersion: request.user.tokenVersion,
      })
      // A passkey is a way in without the password: the owner is told of each new one.
      await app.accountService.notifyPasskeyAdded(request.user, created)
      return reply.code(201).send(created)
    },
  )

  app.patch(
    '/:id',
    {
      config: { access: 'session' },
      schema: {
        operationId: 'renamePasskey',
        tags: ['passkeys'],
        summary: 'Rename one of your passkeys',
        params: PasskeyIdParams,
        body: Type.Object({ name: PasskeyName }),
        response: { 200: PasskeyPublicSchema, ...Off },
      },
    },
    async (request) => app.passkeys.rename(request.user.id, request.params.id, request.body.name),
  )

  app.delete(
    '/:id',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'deletePasskey',
        tags: ['passkeys'],
        summary: 'Remove one of your passkeys (refused for the last way into an account without a password)',
        params: PasskeyIdParams,
        body: OptionalProof,
        response: { 204: Type.Null(), 409: ErrorDetail, ...Off },
      },
    },
    async (request, reply) => {
      await app.passkeys.remove(request.user.id, request.params.id, client(request))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/login/options',
    {
      config: { access: 'public', limit: 'passkey-login' },
      schema: {
        operationId: 'passkeyLoginOptions',
        tags: ['passkeys'],
        summary: 'Start a passkey sign-in: with "username_or_email" the account’s passkeys are listed, without it any discoverable passkey will do',
        body: Type.Optional(Type.Union([Type.Object({ username_or_email: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }), Type.Null()])),
        response: { 200: LoginOptions, ...Off },
      },
    },
    async (request) => app.passkeys.loginOptions(request.body?.username_or_email),
  )

  app.post(
    '/login/verify',
    {
      config: { access: 'public', limit: 'passkey-login' },
      schema: {
        operationId: 'passkeyLoginVerify',
        tags: ['passkeys'],
        summary: 'Sign in with the browser’s passkey answer: a token pair (method `passkey`), or the 2FA challenge when the passkey did not verify the user and 2FA is on',
        body: Type.Object({ response: AuthenticationResponse, challenge_id: Type.Optional(ChallengeId) }),
        response: { 200: Type.Union([TokenPair, Challenge]), 401: ErrorDetail, 403: ErrorDetail, ...Off },
      },
    },
    async (request) => {
      try {
        const result = await app.passkeys.login(request.body.response as unknown as AuthenticationResponseJSON, request.body.challenge_id, client(request))
        app.metrics.loginAttempts.inc({ result: 'requires_2fa' in result ? 'challenge' : 'success' })
        return result
      } catch (error) {
        app.metrics.loginAttempts.inc({ result: (error as { statusCode?: number }).statusCode === 401 ? 'failure' : 'refused' })
        throw error
      }
    },
  )

  app.post(
    '/2fa/options',
    {
      config: { access: 'public', limit: 'verify-2fa' },
      schema: {
        operationId: 'passkeySecondFactorOptions',
        tags: ['passkeys'],
        summary: 'Options for answering a 2FA challenge with a passkey; send the answer to POST /auth/verify-2fa as "passkey"',
        body: Type.Object({ challenge_token: Type.String({ minLength: 1, maxLength: 512 }) }),
        response: { 200: RequestOptions, 400: ErrorDetail, 401: ErrorDetail, ...Off },
      },
    },
    async (request) => {
      app.passkeys.assertEnabled()
      const pending = await app.twoFactor.pendingChallenge(request.body.challenge_token)
      return app.passkeys.secondFactorOptions(pending.userId, pending.tokenHash)
    },
  )

  app.post(
    '/reauthenticate/options',
    {
      config: { access: 'session', limit: 'reauthenticate' },
      schema: {
        operationId: 'passkeyReauthenticationOptions',
        tags: ['passkeys'],
        summary: 'Options for proving it is you with a passkey; send the answer to POST /auth/reauthenticate as "passkey"',
        response: { 200: RequestOptions, 400: ErrorDetail, ...Off },
      },
    },
    async (request) => app.passkeys.reauthenticationOptions(request.user.id),
  )
}

export default passkeysRoutes
