import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { SessionRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import { ErrorDetail } from '../../lib/schemas.js'

const SessionPublic = Type.Object({
  id: Type.String({ description: 'Opaque session id (the `sid` of its access tokens)' }),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time', description: 'Updated at most once a minute' }),
  ip: Type.Union([Type.String(), Type.Null()], { description: 'Address of the last use' }),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  device: Type.Union([Type.String(), Type.Null()], { description: 'Parsed from the user agent, e.g. "Firefox on Linux"' }),
  auth_methods: Type.Array(Type.String(), { description: 'How the session was proven, in order: `password`, `password+totp`, `password+email_code`, `password+recovery_code`, ...' }),
  current: Type.Boolean({ description: 'The session of the token making this request' }),
})

const SessionIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

const toPublic = (row: SessionRow, currentId: string | undefined) => ({
  id: row.id,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt.toISOString(),
  ip: row.ip,
  user_agent: row.userAgent,
  device: row.device,
  auth_methods: row.authMethods,
  current: row.id === currentId,
})

/** The caller's sessions: where they are signed in, and signing any of them out. */
const sessionsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    {
      config: { access: 'session' },
      schema: { operationId: 'listSessions', tags: ['sessions'], summary: 'Your live sessions, most recently used first', response: { 200: Type.Array(SessionPublic) } },
    },
    async (request) => (await app.sessions.list(request.user.id)).map((row) => toPublic(row, request.auth.sessionId)),
  )

  app.delete(
    '/:id',
    {
      config: { access: 'session' },
      schema: {
        operationId: 'deleteSession',
        tags: ['sessions'],
        summary: 'Sign one of your sessions out: its tokens stop working at once, its sockets close, and the API keys it created are revoked',
        params: SessionIdParams,
        response: { 204: Type.Null(), 404: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request, reply) => {
      // Someone else's session answers like a missing one: ids are not an oracle.
      const ended = await app.authService.revokeSession(request.user.id, request.params.id, { ip: request.ip })
      if (!ended) throw new Errors.NotFound('Session not found')
      return reply.code(204).send(null)
    },
  )

  app.delete(
    '/',
    {
      config: { access: 'session' },
      schema: {
        operationId: 'deleteOtherSessions',
        tags: ['sessions'],
        summary: 'Sign out every session but this one (and revoke the API keys those sessions created)',
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await app.authService.endOtherSessions(request.user.id, request.auth.sessionId!, { ip: request.ip })
      return reply.code(204).send(null)
    },
  )
}

export default sessionsRoutes
