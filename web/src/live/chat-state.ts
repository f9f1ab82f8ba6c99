import { senderName, type Member, type ServerFrame } from './protocol.js'

/** One line in a room's log. */
export interface Entry {
  id: string
  kind: 'message' | 'notice' | 'broadcast' | 'personal' | 'error'
  text: string
  author?: string
  time: string
  mine?: boolean
}

export interface RoomState {
  members: Member[]
  entries: Entry[]
  unread: number
}

export interface ChatState {
  clientId: string | null
  rooms: Record<string, RoomState>
  active: string | null
}

export const EMPTY_CHAT: ChatState = { clientId: null, rooms: {}, active: null }

const MAX_ENTRIES = 500

let localIds = 0
const localEntry = (kind: Entry['kind'], text: string): Entry => {
  localIds += 1
  return { id: `local-${localIds}`, kind, text, time: new Date().toISOString() }
}

function append(state: ChatState, room: string, entry: Entry): ChatState {
  const current = state.rooms[room]
  if (!current) return state
  const entries = [...current.entries, entry].slice(-MAX_ENTRIES)
  const unread = room === state.active ? 0 : current.unread + (entry.kind === 'message' ? 1 : 0)
  return { ...state, rooms: { ...state.rooms, [room]: { ...current, entries, unread } } }
}

function appendEverywhere(state: ChatState, entry: Entry): ChatState {
  return Object.keys(state.rooms).reduce((next, room) => append(next, room, entry), state)
}

export type ChatAction = { type: 'frame'; frame: ServerFrame } | { type: 'activate'; room: string } | { type: 'forget'; room: string } | { type: 'local'; kind: Entry['kind']; text: string }

/** Folds server frames into rooms, members and log lines. */
export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'activate': {
      const room = state.rooms[action.room]
      if (!room) return state
      return { ...state, active: action.room, rooms: { ...state.rooms, [action.room]: { ...room, unread: 0 } } }
    }
    case 'forget': {
      const { [action.room]: _gone, ...rooms } = state.rooms
      const active = state.active === action.room ? (Object.keys(rooms)[0] ?? null) : state.active
      return { ...state, rooms, active }
    }
    case 'local':
      return state.active ? append(state, state.active, localEntry(action.kind, action.text)) : state
    case 'frame':
      return applyFrame(state, action.frame)
  }
}

function applyFrame(state: ChatState, frame: ServerFrame): ChatState {
  switch (frame.type) {
    case 'connected':
      return { ...state, clientId: frame.client_id }
    case 'room_joined': {
      // Also sent again after a reconnect: the member list is replaced, the log is kept.
      const existing = state.rooms[frame.room]
      const room: RoomState = { members: frame.members, entries: existing?.entries ?? [], unread: existing?.unread ?? 0 }
      const next = { ...state, rooms: { ...state.rooms, [frame.room]: room }, active: state.active ?? frame.room }
      return append(next, frame.room, localEntry('notice', existing ? `Rejoined ${frame.room}` : `You joined ${frame.room}`))
    }
    case 'room_left':
      return chatReducer(state, { type: 'forget', room: frame.room })
    case 'user_joined': {
      const room = state.rooms[frame.room]
      if (!room) return state
      const members = [...room.members.filter((member) => member.client_id !== frame.client_id), { client_id: frame.client_id, username: frame.username }]
      const next = { ...state, rooms: { ...state.rooms, [frame.room]: { ...room, members } } }
      return append(next, frame.room, localEntry('notice', `${frame.username} joined`))
    }
    case 'user_left': {
      const room = state.rooms[frame.room]
      if (!room) return state
      const members = room.members.filter((member) => member.client_id !== frame.client_id)
      const next = { ...state, rooms: { ...state.rooms, [frame.room]: { ...room, members } } }
      return append(next, frame.room, localEntry('notice', `${frame.username} left`))
    }
    case 'room_message': {
      const mine = 'client_id' in frame.sender && frame.sender.client_id === state.clientId
      return append(state, frame.room, { id: frame.id, kind: 'message', text: frame.content, author: senderName(frame.sender), time: frame.timestamp, mine })
    }
    case 'personal_message': {
      const entry: Entry = { id: frame.id, kind: 'personal', text: frame.content, author: senderName(frame.sender), time: frame.timestamp }
      return state.active ? append(state, state.active, entry) : state
    }
    case 'broadcast': {
      const entry: Entry = { id: frame.id, kind: 'broadcast', text: frame.content, author: senderName(frame.sender), time: frame.timestamp }
      return frame.room ? append(state, frame.room, entry) : appendEverywhere(state, entry)
    }
    case 'error':
      return state.active ? append(state, state.active, localEntry('error', frame.detail)) : state
    case 'pong':
      return state
  }
}

/** Members grouped by account: one person with two tabs is listed once. */
export function people(members: readonly Member[]): { username: string; connections: number }[] {
  const counts = new Map<string, number>()
  for (const member of members) counts.set(member.username, (counts.get(member.username) ?? 0) + 1)
  return [...counts].map(([username, connections]) => ({ username, connections })).sort((a, b) => a.username.localeCompare(b.username))
}
