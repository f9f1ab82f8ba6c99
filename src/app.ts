import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import AjvCompiler from '@fastify/ajv-compiler'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifySchemaCompiler, type FastifyServerOptions } from 'fastify'
import type { Logger as PinoLogger } from 'pino'
import type { Config } from './config/config.js'
import type { Database } from './db/database.js'
import { Errors } from './lib/errors.js'
import { loggerOptions, type LogDestination, requestLoggerFactory } from './lib/logger.js'
import cachePlugin from './plugins/cache.js'
import databasePlugin from './plugins/database.js'
import docsPlugin from './plugins/docs.js'
import errorHandler from './plugins/error-handler.js'
import housekeepingPlugin from './plugins/housekeeping.js'
import securityPlugin from './plugins/security.js'
import apiKeysRoutes from './modules/api-keys/api-keys-routes.js'
import auditRoutes from './modules/audit/audit-routes.js'
import authRoutes from './modules/auth/auth-routes.js'
import devRoutes from './modules/dev/dev-routes.js'
import healthRoutes from './modules/health/health-routes.js'
import oauthRoutes from './modules/oauth/oauth-routes.js'
import passkeysRoutes from './modules/passkeys/passkeys-routes.js'
import emailLoginRoutes from './modules/email-login/email-login-routes.js'
import realtimeRoutes from './modules/realtime/realtime-routes.js'
import sessionsRoutes from './modules/sessions/sessions-routes.js'
import usersRoutes from './modules/users/users-routes.js'
import mailPlugin from './plugins/mail.js'
import metricsPlugin from './plugins/metrics.js'
import oauthPlugin from './plugins/oauth.js'
import rateLimitPlugin from './plugins/rate-limit.js'
import servicesPlugin from './plugins/services.js'
import tracingPlugin from './plugins/tracing.js'
import webConsolePlugin, { DEFAULT_WEB_ROOT } from './plugins/web-console.js'
import websocketPlugin from './plugins/websocket.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** The app's clock; tests pass their own to move time forward. */
    now: () => Date
  }
}

export interface AppOptions {
  config: Config
  /** false for silence, or a destination stream (tests read the log lines from it). */
  logger?: boolean | LogDestination
  /** Pretty-print logs; the server turns this on in DEBUG. */
  prettyLogs?: boolean
  /** Reuse an open database instead of opening one from config. */
  database?: Database
  /** A database already being opened from config (the server starts it early); the app closes it. */
  openingDatabase?: Promise<Database>
  now?: () => Date
  /** Folder of the built web console; defaults to dist/web. */
  webRoot?: string
}

const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/

export type App = FastifyInstance

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000')
  if (value === null || typeof value !== 'object' || depth > 32) return false
  for (const [key, inner] of Object.entries(value)) {
    if (key.includes('\u0000') || containsNul(inner, depth + 1)) return true
  }
  return false
}

type ValidatorFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']

/**
 * Two Ajv set-ups, picked by the part of the request. Query strings, path params and headers are text,
 * so `?limit=20` and `/get/5` must become numbers and a single `?tag=a` a list. A JSON body carries its
 * own types: `["bob"]` or `5` for a string field is the client's mistake (422, as FastAPI answers), and
 * coercing it would let a crafted body reach code that expects a string.
 */
function validatorsByPart(): ValidatorFactory {
  const pool = AjvCompiler()
  // verbose: an issue carries its schema, so a pattern failure can say the rule in words (error-handler).
  const shared = { removeAdditional: true, useDefaults: true, allErrors: true, verbose: true } as const
  return ((externalSchemas: Parameters<typeof pool>[0], options: Parameters<typeof pool>[1]) => {
    const build = (coerceTypes: 'array' | false) =>
      pool(externalSchemas, { ...options, mode: undefined, customOptions: { ...shared, coerceTypes } }) as unknown as FastifySchemaCompiler<unknown>
    const text = build('array')
    const json = build(false)
    return (route: Parameters<FastifySchemaCompiler<unknown>>[0]) => onFirstUse(() => (route.httpPart === 'body' ? json : text)(route) as Compiled)
  }) as unknown as ValidatorFactory
}

type Compiled = ((...args: unknown[]) => unknown) & { errors?: unknown }

/**
 * A route's validator or serializer, compiled the first time a request needs it rather than while the
 * app starts: compiling them all took about 0.6 s of a 3 s start, for routes many instances never see.
 * Fastify reads a validator's `errors` right after calling it; the getter hands over the compiled one's.
 */
function onFirstUse(compile: () => Compiled): Compiled {
  let compiled: Compiled | undefined
  const run = function (this: unknown, ...args: unknown[]) {
    compiled ??= compile()
    return compiled.apply(this, args)
  } as Compiled
  Object.defineProperty(run, 'errors', { get: () => compiled?.errors })
  return run
}

type SerializerFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']

/**
 * Response serializers compiled once per process and schema. Building an app compiles one for every
 * route and status; the schemas are module-level objects, so a second app (tests build hundreds)
 * reuses them instead of spending most of its build time compiling the same code again.
 */
function cachedSerializers(): SerializerFactory {
  const select = SerializerSelector()
  const pools = new Map<string, WeakMap<object, unknown>>()
  return ((externalSchemas: unknown, options: unknown) => {
    const key = JSON.stringify(externalSchemas) + JSON.stringify(options ?? {})
    const compiled = pools.get(key) ?? new WeakMap<object, unknown>()
    pools.set(key, compiled)
    const build = select(externalSchemas as never, options as never)
    return (route: { schema: object }) =>
      onFirstUse(() => {
        const cached = compiled.get(route.schema) as Compiled | undefined
        if (cached) return cached
        const serializer = build(route as never) as unknown as Compiled
        compiled.set(route.schema, serializer)
        return serializer
      })
  }) as unknown as SerializerFactory
}

// Per process, like the serializers: Ajv caches what it compiled by schema object.
const VALIDATORS = validatorsByPart()
const SERIALIZERS = cachedSerializers()

/** Builds the whole application; the server entry and every test use this one factory. */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config } = options
  const fastifyOptions: FastifyServerOptions = {
    logger: options.logger === false ? false : loggerOptions(config, options.logger === true ? undefined : options.logger, options.prettyLogs),
    // Fastify accepts a hop count at runtime though its types omit it.
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    bodyLimit: config.bodyLimit,
    // Opening the embedded database (PGlite) can take longer than Fastify's 10 s default on a busy
    // machine; a slow start is better than a boot that fails for no fault of its own.
    pluginTimeout: 60_000,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // Accept a caller's request id only when it is short and plain, so it cannot forge log lines.
    genReqId: (request) => {
      const incoming = request.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID()
    },
    requestIdHeader: false,
    // One line per request, written in onResponse below, instead of Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    childLoggerFactory: requestLoggerFactory,
    // Router-level failures (bad URL encoding, an over-long path segment) never reach the error handler.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      void (reply as FastifyReply)
        .code(tooLong ? 414 : 400)
        .send(tooLong ? { detail: 'A path segment is too long', code: 'uri_too_long' } : { detail: 'Malformed URL', code: 'malformed_request' })
    },
    // Slow-loris guard: headers and whole requests must arrive in bounded time, checked every
    // half second or so (Node's default check runs only every 30 s).
    serverFactory: (handler) =>
      createServer(
        {
          headersTimeout: config.headersTimeoutMs,
          requestTimeout: Math.max(config.requestTimeoutMs, config.headersTimeoutMs),
          keepAliveTimeout: 65_000,
          connectionsCheckingInterval: Math.min(1000, Math.ceil(config.headersTimeoutMs / 2)),
        },
        handler,
      ),
    schemaController: { compilersFactory: { buildValidator: VALIDATORS, buildSerializer: SERIALIZERS } },
  }
  const app = Fastify(fastifyOptions).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('config', config)
  app.decorate('now', options.now ?? (() => new Date()))

  // Hooks that run on every request take a callback rather than returning a promise: cheaper per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  // JSON only: any other body type is a 415, not a confusing validation error.
  app.removeContentTypeParser(['text/plain'])
  // An empty JSON body means "no body" (the spec's `curl -X POST .../enable-2fa` sends none).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    return parseJson(request, body as string, done)
  })
  // PostgreSQL text cannot hold NUL characters; refuse them up front instead of failing in the driver.
  app.addHook('preValidation', (request, _reply, done) => {
    if (containsNul(request.body) || containsNul(request.query) || containsNul(request.params)) {
      done(new Errors.MalformedRequest('NUL characters are not allowed in input'))
      return
    }
    done()
  })
  // The request line holds only the fields named below, none of them secret, so it skips redaction:
  // redaction was about 7 µs of the line's 11 µs (measured).
  const requestLog = app.log.child({}, { redact: { paths: [] } })
  app.addHook('onResponse', (request, reply, done) => {
    // Successful probes arrive every few seconds from balancers and orchestrators: debug, not info.
    const probe = reply.statusCode < 400 && request.url.startsWith('/api/v1/health')
    const level = probe ? 'debug' : 'info'
    // Build the line only if it will be written: at info, a probe's would be thrown away.
    // pino's own check; a logger without one (logging turned off) drops the line itself.
    if ((requestLog as Partial<Pick<PinoLogger, 'isLevelEnabled'>>).isLevelEnabled?.(level) === false) {
      done()
      return
    }
    requestLog[level](
      {
        request_id: request.id,
        method: request.method,
        // The path without its query string: queries may carry secrets (a WebSocket ?token=).
        path: request.url.split('?')[0],
        route: request.routeOptions.url,
        status: reply.statusCode,
        duration_ms: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request completed',
    )
    done()
  })

  if (config.tracing) await app.register(tracingPlugin)
  await app.register(errorHandler, { debug: config.debug })
  await app.register(securityPlugin, { config })
  await app.register(databasePlugin, { config, database: options.database, opening: options.openingDatabase })
  await app.register(cachePlugin, { config })
  await app.register(mailPlugin, { config })
  await app.register(metricsPlugin)
  await app.register(rateLimitPlugin)
  await app.register(docsPlugin, { config })
  // Static console files are public by nature and @fastify/static cannot carry a route declaration,
  // so the console is served from the infrastructure tier, before the auth plugin's onRoute check.
  await app.register(webConsolePlugin, { root: options.webRoot ?? DEFAULT_WEB_ROOT })
  // From here on, every route must declare its access (config.access): see src/plugins/auth.ts.
  await app.register(servicesPlugin)
  await app.register(oauthPlugin)
  await app.register(housekeepingPlugin)
  await app.register(websocketPlugin)

  await app.register(healthRoutes, { prefix: '/api/v1/health' })
  await app.register(authRoutes, { prefix: '/api/v1/auth' })
  await app.register(sessionsRoutes, { prefix: '/api/v1/auth/sessions' })
  await app.register(oauthRoutes, { prefix: '/api/v1/auth' })
  await app.register(passkeysRoutes, { prefix: '/api/v1/auth/passkeys' })
  await app.register(emailLoginRoutes, { prefix: '/api/v1/auth' })
  await app.register(usersRoutes, { prefix: '/api/v1/users' })
  await app.register(apiKeysRoutes, { prefix: '/api/v1/api-keys' })
  await app.register(auditRoutes, { prefix: '/api/v1/audit' })
  await app.register(realtimeRoutes)
  if (config.debug) await app.register(devRoutes, { prefix: '/api/v1/dev' })

  return app
}
