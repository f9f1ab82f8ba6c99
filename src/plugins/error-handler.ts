import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { codeForStatus, publicCode, type ErrorCode } from '../lib/errors.js'
import { redactErrorText } from '../lib/logger.js'

interface ValidationIssue {
  keyword: string
  instancePath: string
  message?: string
  params: Record<string, unknown>
  /** The schema the failing keyword belongs to (Ajv's `verbose`). */
  parentSchema?: { description?: unknown }
}

/**
 * Ajv says "must match pattern" followed by the regular expression, which tells a person little; a
 * schema with a description says its rule in words ("One line: no line breaks, …"), so that is used.
 */
function issueMessage(issue: ValidationIssue): string {
  if (issue.keyword === 'required') return 'Field required'
  const description = issue.parentSchema?.description
  if (issue.keyword === 'pattern' && typeof description === 'string') return `Invalid value: ${description}`
  return issue.message ?? 'Invalid value'
}

/** FastAPI's names for where a bad value came from, so its clients read our 422s unchanged. */
const LOCATION: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }
const ISSUE_TYPE: Record<string, string> = {
  required: 'missing',
  type: 'type_error',
  minLength: 'string_too_short',
  maxLength: 'string_too_long',
  pattern: 'string_pattern_mismatch',
  format: 'value_error',
  enum: 'enum',
  const: 'literal_error',
  anyOf: 'value_error',
  minimum: 'greater_than_equal',
  maximum: 'less_than_equal',
  exclusiveMinimum: 'greater_than',
  exclusiveMaximum: 'less_than',
  minItems: 'too_short',
  maxItems: 'too_long',
  additionalProperties: 'extra_forbidden',
}

function toDetail(issues: ValidationIssue[], context: string | undefined) {
  return issues.map((issue) => {
    const loc: (string | number)[] = [LOCATION[context ?? 'body'] ?? context ?? 'body']
    for (const part of issue.instancePath.split('/').slice(1)) {
      const decoded = part.replace(/~1/g, '/').replace(/~0/g, '~')
      loc.push(/^\d+$/.test(decoded) ? Number(decoded) : decoded)
    }
    if (issue.keyword === 'required') loc.push(String(issue.params.missingProperty))
    if (issue.keyword === 'additionalProperties') loc.push(String(issue.params.additionalProperty))
    return { loc, msg: issueMessage(issue), type: ISSUE_TYPE[issue.keyword] ?? issue.keyword }
  })
}

/** Framework errors that are the client's fault, with the status and wording we give them. */
const CLIENT_ERRORS: Record<string, { status: number; detail: string; code: ErrorCode }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, detail: 'Malformed JSON in request body', code: 'malformed_request' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, detail: 'Request body is empty but Content-Type is application/json', code: 'malformed_request' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, detail: 'Request body is too large', code: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, detail: 'Unsupported Content-Type; send application/json', code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, detail: 'Content-Length does not match the body', code: 'malformed_request' },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, detail: 'Invalid Content-Type header', code: 'malformed_request' },
  FST_ERR_BAD_URL: { status: 400, detail: 'Malformed URL', code: 'malformed_request' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, detail: 'Bad request', code: 'bad_request' },
}

/** Driver errors that mean "the database is away", answered 503 so clients and balancers retry. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08003',
  '08006',
])

function isUnavailable(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true
    if (/did not answer within|Connection terminated|connect ECONNREFUSED/.test(current.message)) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/**
 * One place shapes every error body as `{"detail": ...}`. Client mistakes get a clear 4xx; anything
 * unexpected is a 500 that names the request id and hides the stack outside DEBUG.
 */
export default fp(
  async function errorHandler(app: FastifyInstance, options: { debug: boolean }) {
    app.setErrorHandler((error: FastifyError & { cause?: unknown }, request, reply) => {
      if (error.validation) {
        return reply.code(422).send({ detail: toDetail(error.validation as ValidationIssue[], error.validationContext), code: 'validation_error' })
      }
      const known = error.code ? CLIENT_ERRORS[error.code] : undefined
      if (known) return reply.code(known.status).send({ detail: known.detail, code: known.code })
      const status = error.statusCode ?? 500
      if (status >= 400 && status < 500) {
        const { detail, retryAfter, limiter } = error as { detail?: unknown; retryAfter?: unknown; limiter?: unknown }
        const usable = Array.isArray(detail) || typeof detail === 'string'
        // Limits enforced in services say when to come back; the header is how clients are told.
        if (typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) reply.header('retry-after', String(retryAfter))
        if (typeof limiter === 'string') reply.limiter = limiter
        const code = publicCode(error) ?? codeForStatus(status)
        return reply.code(status).send({ detail: usable ? detail : error.message || 'Bad request', code })
      }
      if (isUnavailable(error)) {
        request.log.warn({ err: error }, 'dependency unavailable')
        if (!reply.hasHeader('retry-after')) reply.header('retry-after', '5')
        return reply.code(503).send({ detail: 'Service temporarily unavailable, try again shortly', code: 'service_unavailable' })
      }
      if (status === 503) return reply.code(503).send({ detail: error.message, code: 'service_unavailable' })
      request.log.error({ err: error }, 'unhandled error')
      const body: Record<string, unknown> = { detail: 'Internal Server Error', code: 'internal_error', request_id: request.id }
      if (options.debug) body.error = { message: redactErrorText(error.message), stack: error.stack && redactErrorText(error.stack) }
      return reply.code(500).send(body)
    })

    app.setNotFoundHandler((_request, reply) => reply.code(404).send({ detail: 'Not Found', code: 'not_found' }))
  },
  { name: 'error-handler' },
)
