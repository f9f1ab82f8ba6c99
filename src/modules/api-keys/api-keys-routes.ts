import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { ApiKeyRow } from '../../db/schema.js'
import { ErrorDetail, ErrorResponses, SESSION_ONLY, SESSION_OR_API_KEY } from '../../lib/schemas.js'

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

const security = SESSION_ONLY

/** Personal API keys: managed with a signed-in session only, so a leaked key cannot mint more keys. */
const apiKeysRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('preHandler', app.requireSession)

  app.post(
    '/',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key (the key is shown only in this answer)',
        security,
        body: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 100 }),
          expires_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
          scopes: Type.Optional(Type.Array(Scope, { minItems: 1, maxItems: 2, uniqueItems: true, default: ['read'] })),
        }),
        response: { 201: Type.Intersect([ApiKeyPublic, Type.Object({ key: Type.String() })]), 409: ErrorDetail, ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const { name, expires_at, scopes } = request.body
      const { row, key } = await app.apiKeys.create(
        request.user.id,
        { name, expiresAt: expires_at ? new Date(expires_at) : undefined, scopes: scopes ?? ['read'] },
        request.ip,
      )
      return reply.code(201).send({ ...toPublic(row), key })
    },
  )

  app.get(
    '/',
    { schema: { tags: ['api-keys'], summary: 'List your API keys (no secrets)', security, response: { 200: Type.Array(ApiKeyPublic), ...ErrorResponses } } },
    async (request) => (await app.apiKeys.list(request.user.id)).map(toPublic),
  )

  app.delete(
    '/:id',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key',
        security,
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }),
        response: { 204: Type.Null(), 404: ErrorDetail, ...ErrorResponses },
      },
    },
    async (request, reply) => {
      await app.apiKeys.revoke(request.user.id, request.params.id, request.ip)
      return reply.code(204).send(null)
    },
  )
}

export default apiKeysRoutes
