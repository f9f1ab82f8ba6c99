import cors from '@fastify/cors'
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify'
import { describe, expect, it } from 'vitest'
import { addPreflightRoute, type CorsOptions, corsStep } from '../../src/plugins/cors.js'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-API-Key', 'X-Request-ID']
const EXPOSED_HEADERS = ['X-Request-ID', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']

const withRoutes = async (app: FastifyInstance) => {
  app.get('/x', async () => ({ ok: true }))
  app.post('/x', async () => ({ ok: true }))
  await app.ready()
  return app
}

/** The app as it was configured with @fastify/cors before CORS became a step of the security hook. */
async function withLibrary(allowedOrigins: string[]) {
  const app = Fastify()
  const anyOrigin = allowedOrigins.includes('*')
  const allowed = new Set(allowedOrigins)
  await app.register(cors, {
    origin: (origin: string | undefined, callback: (error: Error | null, allow: boolean) => void) =>
      callback(null, origin !== undefined && (anyOrigin || allowed.has(origin))),
    credentials: !anyOrigin,
    methods: METHODS,
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  })
  return withRoutes(app)
}

async function withStep(allowedOrigins: string[]) {
  const app = Fastify()
  const options: CorsOptions = { allowedOrigins, methods: METHODS, allowedHeaders: ALLOWED_HEADERS, exposedHeaders: EXPOSED_HEADERS, maxAgeSeconds: 600 }
  app.addHook('onRequest', corsStep(options))
  addPreflightRoute(app)
  return withRoutes(app)
}

/** What a browser or a cache reads of an answer, as far as CORS goes. */
function corsView(response: { statusCode: number; body: string; headers: Record<string, unknown> }) {
  const headers = Object.entries(response.headers)
    .filter(([name]) => name.startsWith('access-control-') || name === 'vary' || name === 'content-length' || name === 'content-type')
    .sort(([a], [b]) => a.localeCompare(b))
  return { status: response.statusCode, body: response.body, headers }
}

describe('CORS step', () => {
  const origins = [undefined, 'http://good.example', 'http://other.example', 'http://evil.example', 'null']
  const requests: InjectOptions[] = []
  for (const origin of origins) {
    const originHeader = origin === undefined ? {} : { origin }
    for (const method of ['GET', 'HEAD', 'POST', 'PUT'] as const) {
      for (const url of ['/x', '/missing']) requests.push({ method, url, headers: originHeader })
    }
    for (const url of ['/x', '/missing']) {
      requests.push({ method: 'OPTIONS', url, headers: originHeader })
      requests.push({ method: 'OPTIONS', url, headers: { ...originHeader, 'access-control-request-method': 'POST' } })
      requests.push({
        method: 'OPTIONS',
        url,
        headers: { ...originHeader, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, x-evil' },
      })
    }
  }

  for (const allowedOrigins of [['http://good.example'], ['http://good.example', 'http://other.example'], ['*'], []]) {
    it(`answers as @fastify/cors did, request by request, for ALLOWED_ORIGINS=${JSON.stringify(allowedOrigins)}`, async () => {
      const [library, step] = await Promise.all([withLibrary(allowedOrigins), withStep(allowedOrigins)])
      for (const request of requests) {
        const [expected, actual] = await Promise.all([library.inject(request), step.inject(request)])
        expect(corsView(actual), JSON.stringify(request)).toEqual(corsView(expected))
      }
      await Promise.all([library.close(), step.close()])
    })
  }

  // The one deliberate difference: with `*`, the library sent `Access-Control-Expose-Headers` to an
  // empty Origin and answered its preflight 400. An empty Origin is no origin: nothing, and a 404.
  it('gives an empty Origin no CORS header, whatever the origin list', async () => {
    for (const allowedOrigins of [['*'], ['http://good.example']]) {
      const app = await withStep(allowedOrigins)
      for (const request of [
        { method: 'GET' as const, url: '/x', headers: { origin: '' } },
        { method: 'OPTIONS' as const, url: '/x', headers: { origin: '', 'access-control-request-method': 'POST' } },
      ]) {
        const response = await app.inject(request)
        expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).toEqual([])
        expect(response.headers.vary).toBe('Origin')
        expect(response.statusCode).toBe(request.method === 'GET' ? 200 : 404)
      }
      await app.close()
    }
  })

  it('reflects an allowed origin with credentials, and gives any other origin no CORS header at all', async () => {
    const app = await withStep(['http://good.example'])
    const good = await app.inject({ method: 'GET', url: '/x', headers: { origin: 'http://good.example' } })
    expect(good.headers['access-control-allow-origin']).toBe('http://good.example')
    expect(good.headers['access-control-allow-credentials']).toBe('true')
    const preflight = await app.inject({ method: 'OPTIONS', url: '/x', headers: { origin: 'http://good.example', 'access-control-request-method': 'DELETE' } })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-methods']).toContain('DELETE')
    expect(preflight.headers['access-control-max-age']).toBe('600')
    const evil = await app.inject({ method: 'OPTIONS', url: '/x', headers: { origin: 'http://evil.example', 'access-control-request-method': 'DELETE' } })
    expect(evil.statusCode).toBe(404)
    expect(Object.keys(evil.headers).filter((name) => name.startsWith('access-control-'))).toEqual([])
    expect(evil.headers.vary).toBe('Origin')
    await app.close()
  })
})
