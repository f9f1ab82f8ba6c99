import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'

const require = createRequire(import.meta.url)

const redocPage = (title: string) => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${title} - ReDoc</title>
</head>
<body>
  <redoc spec-url="/api/openapi.json"></redoc>
  <script src="/api/redoc/redoc.standalone.js"></script>
</body>
</html>`

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}

interface OpenApiDocument {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: { nullable?: boolean } }> } }>>
}

/**
 * @fastify/swagger marks every request body as required. A body that may be null is optional (the
 * spec's `curl -X POST .../enable-2fa` sends none), and a validating proxy or generated client must
 * see it that way.
 */
function markOptionalBodies<T extends OpenApiDocument>(document: T): T {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const schema = operation.requestBody?.content?.['application/json']?.schema
      if (operation.requestBody && schema?.nullable) operation.requestBody.required = false
    }
  }
  return document
}

/**
 * OpenAPI 3 at /api/openapi.json, Swagger UI at /api/docs and ReDoc at /api/redoc.
 * Both UIs are served from installed packages: they must work on machines without internet.
 */
export default fp(
  async function docsPlugin(app: FastifyInstance, { config }: { config: Config }) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: config.projectName,
          version: config.version,
          description:
            'Users, authentication with 2FA, sessions, role-based access, API keys, audit log and real-time rooms. ' +
            'Every error answers `{"detail": ..., "code": ...}`; the codes are listed in docs/ERRORS.md.',
          license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
        },
        // Generated clients call this base; PUBLIC_URL is where the API is reached from outside.
        servers: [{ url: config.publicUrl, description: 'This deployment (PUBLIC_URL)' }],
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          },
        },
        tags: [
          { name: 'auth', description: 'Registration, login, tokens, 2FA, email verification, password reset, re-authentication' },
          { name: 'passkeys', description: 'Passkeys (WebAuthn): register, list, rename, remove, and sign in with one' },
          { name: 'sessions', description: 'Where you are signed in, and signing sessions out' },
          { name: 'users', description: 'Profiles and user management' },
          { name: 'api-keys', description: 'Personal API keys' },
          { name: 'audit', description: 'Security audit log' },
          { name: 'health', description: 'Liveness and dependency checks' },
          { name: 'realtime', description: 'WebSocket statistics and broadcasts' },
          { name: 'dev', description: 'Development helpers, served only with DEBUG on' },
        ],
      },
      transformObject: (documentObject) =>
        'openapiObject' in documentObject ? markOptionalBodies(documentObject.openapiObject as OpenApiDocument) : documentObject.swaggerObject,
    })
    await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: false, uiConfig: { persistAuthorization: true } })

    app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger())

    const redocBundle = require.resolve('redoc/bundles/redoc.standalone.js')
    let bundle: Buffer | undefined
    app.get('/api/redoc', { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/html; charset=utf-8').send(redocPage(escapeHtml(config.projectName))),
    )
    app.get('/api/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_request, reply) => {
      bundle ??= await readFile(redocBundle)
      return reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(bundle)
    })
  },
  { name: 'docs' },
)
