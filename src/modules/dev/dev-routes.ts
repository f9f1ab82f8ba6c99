import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const OutboxEntry = Type.Object({
  id: Type.String({ format: 'uuid' }),
  to: Type.String(),
  subject: Type.String(),
  text: Type.String(),
  html: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
})
const NotFound = Type.Object({ detail: Type.String(), code: Type.String() })

/**
 * Development helpers; the app registers them under /api/v1/dev only when DEBUG is on.
 * The outbox answers 404 unless the mailer really keeps mail in memory, so a DEBUG server that has SMTP
 * configured does not pretend to have an outbox.
 */
const devRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/outbox',
    {
      // DEBUG only: the outbox exists so a developer can read their own test mail.
      config: { access: 'public' },
      schema: {
        operationId: 'listOutbox',
        tags: ['dev'],
        summary: 'Emails kept by the dev outbox (no SMTP_HOST, DEBUG on), newest first',
        response: { 200: Type.Object({ items: Type.Array(OutboxEntry) }), 404: NotFound },
      },
    },
    async (_request, reply) => {
      if (app.mailer.mode !== 'outbox') return reply.code(404).send({ detail: 'Not Found', code: 'not_found' })
      return { items: [...app.mailer.outbox()] }
    },
  )
}

export default devRoutes
