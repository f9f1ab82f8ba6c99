import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { ApiKeyRow } from '../../db/schema.js'
import { ErrorDetail, OneLineName } from '../../lib/schemas.js'

const Scope = Type.Union([Type.Literal('read'), Type.Literal('write')])

const ApiKeyPublic = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  prefix: Type.String({ description: 'Visible start of the key, to tell keys apart' }),
  scopes: Type.Array(Scope),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
})

const iso = (value: Date | string | null) => (value ? new Date(value).toISOString() : null)
const toPublic = (row: ApiKeyRow) => ({
  id: row.id,
  name: row.name,
  prefix: `cbs_${row.prefix}`,
  scopes: row.scopes as ('read' | 'write')[],
  expires_at: iso(row.expiresAt),
  last_used_at: iso(row.lastUsedAt),
  revoked_at: iso(row.revokedAt),
  created_at: new Date(row.createdAt).toISOString(),
})

/** Personal API keys: managed with a signed-in session only, so a leaked key cannot mint more keys. */
const apiKeysRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/',
    {
      // A new key outlives the session that made it: minting one needs a recent proof.
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'createApiKey',
        tags: ['api-keys'],
        summary: 'Create an API key (the key is shown only in this answer)',
        body: Type.Object({
          // Mailed back to the owner in the new-key notice: one line, so it cannot add lines of its own.
          name: OneLineName({ maxLength: 100 }),
          expires_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
          scopes: Type.Optional(Type.Array(Scope, { minItems: 1, maxItems: 2, uniqueItems: true, default: ['read'] })),
          password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Your password, when your last sign-in is not recent' })),
        }),
        response: { 201: Type.Intersect([ApiKeyPublic, Type.Object({ key: Type.String() })]), 409: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request, reply) => {
      const { name, expires_at, scopes } = request.body
      const { row, key } = await app.apiKeys.create(
        request.user.id,
        { name, expiresAt: expires_at ? new Date(expires_at) : undefined, scopes: scopes ?? ['read'] },
        request.ip,
        // Recorded so that signing this session out as compromised revokes the key with it.
        request.auth.sessionId,
        // A take-back (sign out everywhere, a password change) committing meanwhile refuses the key.
        request.user.tokenVersion,
      )
      // A key made with a stolen session would otherwise go unnoticed: the owner is told (never the key itself).
      await app.accountService.notifyApiKeyCreated(request.user, { name: row.name, prefix: `cbs_${row.prefix}`, scopes: row.scopes })
      return reply.code(201).send({ ...toPublic(row), key })
    },
  )

  app.get(
    '/',
    { config: { access: 'session' }, schema: { operationId: 'listApiKeys', tags: ['api-keys'], summary: 'List your API keys (no secrets)', response: { 200: Type.Array(ApiKeyPublic) } } },
    async (request) => (await app.apiKeys.list(request.user.id)).map(toPublic),
  )

  app.delete(
    '/:id',
    {
      config: { access: 'session' },
      schema: {
        operationId: 'revokeApiKey',
        tags: ['api-keys'],
        summary: 'Revoke an API key',
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }),
        response: { 204: Type.Null(), 404: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request, reply) => {
      await app.apiKeys.revoke(request.user.id, request.params.id, request.ip)
      return reply.code(204).send(null)
    },
  )
}

export default apiKeysRoutes
