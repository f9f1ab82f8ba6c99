import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'
import { Errors } from '../lib/errors.js'

/** Largest frame a client may send; a bigger one is closed by ws with 1009 (message too big). */
export const MAX_FRAME_BYTES = 64 * 1024

/** `scheme://host[:port]` as browsers write it, or undefined when the value is not an http(s) origin (e.g. `null`). */
function originOf(value: string): string | undefined {
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined
  } catch {
    return undefined
  }
}

/**
 * Browsers apply no CORS to WebSocket handshakes: any page could open a socket to this server with a
 * token it got hold of and read the answers (cross-site WebSocket hijacking). So a handshake that names
 * an Origin must name ours (PUBLIC_URL, or the Host the client reached us by) or one in ALLOWED_ORIGINS.
 * Clients that send no Origin are not browsers (servers, CLIs) and are not affected.
 */
function originGuard(config: Config) {
  const anyOrigin = config.allowedOrigins.includes('*')
  const allowed = new Set<string>()
  for (const origin of [config.publicUrl, ...config.allowedOrigins]) {
    const normalized = originOf(origin)
    if (normalized) allowed.add(normalized)
  }
  return async function checkWebSocketOrigin(request: FastifyRequest) {
    const header = request.headers.origin
    if (header === undefined || anyOrigin) return
    const origin = originOf(header)
    if (origin !== undefined) {
      if (allowed.has(origin)) return
      // request.host is the Host header, or X-Forwarded-Host only from a proxy TRUST_PROXY trusts.
      if (originOf(`http://${request.host}`) === origin || originOf(`https://${request.host}`) === origin) return
    }
    request.log.warn({ origin: header.slice(0, 200) }, 'websocket handshake from a foreign origin refused')
    throw new Errors.OriginNotAllowed('WebSocket connections from this origin are not allowed')
  }
}

export default fp(
  async function websocketPlugin(app: FastifyInstance) {
    // Every WebSocket route gets the check once, first, before its own hooks (authentication included).
    const checkOrigin = originGuard(app.config)
    app.addHook('onRoute', (route) => {
      if (!route.websocket) return
      const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
      route.onRequest = [checkOrigin, ...own]
    })

    await app.register(websocket, {
      options: { maxPayload: MAX_FRAME_BYTES, clientTracking: true },
      // Shutdown tells every client "going away" (1001) so it reconnects elsewhere, then lets close finish.
      preClose(done) {
        for (const client of app.websocketServer.clients) client.close(1001, 'server shutting down')
        app.websocketServer.close(() => done())
      },
      errorHandler(error, socket, request) {
        request.log.warn({ err: { message: error.message } }, 'websocket error')
        socket.terminate()
      },
    })
  },
  { name: 'websocket' },
)
