import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Counter } from 'prom-client'
import { Type } from 'typebox'
import type { WebSocket } from 'ws'
import { Errors } from '../../lib/errors.js'
import { ErrorDetail } from '../../lib/schemas.js'
import type { AuthContext, Principal } from '../auth/principal.js'
import { hasPermission } from '../auth/permissions.js'
import { createRealtimeHub, type Connection, type Identity } from './realtime-hub.js'
import { CLIENT_ID_PATTERN, MAX_CONTENT_BYTES, MAX_ROOMS_PER_CONNECTION, ProtocolError, ROOM_PATTERN, parseFrame, type ClientFrame } from './realtime-protocol.js'

/** Close codes: 4401 is "your credentials are no longer valid" (HTTP 401 in the 4000 private range). */
const CLOSE_UNAUTHORIZED = 4401
const CLOSE_POLICY = 1008
const CLOSE_TRY_AGAIN_LATER = 1013
const HEARTBEAT_MS = 30_000

interface SocketSession {
  connection: Connection
  user: Principal | null
  auth: AuthContext | null
  alive: boolean
  windowStart: number
  windowCount: number
}

declare module 'fastify' {
  interface FastifyRequest {
    wsIdentity?: { user: Principal | null; auth: AuthContext | null }
  }
}

const ClientIdParams = Type.Object({ client_id: Type.String({ pattern: CLIENT_ID_PATTERN.source }) })
const ChatParams = Type.Object({ room_id: Type.String({ pattern: ROOM_PATTERN.source }) })
const ChatQuery = Type.Object({ client_id: Type.Optional(Type.String({ pattern: CLIENT_ID_PATTERN.source })), token: Type.Optional(Type.String({ maxLength: 4096 })) })
const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 4096 })) })

/**
 * WebSockets: /ws/{client_id} and /ws/chat/{room_id}. Authenticated at the handshake (token in the
 * query, a Bearer header or an API key), re-checked every few seconds so a deactivated or signed-out
 * user is dropped, rate limited per connection, and fanned out across instances by the hub.
 */
const realtimeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app
  const sessions = new Map<WebSocket, SocketSession>()
  const hub = createRealtimeHub({
    cache: app.cache,
    onSlowConsumer: (connection) => {
      app.log.warn({ client_id: connection.identity.client_id }, 'dropping slow websocket consumer')
      connection.socket.terminate()
    },
    onSent: () => app.metrics.wsMessages.inc({ direction: 'out' }),
    onPublishError: (error) => app.log.warn({ err: { message: error instanceof Error ? error.message : String(error) } }, 'realtime fan-out to other instances failed'),
  })
  app.metrics.observeRealtime(() => {
    const stats = hub.stats()
    return { connections: stats.connections, rooms: stats.rooms.length }
  })
  await hub.start()
  app.addHook('onClose', () => hub.stop())

  /**
   * A client id belongs to the user who first connected with it, for as long as they stay connected:
   * otherwise anyone could connect as "alice-phone" and read the personal messages meant for it.
   */
  const clientIdKey = (clientId: string) => `ws:client:${clientId}`
  const ownerOf = (user: Principal | null) => (user ? `user:${user.id}` : 'anonymous')
  const CLIENT_ID_TTL_SECONDS = 24 * 60 * 60

  const authenticateHandshake = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.headers['x-api-key'] && (await app.apiKeyFailuresExceeded(request.ip))) {
      reply.header('retry-after', '60')
      throw new Errors.TooManyRequests('Too many invalid API keys from this address; try again later')
    }
    // A bound on open sockets keeps a flood of handshakes from exhausting memory and file handles.
    if (sessions.size >= config.wsMaxConnections) {
      reply.header('retry-after', '5')
      throw new Errors.ServiceUnavailable('Too many open connections; retry shortly')
    }
    const query = request.query as { token?: string; client_id?: string }
    const resolved = await app.resolveCredentials(request, query.token)
    if (resolved) {
      request.wsIdentity = resolved
    } else {
      const presented = Boolean(query.token || request.headers.authorization || request.headers['x-api-key'])
      // Bad credentials are refused even when anonymous clients are allowed: a wrong token is a bug or an attack.
      if (presented || config.wsRequireAuth) {
        if (request.headers['x-api-key']) await app.countAuthFailure('api_key', request.ip)
        throw new Errors.InvalidToken()
      }
      request.wsIdentity = { user: null, auth: null }
    }
    const clientId = (request.params as { client_id?: string }).client_id ?? query.client_id
    if (clientId) {
      const owner = await app.cache.get<string>(clientIdKey(clientId)).catch(() => undefined)
      if (owner !== undefined && owner !== ownerOf(request.wsIdentity.user)) {
        throw new Errors.Conflict('This client_id is in use by another user; pick another')
      }
    }
  }

  const identityOf = (clientId: string, user: Principal | null): Identity => ({
    client_id: clientId,
    user_id: user?.id ?? null,
    username: user?.username ?? 'anonymous',
    role: user?.role ?? null,
  })

  const sendError = (session: SocketSession, detail: string) => hub.send(session.connection, { type: 'error', detail })

  /** Fixed one-second window; twice the allowed rate means the client ignores the error frames. */
  const overRate = (session: SocketSession): 'ok' | 'warn' | 'close' => {
    const now = Date.now()
    if (now - session.windowStart >= 1000) {
      session.windowStart = now
      session.windowCount = 0
    }
    session.windowCount += 1
    if (session.windowCount <= config.wsMessagesPerSecond) return 'ok'
    return session.windowCount > config.wsMessagesPerSecond * 2 ? 'close' : 'warn'
  }

  const WRITES = new Set<ClientFrame['type']>(['room_message', 'personal_message', 'broadcast'])

  const handleFrame = async (session: SocketSession, frame: ClientFrame) => {
    const { connection } = session
    const sender = connection.identity
    if (WRITES.has(frame.type) && session.auth && !session.auth.scopes.includes('write')) {
      return sendError(session, 'This API key is read-only; it cannot send messages')
    }
    switch (frame.type) {
      case 'ping':
        hub.send(connection, { type: 'pong' })
        return
      case 'join_room':
        if (!connection.rooms.has(frame.room) && connection.rooms.size >= MAX_ROOMS_PER_CONNECTION) {
          return sendError(session, `at most ${MAX_ROOMS_PER_CONNECTION} rooms per connection`)
        }
        return hub.join(connection, frame.room)
      case 'leave_room':
        if (!(await hub.leave(connection, frame.room))) return sendError(session, `not a member of room "${frame.room}"`)
        hub.send(connection, { type: 'room_left', room: frame.room })
        return
      case 'room_message':
        if (!hub.isMember(connection, frame.room)) return sendError(session, `join room "${frame.room}" before sending to it`)
        return hub.roomMessage(sender, frame.room, frame.content)
      case 'personal_message':
        return hub.personalMessage(sender, frame.to, frame.content)
      case 'broadcast':
        if (!session.user || !hasPermission(session.user.role, 'realtime:broadcast')) return sendError(session, 'broadcast needs the admin role')
        return hub.broadcast(sender, frame.content)
    }
  }

  const open = (socket: WebSocket, request: FastifyRequest, clientId: string, chatRoom: string | undefined) => {
    // Handshakes racing past the check above are caught here, once they are real sockets.
    if (sessions.size >= config.wsMaxConnections) return socket.close(CLOSE_TRY_AGAIN_LATER, 'too many open connections')
    const identity = request.wsIdentity ?? { user: null, auth: null }
    const connection = hub.add(socket, identityOf(clientId, identity.user))
    const session: SocketSession = { connection, user: identity.user, auth: identity.auth, alive: true, windowStart: Date.now(), windowCount: 0 }
    sessions.set(socket, session)

    socket.on('pong', () => {
      session.alive = true
    })
    socket.on('message', (data, isBinary) => {
      app.metrics.wsMessages.inc({ direction: 'in' })
      const rate = overRate(session)
      if (rate === 'close') return socket.close(CLOSE_POLICY, 'message rate exceeded')
      if (rate === 'warn') return sendError(session, `too many messages: at most ${config.wsMessagesPerSecond} per second`)
      let frame: ClientFrame
      try {
        frame = parseFrame(data, isBinary, chatRoom)
      } catch (error) {
        if (error instanceof ProtocolError) return sendError(session, error.message)
        throw error
      }
      handleFrame(session, frame).catch((error: unknown) => {
        request.log.error({ err: error }, 'websocket frame failed')
        sendError(session, 'could not process the message; try again')
      })
    })
    app.cache.set(clientIdKey(clientId), ownerOf(identity.user), CLIENT_ID_TTL_SECONDS).catch(() => {})
    socket.on('close', () => {
      sessions.delete(socket)
      if (![...sessions.values()].some((other) => other.connection.identity.client_id === clientId)) {
        app.cache.delete(clientIdKey(clientId)).catch(() => {})
      }
      hub.remove(connection).catch((error: unknown) => request.log.warn({ err: error }, 'websocket cleanup failed'))
    })

    const user = identity.user
    hub.send(connection, {
      type: 'connected',
      client_id: clientId,
      user: user ? { id: user.id, username: user.username, role: user.role } : null,
    })
    if (chatRoom) hub.join(connection, chatRoom).catch((error: unknown) => request.log.warn({ err: error }, 'websocket join failed'))
  }

  app.get(
    '/ws/:client_id',
    { websocket: true, config: { access: 'handshake' }, schema: { hide: true, params: ClientIdParams, querystring: TokenQuery }, preValidation: authenticateHandshake },
    (socket, request) => open(socket, request, request.params.client_id, undefined),
  )

  app.get(
    '/ws/chat/:room_id',
    { websocket: true, config: { access: 'handshake' }, schema: { hide: true, params: ChatParams, querystring: ChatQuery }, preValidation: authenticateHandshake },
    (socket, request) => open(socket, request, request.query.client_id ?? `client-${randomUUID().slice(0, 8)}`, request.params.room_id),
  )

  // Dead peers (no pong since the last ping) are dropped; a frozen laptop should not hold a room seat.
  const heartbeat = setInterval(() => {
    for (const [socket, session] of sessions) {
      if (!session.alive) {
        socket.terminate()
        continue
      }
      session.alive = false
      socket.ping()
    }
  }, HEARTBEAT_MS)
  heartbeat.unref()

  // Finished checks are counted so tests (and operators) can see one has run, instead of guessing a delay.
  const sessionChecks = new Counter({ name: 'ws_session_checks_total', help: 'Completed re-checks of open WebSockets\' sessions', registers: [app.metrics.registry] })
  let checkRunning = false

  // Sessions are re-checked, so logout-all, deactivation, deletion and expiry close the socket quickly.
  const sessionCheck = setInterval(() => {
    // With a slow database, checks would pile up; the next tick picks up whatever this one missed.
    if (checkRunning) return
    checkRunning = true
    void (async () => {
      const nowSeconds = app.now().getTime() / 1000
      const principals = new Map<number, Promise<Principal | undefined>>()
      // Sockets that open while this check awaits the database are checked next time, not now.
      const checking = [...sessions]
      const keyIds = checking.flatMap(([, session]) => (session.auth?.apiKeyId === undefined ? [] : [session.auth.apiKeyId]))
      // When the database is away, keep sockets open rather than closing everyone's on a blip.
      const validKeys = await app.apiKeys.stillValid([...new Set(keyIds)]).catch(() => new Set(keyIds))
      for (const [socket, session] of checking) {
        if (!session.user) continue
        const expired = session.auth?.expiresAt !== undefined && session.auth.expiresAt <= nowSeconds
        const userId = session.user.id
        if (!principals.has(userId)) principals.set(userId, app.loadPrincipal(userId).catch(() => session.user ?? undefined))
        const current = await principals.get(userId)!
        const revoked =
          !current?.isActive ||
          (session.auth?.method === 'jwt' && current.tokenVersion !== session.user.tokenVersion) ||
          (session.auth?.sessionId !== undefined && current.endedSessions?.includes(session.auth.sessionId) === true) ||
          (session.auth?.apiKeyId !== undefined && !validKeys.has(session.auth.apiKeyId))
        if (expired || revoked) socket.close(CLOSE_UNAUTHORIZED, expired ? 'token expired' : 'session ended')
        else session.user = { ...current, tokenVersion: session.user.tokenVersion }
      }
    })()
      .catch((error: unknown) => app.log.warn({ err: error }, 'websocket session check failed'))
      .finally(() => {
        checkRunning = false
        sessionChecks.inc()
      })
  }, config.wsSessionCheckIntervalMs)
  sessionCheck.unref()
  app.addHook('onClose', async () => {
    clearInterval(heartbeat)
    clearInterval(sessionCheck)
  })

  // Admins and up: the same people who may broadcast over a socket (docs/ROLES.md).
  const adminOnly = { config: { access: 'session-or-key', permission: 'realtime:broadcast' } } as const

  app.get(
    '/api/v1/ws/stats',
    {
      ...adminOnly,
      schema: {
        operationId: 'getRealtimeStats',
        tags: ['realtime'],
        summary: 'WebSocket connections and rooms (admin)',
        response: {
          200: Type.Object({
            instance_id: Type.String(),
            connections: Type.Integer(),
            rooms: Type.Array(Type.Object({ room: Type.String(), members: Type.Integer() })),
            messages_out: Type.Integer(),
          }),
          422: ErrorDetail,
        },
      },
    },
    async () => {
      const stats = hub.stats()
      return { instance_id: hub.instanceId, connections: stats.connections, rooms: stats.rooms, messages_out: hub.messagesOut }
    },
  )

  app.post(
    '/api/v1/ws/broadcast',
    {
      ...adminOnly,
      schema: {
        operationId: 'broadcastMessage',
        tags: ['realtime'],
        summary: 'Push a system message to every client, or to one room (admin)',
        body: Type.Object({
          content: Type.String({ minLength: 1, maxLength: MAX_CONTENT_BYTES }),
          room: Type.Optional(Type.String({ pattern: ROOM_PATTERN.source })),
        }),
        response: { 202: Type.Object({ detail: Type.String() }), 422: ErrorDetail },
      },
    },
    async (request, reply) => {
      const { content, room } = request.body
      await hub.broadcast({ username: request.user.username, system: true }, content, room)
      return reply.code(202).send({ detail: room ? `Broadcast sent to room ${room}` : 'Broadcast sent' })
    },
  )
}

export default realtimeRoutes
