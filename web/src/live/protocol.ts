/** The frames of docs/WEBSOCKETS.md, as the console reads and writes them. */

export interface Member {
  client_id: string
  username: string
}

export type Sender = { client_id: string; user_id: number | null; username: string; role: string | null } | { username: string; system: true }

export type ServerFrame =
  | { type: 'connected'; client_id: string; user: { id: number; username: string; role: string } | null }
  | { type: 'room_joined'; room: string; members: Member[] }
  | { type: 'room_left'; room: string }
  | { type: 'user_joined'; room: string; client_id: string; username: string }
  | { type: 'user_left'; room: string; client_id: string; username: string }
  | { type: 'room_message'; room: string; content: string; sender: Sender; timestamp: string; id: string }
  | { type: 'personal_message'; to: string; content: string; sender: Sender; timestamp: string; id: string }
  | { type: 'broadcast'; content: string; sender: Sender; timestamp: string; id: string; room?: string }
  | { type: 'error'; detail: string }
  | { type: 'pong' }

export type ClientFrame =
  | { type: 'join_room'; room: string }
  | { type: 'leave_room'; room: string }
  | { type: 'room_message'; room: string; content: string }
  | { type: 'personal_message'; to: string; content: string }
  | { type: 'ping' }

/** Same rule as the server's ROOM_PATTERN, checked before joining so the user gets a clear message. */
export const ROOM_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/

/** Close codes the server uses (src/modules/realtime/realtime-routes.ts). */
export const CLOSE_UNAUTHORIZED = 4401

/** Frames come from our own server, but a frame we cannot read is dropped rather than trusted. */
export function parseFrame(data: unknown): ServerFrame | null {
  if (typeof data !== 'string') return null
  try {
    const frame = JSON.parse(data) as { type?: unknown }
    return frame !== null && typeof frame === 'object' && typeof frame.type === 'string' ? (frame as ServerFrame) : null
  } catch {
    return null
  }
}

export function senderName(sender: Sender): string {
  return 'system' in sender ? `${sender.username} (system)` : sender.username
}
