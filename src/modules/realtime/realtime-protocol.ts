import type { RawData } from 'ws'

export const ROOM_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/
export const MAX_CONTENT_BYTES = 4096
export const MAX_ROOMS_PER_CONNECTION = 50

/** A client frame after validation; anything else is answered with an error frame. */
export type ClientFrame =
  | { type: 'join_room'; room: string }
  | { type: 'leave_room'; room: string }
  | { type: 'room_message'; room: string; content: string }
  | { type: 'personal_message'; to: string; content: string }
  | { type: 'broadcast'; content: string }
  | { type: 'ping' }

export class ProtocolError extends Error {}

function field(frame: Record<string, unknown>, name: string): string {
  const value = frame[name]
  if (typeof value !== 'string') throw new ProtocolError(`"${name}" must be a string`)
  return value
}

function room(frame: Record<string, unknown>): string {
  const value = field(frame, 'room')
  if (!ROOM_PATTERN.test(value)) throw new ProtocolError('room must be 1-64 characters of A-Z a-z 0-9 _ . : -')
  return value
}

function content(frame: Record<string, unknown>): string {
  const value = field(frame, 'content')
  if (value.length === 0) throw new ProtocolError('content must not be empty')
  if (Buffer.byteLength(value, 'utf8') > MAX_CONTENT_BYTES) throw new ProtocolError(`content must be at most ${MAX_CONTENT_BYTES} bytes`)
  return value
}

/**
 * Parses one text frame. `chatRoom` is set on /ws/chat/{room_id}, where a bare `{"content"}` or
 * `{"type":"message"}` frame means "say this in my room".
 */
export function parseFrame(data: RawData, isBinary: boolean, chatRoom: string | undefined): ClientFrame {
  if (isBinary) throw new ProtocolError('binary frames are not supported; send JSON text')
  let parsed: unknown
  try {
    parsed = JSON.parse(data.toString())
  } catch {
    throw new ProtocolError('invalid JSON')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ProtocolError('a frame must be a JSON object')
  const frame = parsed as Record<string, unknown>
  const type = frame.type
  if (chatRoom !== undefined && (type === undefined || type === 'message')) {
    return { type: 'room_message', room: chatRoom, content: content(frame) }
  }
  switch (type) {
    case 'join_room':
      return { type, room: room(frame) }
    case 'leave_room':
      return { type, room: room(frame) }
    case 'room_message':
      return { type, room: room(frame), content: content(frame) }
    case 'personal_message': {
      const to = field(frame, 'to')
      if (!CLIENT_ID_PATTERN.test(to)) throw new ProtocolError('"to" must be a client id')
      return { type, to, content: content(frame) }
    }
    case 'broadcast':
      return { type, content: content(frame) }
    case 'ping':
      return { type }
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 40) : type)}`)
  }
}
