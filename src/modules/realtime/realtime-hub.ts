import { randomUUID } from 'node:crypto'
import type { WebSocket } from 'ws'
import type { Cache } from '../../cache/cache.js'

/** Who is on the other end of a socket, as other clients may see it. */
export interface Identity {
  client_id: string
  user_id: number | null
  username: string
  role: string | null
}

export interface Connection {
  readonly id: string
  readonly socket: WebSocket
  readonly identity: Identity
  readonly rooms: Set<string>
}

interface Member {
  client_id: string
  username: string
}

/** What instances tell each other over pub/sub; every delivery, local ones included, goes through it. */
type Envelope =
  | { kind: 'room'; room: string; frame: Record<string, unknown>; origin: string }
  | { kind: 'personal'; to: string; frame: Record<string, unknown>; origin: string }
  | { kind: 'broadcast'; frame: Record<string, unknown>; origin: string }
  | { kind: 'presence'; room: string; member: Member; joined: boolean; origin: string }

const CHANNEL = 'realtime'
/** A client that lets this much pile up unread is dropped, so it never slows anyone else. */
export const MAX_BUFFERED_BYTES = 1024 * 1024

export interface HubStats {
  connections: number
  rooms: { room: string; members: number }[]
}

/**
 * Rooms, presence and fan-out for the sockets of this instance. With Redis every message crosses to
 * the other instances through pub/sub, so members of one room on different instances see each other.
 */
export interface RealtimeHubOptions {
  cache: Cache
  onSlowConsumer?: (connection: Connection) => void
  onSent?: () => void
  onPublishError?: (error: unknown) => void
}

export function createRealtimeHub(options: RealtimeHubOptions) {
  const instanceId = randomUUID()
  const connections = new Set<Connection>()
  const byClientId = new Map<string, Set<Connection>>()
  const localRooms = new Map<string, Set<Connection>>()
  /** Members of each room connected to other instances, learnt from their presence messages. */
  const remoteMembers = new Map<string, Map<string, Member>>()
  let messagesOut = 0
  let unsubscribe: (() => Promise<void>) | undefined

  const send = (connection: Connection, frame: Record<string, unknown> | string) => {
    const socket = connection.socket
    if (socket.readyState !== socket.OPEN) return
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      options.onSlowConsumer?.(connection)
      return
    }
    socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
    messagesOut += 1
    options.onSent?.()
  }

  const deliverToRoom = (room: string, frame: Record<string, unknown>, exceptClientId?: string) => {
    const members = localRooms.get(room)
    if (!members) return
    // Serialise once for the whole room: with a thousand members this is most of the work.
    const payload = JSON.stringify(frame)
    for (const connection of members) {
      if (connection.identity.client_id !== exceptClientId) send(connection, payload)
    }
  }

  const deliver = (envelope: Envelope) => {
    switch (envelope.kind) {
      case 'room':
        deliverToRoom(envelope.room, envelope.frame)
        break
      case 'personal':
        for (const connection of byClientId.get(envelope.to) ?? []) send(connection, envelope.frame)
        break
      case 'broadcast': {
        const payload = JSON.stringify(envelope.frame)
        for (const connection of connections) send(connection, payload)
        break
      }
      case 'presence': {
        if (envelope.origin !== instanceId) {
          const members = remoteMembers.get(envelope.room) ?? new Map<string, Member>()
          if (envelope.joined) members.set(envelope.member.client_id, envelope.member)
          else members.delete(envelope.member.client_id)
          if (members.size > 0) remoteMembers.set(envelope.room, members)
          else remoteMembers.delete(envelope.room)
        }
        deliverToRoom(envelope.room, {
          type: envelope.joined ? 'user_joined' : 'user_left',
          room: envelope.room,
          client_id: envelope.member.client_id,
          username: envelope.member.username,
        }, envelope.member.client_id)
        break
      }
    }
  }

  /** Envelopes from other instances; this instance's own were delivered when sent. */
  const onEnvelope = (message: unknown) => {
    const envelope = message as Envelope
    if (envelope.origin !== instanceId) deliver(envelope)
  }

  /**
   * Delivers to this instance's sockets at once, then tells the others. A Redis outage therefore
   * only cuts traffic between instances; clients on one instance keep talking.
   */
  const publish = async (envelope: Envelope) => {
    deliver(envelope)
    await options.cache.publish(CHANNEL, envelope).catch((error: unknown) => options.onPublishError?.(error))
  }

  const membersOf = (room: string): Member[] => {
    const seen = new Map<string, Member>()
    for (const connection of localRooms.get(room) ?? []) {
      seen.set(connection.identity.client_id, { client_id: connection.identity.client_id, username: connection.identity.username })
    }
    for (const [clientId, member] of remoteMembers.get(room) ?? []) seen.set(clientId, member)
    return [...seen.values()]
  }

  const announce = (connection: Connection, room: string, joined: boolean) =>
    publish({
      kind: 'presence',
      room,
      joined,
      member: { client_id: connection.identity.client_id, username: connection.identity.username },
      origin: instanceId,
    })

  const stamp = (frame: Record<string, unknown>) => ({ ...frame, timestamp: new Date().toISOString(), id: randomUUID() })

  return {
    instanceId,
    async start() {
      unsubscribe = await options.cache.subscribe(CHANNEL, onEnvelope)
    },
    async stop() {
      await unsubscribe?.()
    },
    connections: () => connections,
    get messagesOut() {
      return messagesOut
    },
    send,

    add(socket: WebSocket, identity: Identity): Connection {
      const connection: Connection = { id: randomUUID(), socket, identity, rooms: new Set() }
      connections.add(connection)
      const sameClient = byClientId.get(identity.client_id) ?? new Set()
      sameClient.add(connection)
      byClientId.set(identity.client_id, sameClient)
      return connection
    },

    async remove(connection: Connection) {
      if (!connections.delete(connection)) return
      byClientId.get(connection.identity.client_id)?.delete(connection)
      if (byClientId.get(connection.identity.client_id)?.size === 0) byClientId.delete(connection.identity.client_id)
      await Promise.all([...connection.rooms].map((room) => this.leave(connection, room)))
    },

    isMember: (connection: Connection, room: string) => connection.rooms.has(room),

    async join(connection: Connection, room: string) {
      if (connection.rooms.has(room)) {
        send(connection, { type: 'room_joined', room, members: membersOf(room) })
        return
      }
      connection.rooms.add(room)
      const members = localRooms.get(room) ?? new Set()
      members.add(connection)
      localRooms.set(room, members)
      send(connection, { type: 'room_joined', room, members: membersOf(room) })
      await announce(connection, room, true)
    },

    async leave(connection: Connection, room: string) {
      if (!connection.rooms.delete(room)) return false
      const members = localRooms.get(room)
      members?.delete(connection)
      if (members?.size === 0) localRooms.delete(room)
      await announce(connection, room, false)
      return true
    },

    async roomMessage(sender: Identity, room: string, content: string) {
      await publish({ kind: 'room', room, frame: stamp({ type: 'room_message', room, content, sender }), origin: instanceId })
    },

    async personalMessage(sender: Identity, to: string, content: string) {
      const frame = stamp({ type: 'personal_message', to, content, sender })
      await publish({ kind: 'personal', to, frame, origin: instanceId })
    },

    /** To everyone, or to one room when `room` is given. */
    async broadcast(sender: Identity | { username: string; system: true }, content: string, room?: string) {
      const frame = stamp({ type: 'broadcast', content, sender, ...(room ? { room } : {}) })
      if (room) await publish({ kind: 'room', room, frame, origin: instanceId })
      else await publish({ kind: 'broadcast', frame, origin: instanceId })
    },

    stats(): HubStats {
      const rooms = new Set([...localRooms.keys(), ...remoteMembers.keys()])
      return {
        connections: connections.size,
        rooms: [...rooms].sort().map((room) => ({ room, members: membersOf(room).length })),
      }
    },
  }
}

export type RealtimeHub = ReturnType<typeof createRealtimeHub>
