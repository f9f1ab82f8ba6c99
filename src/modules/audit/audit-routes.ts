import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { PageOf, PaginationQuery, pageOf } from '../../lib/pagination.js'
import { ErrorDetail } from '../../lib/schemas.js'

const AuditEntry = Type.Object({
  id: Type.Integer(),
  action: Type.String(),
  actor_id: Type.Union([Type.Integer(), Type.Null()]),
  target_id: Type.Union([Type.Integer(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
  created_at: Type.String({ format: 'date-time' }),
})

const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    {
      config: { access: 'session-or-key', permission: 'audit:read' },
      schema: {
        operationId: 'listAuditEvents',
        tags: ['audit'],
        summary: 'Security audit log (admin and up)',
        querystring: Type.Object({
          ...PaginationQuery,
          action: Type.Optional(Type.String({ maxLength: 64 })),
          actor_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
          target_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
          since: Type.Optional(Type.String({ format: 'date-time' })),
          until: Type.Optional(Type.String({ format: 'date-time' })),
        }),
        response: { 200: PageOf(AuditEntry), 422: ErrorDetail },
      },
    },
    async (request) => {
      const { action, actor_id, target_id, since, until } = request.query
      const { skip, limit } = pageOf(request.query)
      const page = await app.repositories.audit.search(
        { action, actorId: actor_id, targetId: target_id, since: since ? new Date(since) : undefined, until: until ? new Date(until) : undefined },
        { skip, limit },
      )
      return {
        items: page.items.map((entry) => ({
          id: entry.id,
          action: entry.action,
          actor_id: entry.actorId,
          target_id: entry.targetId,
          ip: entry.ip,
          details: entry.details,
          created_at: new Date(entry.createdAt).toISOString(),
        })),
        total: page.total,
        skip,
        limit,
      }
    },
  )
}

export default auditRoutes
