import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Largest frame a client may send; a bigger one is closed by ws with 1009 (message too big). */
export const MAX_FRAME_BYTES = 64 * 1024

export default fp(
  async function websocketPlugin(app: FastifyInstance) {
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
