import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { UserIdentityRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import { randomToken } from '../../lib/secrets.js'
import { ErrorDetail, Message } from '../../lib/schemas.js'
import type { ClientInfo } from '../auth/auth-service.js'
import { OAUTH_TTL_SECONDS, safeRedirectPath } from './oauth-service.js'

const ProviderName = Type.Object({ name: Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z][a-z0-9_-]*$' }) })
const RedirectTo = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'Where the console goes afterwards: a path of this app (`/security`), never another site',
  examples: ['/profile'],
})
const TokenPair = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Access token lifetime in seconds' }),
})
const Challenge = Type.Object({
  requires_2fa: Type.Literal(true),
  challenge_token: Type.String(),
  method: Type.Union([Type.Literal('email'), Type.Literal('totp')]),
})
const IdentityPublic = Type.Object({
  id: Type.String({ format: 'uuid' }),
  provider: Type.String({ description: 'The provider name in OAUTH_PROVIDERS' }),
  email: Type.Union([Type.String(), Type.Null()], { description: 'The email the provider asserted when last used' }),
  created_at: Type.String({ format: 'date-time' }),
})
const ProofPassword = Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Your password, when your last sign-in is not recent' }))
const Redirect = Type.Null({ description: 'A redirect (`Location`)' })

const client = (request: FastifyRequest): ClientInfo => ({ ip: request.ip, userAgent: request.headers['user-agent'] })

/** The cookie that ties a sign-in's callback to the browser that started it (login CSRF). */
const BINDING_COOKIE = 'oauth_binding'
const BINDING_PATTERN = /^[A-Za-z0-9_-]{43}$/

function bindingOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2)
    if (name === BINDING_COOKIE && value && BINDING_PATTERN.test(value)) return value
  }
  return undefined
}

/** Keeps the browser's binding (several tabs may sign in at once) or gives it one; sent only to these routes. */
function bind(request: FastifyRequest, reply: FastifyReply, secure: boolean): string {
  const binding = bindingOf(request) ?? randomToken(32)
  reply.header(
    'set-cookie',
    `${BINDING_COOKIE}=${binding}; Path=/api/v1/auth/oauth; Max-Age=${OAUTH_TTL_SECONDS}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`,
  )
  return binding
}

const toPublic = (row: UserIdentityRow) => ({ id: row.id, provider: row.provider, email: row.email, created_at: row.createdAt.toISOString() })

function redirectPath(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback
  const path = safeRedirectPath(value)
  if (!path) throw new Errors.BadRequest('redirect_to must be a path of this app, such as /profile')
  return path
}

/** Sign-in with OpenID Connect providers and GitHub, and the caller's linked identities (docs/OAUTH.md). */
const oauthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const secure = app.config.publicUrl.startsWith('https:')
  app.get(
    '/oauth/providers',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'listOAuthProviders',
        tags: ['auth'],
        summary: 'The sign-in providers this server offers (OAUTH_PROVIDERS), for "Sign in with ..." buttons',
        response: { 200: Type.Array(Type.Object({ name: Type.String(), label: Type.String() })) },
      },
    },
    async () => app.oauth.providers(),
  )

  app.get(
    '/oauth/:name/authorize',
    {
      config: { access: 'public', limit: 'oauth-authorize' },
      schema: {
        operationId: 'startOAuthSignIn',
        tags: ['auth'],
        summary: 'Start a sign-in with a provider: redirects to it with state, nonce and PKCE (S256)',
        params: ProviderName,
        querystring: Type.Object({ redirect_to: Type.Optional(RedirectTo) }),
        response: { 302: Redirect, 400: ErrorDetail, 404: ErrorDetail, 503: ErrorDetail },
      },
    },
    async (request, reply) => {
      const redirectTo = redirectPath(request.query.redirect_to, '/profile')
      const location = await app.oauth.authorize(request.params.name, redirectTo, bind(request, reply, secure))
      return reply.redirect(location, 302)
    },
  )

  app.get(
    '/oauth/:name/callback',
    {
      config: { access: 'public', limit: 'oauth-callback' },
      schema: {
        operationId: 'finishOAuthSignIn',
        tags: ['auth'],
        summary: "The provider's redirect back: checks it, then sends the browser to the console with a one-time code, or with a readable error",
        params: ProviderName,
        querystring: Type.Object({
          code: Type.Optional(Type.String({ maxLength: 2048 })),
          state: Type.Optional(Type.String({ maxLength: 512 })),
          error: Type.Optional(Type.String({ maxLength: 256 })),
          error_description: Type.Optional(Type.String({ maxLength: 2048 })),
          iss: Type.Optional(Type.String({ maxLength: 512 })),
        }),
        response: { 302: Redirect, 404: ErrorDetail },
      },
    },
    async (request, reply) => {
      const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : ''
      const { location, linked } = await app.oauth.callback(request.params.name, request.query, rawQuery, bindingOf(request), client(request))
      // A provider account is a way into the account: its owner is told of each one linked.
      if (linked) await app.accountService.notifyIdentityLinked(linked.userId, linked.provider)
      return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(location, 302)
    },
  )

  app.post(
    '/oauth/exchange',
    {
      config: { access: 'public', limit: 'oauth-exchange' },
      schema: {
        operationId: 'exchangeOAuthCode',
        tags: ['auth'],
        summary: 'Trade the one-time code of a provider sign-in for a token pair (or a 2FA challenge when the account has 2FA)',
        body: Type.Object({ code: Type.String({ minLength: 1, maxLength: 512 }) }),
        response: { 200: Type.Union([TokenPair, Challenge]), 400: ErrorDetail, 403: ErrorDetail },
      },
    },
    async (request) => app.oauth.exchange(request.body.code, bindingOf(request), client(request)),
  )

  app.post(
    '/oauth/:name/link',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'linkOAuthProvider',
        tags: ['auth'],
        summary: 'Link another provider to your account: answers the URL to send the browser to',
        params: ProviderName,
        body: Type.Optional(Type.Union([Type.Object({ password: ProofPassword, redirect_to: Type.Optional(RedirectTo) }), Type.Null()])),
        response: { 200: Type.Object({ authorize_url: Type.String() }), 400: ErrorDetail, 404: ErrorDetail, 503: ErrorDetail },
      },
    },
    async (request, reply) => {
      const body = request.body && typeof request.body === 'object' ? request.body : {}
      const redirectTo = redirectPath(body.redirect_to, '/security')
      return {
        authorize_url: await app.oauth.authorize(request.params.name, redirectTo, bind(request, reply, secure), {
          userId: request.user.id,
          sessionId: request.auth.sessionId!,
          tokenVersion: request.user.tokenVersion,
        }),
      }
    },
  )

  app.get(
    '/identities',
    {
      config: { access: 'session' },
      schema: {
        operationId: 'listIdentities',
        tags: ['auth'],
        summary: 'The sign-in providers linked to your account',
        response: { 200: Type.Array(IdentityPublic) },
      },
    },
    async (request) => (await app.oauth.listIdentities(request.user.id)).map(toPublic),
  )

  app.delete(
    '/identities/:id',
    {
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'unlinkIdentity',
        tags: ['auth'],
        summary: 'Unlink a provider (refused when it is the only way left to sign in)',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        body: Type.Optional(Type.Union([Type.Object({ password: ProofPassword }), Type.Null()])),
        response: { 200: Message, 400: ErrorDetail, 404: ErrorDetail, 409: ErrorDetail },
      },
    },
    async (request) => {
      await app.oauth.unlink(request.user.id, request.params.id, client(request))
      return { detail: 'Unlinked' }
    },
  )
}

export default oauthRoutes
