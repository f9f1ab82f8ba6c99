import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { fieldError } from '../../lib/errors.js'
import { ErrorDetail, Message } from '../../lib/schemas.js'
import { Challenge, TokenPair } from '../auth/auth-routes.js'
import type { ClientInfo } from '../auth/auth-service.js'
import type { ClaimedEmailLogin } from './email-login-service.js'

const client = (request: FastifyRequest): ClientInfo => ({ ip: request.ip, userAgent: request.headers['user-agent'] })
const Email = Type.String({ format: 'email', maxLength: 255 })

/** Sign-in with a mailed link or code (EMAIL_LOGIN_ENABLED). */
const emailLoginRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/email-login',
    {
      config: { access: 'public', limit: 'email-login' },
      schema: {
        operationId: 'requestEmailLogin',
        tags: ['auth'],
        summary: 'Mail a sign-in link and code (same answer whether or not the email is registered)',
        body: Type.Object({ email: Email }),
        response: { 202: Message, 404: ErrorDetail, 503: ErrorDetail },
      },
    },
    async (request, reply) => {
      await app.emailLogin.request(request.body.email, client(request))
      return reply.code(202).send({ detail: 'If that email belongs to an account, a sign-in link and code have been sent' })
    },
  )

  app.post(
    '/email-login/verify',
    {
      config: { access: 'public', limit: 'email-login-verify' },
      schema: {
        operationId: 'verifyEmailLogin',
        tags: ['auth'],
        summary: 'Sign in with the mailed link\'s {"token"} or with {"email", "code"}: a token pair, or the 2FA challenge when 2FA is on',
        body: Type.Object({
          token: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
          email: Type.Optional(Email),
          code: Type.Optional(Type.String({ minLength: 6, maxLength: 6, description: 'The 6-digit code of the mail' })),
        }),
        response: { 200: Type.Union([TokenPair, Challenge]), 400: ErrorDetail, 403: ErrorDetail, 404: ErrorDetail },
      },
    },
    async (request) => {
      const { token, email, code } = request.body
      let used: ClaimedEmailLogin
      if (token !== undefined) used = await app.emailLogin.claimLink(token)
      else if (email !== undefined && code !== undefined) used = await app.emailLogin.claimCode(email, code, client(request))
      else throw fieldError(email === undefined ? 'email' : 'code', 'Send "token", or "email" and "code"')
      // A mail sent to the address was used: that proves the address. For an account not verified yet
      // it is the first proof, and every credential set up before it ends (account pre-hijacking).
      const user = await app.authService.proveAddress(used.userId, used.method, client(request), used.seen)
      return app.emailLogin.finish(user, used.method, client(request))
    },
  )
}

export default emailLoginRoutes
