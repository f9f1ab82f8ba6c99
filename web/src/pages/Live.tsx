import { useEffect, useReducer, useRef, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { accessToken, onSessionChange, refresh } from '../api/session.js'
import { roleAtLeast } from '../api/types.js'
import { ErrorAlert, Notice } from '../components/Alert.js'
import { SelectField, TextField } from '../components/fields.js'
import { useCurrentUser } from '../current-user.js'
import { formatTime } from '../format.js'
import { useAction } from '../hooks/use-action.js'
import { EMPTY_CHAT, chatReducer, people } from '../live/chat-state.js'
import { ROOM_PATTERN } from '../live/protocol.js'
import { LiveSocket, type ConnectionState } from '../live/socket.js'

/** One id per tab and account, kept across reconnects so the others see the same member come back. */
function clientIdFor(username: string): string {
  const key = `carbelsad.client.${username}`
  let id = sessionStorage.getItem(key)
  if (!id) {
    id = `${username}-${Math.random().toString(36).slice(2, 8)}`
    sessionStorage.setItem(key, id)
  }
  return id
}

function describe(state: ConnectionState): string {
  switch (state.kind) {
    case 'connecting':
      return 'Connecting…'
    case 'open':
      return `Connected as ${state.clientId}`
    case 'waiting':
      return `Disconnected (${state.reason}). Retrying in ${Math.ceil(state.retryInMs / 1000)} s…`
    case 'closed':
      return 'Not connected. Join a room to start.'
  }
}

export function LivePage() {
  const { user } = useCurrentUser()
  const [chat, dispatch] = useReducer(chatReducer, EMPTY_CHAT)
  const [connection, setConnection] = useState<ConnectionState>({ kind: 'closed' })
  const [roomName, setRoomName] = useState('lobby')
  const [roomError, setRoomError] = useState('')
  const [message, setMessage] = useState('')
  const socketRef = useRef<LiveSocket | null>(null)
  /** The rooms the user asked for; rejoined after every reconnect. */
  const wanted = useRef<string[]>([])
  const logRef = useRef<HTMLDivElement>(null)

  useEffect(() => {
    // Back from the sign-in dialog: reconnect now rather than at the end of the backoff.
    const stopWatching = onSessionChange((state) => {
      if (state === 'signed-in') socketRef.current?.reconnectNow()
    })
    return () => {
      stopWatching()
      socketRef.current?.stop()
    }
  }, [])

  const active = chat.active ? chat.rooms[chat.active] : undefined
  const entryCount = active?.entries.length ?? 0
  useEffect(() => {
    const log = logRef.current
    if (log) log.scrollTop = log.scrollHeight
  }, [entryCount, chat.active])

  if (!user) return null

  const ensureSocket = () => {
    if (socketRef.current) return socketRef.current
    const clientId = clientIdFor(user.username)
    const socket = new LiveSocket({
      url: (token) => {
        const [first] = wanted.current
        if (!first) return null
        const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws'
        const query = new URLSearchParams({ client_id: clientId, token })
        return `${scheme}://${window.location.host}/ws/chat/${encodeURIComponent(first)}?${query}`
      },
      token: (forceRefresh) => (forceRefresh ? refresh() : accessToken()),
      onFrame: (frame) => {
        // The URL joins the first room; the others are joined again by frame after each (re)connect.
        if (frame.type === 'connected') for (const room of wanted.current.slice(1)) socket.send({ type: 'join_room', room })
        dispatch({ type: 'frame', frame })
      },
      onState: setConnection,
    })
    socketRef.current = socket
    socket.start()
    return socket
  }

  const join = (event: Event) => {
    event.preventDefault()
    const room = roomName.trim()
    if (!ROOM_PATTERN.test(room)) {
      setRoomError('Use 1–64 letters, digits or _ . : -')
      return
    }
    setRoomError('')
    if (wanted.current.includes(room)) {
      dispatch({ type: 'activate', room })
      return
    }
    wanted.current = [...wanted.current, room]
    const existing = socketRef.current
    if (existing) existing.send({ type: 'join_room', room })
    else ensureSocket()
  }

  const leave = (room: string) => {
    wanted.current = wanted.current.filter((name) => name !== room)
    if (wanted.current.length === 0) {
      // Nothing left to listen to: close rather than keep an idle socket.
      socketRef.current?.stop()
      socketRef.current = null
      dispatch({ type: 'forget', room })
      return
    }
    socketRef.current?.send({ type: 'leave_room', room })
  }

  const send = (event: Event) => {
    event.preventDefault()
    const content = message.trim()
    if (!content || !chat.active) return
    const sent = socketRef.current?.send({ type: 'room_message', room: chat.active, content }) ?? false
    if (sent) setMessage('')
    else dispatch({ type: 'local', kind: 'error', text: 'Not connected: your message was not sent. It is still in the box; send it again once connected.' })
  }

  const rooms = Object.keys(chat.rooms)

  return (
    <div class="page live">
      <div class="page-head">
        <h1>Live</h1>
        <p class={`connection connection-${connection.kind}`} role="status" data-testid="connection">
          {describe(connection)}
        </p>
      </div>
      <div class="live-grid">
        <section class="card rooms" aria-labelledby="rooms-title">
          <h2 id="rooms-title">Rooms</h2>
          <form class="stack" onSubmit={join} noValidate>
            <TextField label="Room name" name="room" value={roomName} onValue={setRoomName} error={roomError} autoComplete="off" spellcheck={false} />
            <button type="submit" class="button-primary">
              Join
            </button>
          </form>
          {rooms.length > 0 ? (
            <ul class="room-list" aria-label="Joined rooms">
              {rooms.map((room) => (
                <li key={room} class={room === chat.active ? 'current' : ''}>
                  <button type="button" class="button-link" aria-current={room === chat.active ? 'true' : undefined} onClick={() => dispatch({ type: 'activate', room })}>
                    #{room}
                    {chat.rooms[room]?.unread ? <span class="badge">{chat.rooms[room]?.unread} new</span> : null}
                  </button>
                  <button type="button" class="button-quiet" onClick={() => leave(room)} aria-label={`Leave ${room}`}>
                    Leave
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
        </section>

        <section class="card chat" aria-labelledby="chat-title">
          <h2 id="chat-title">{chat.active ? `#${chat.active}` : 'No room yet'}</h2>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling log must take keyboard focus to be scrolled without a mouse (WCAG 2.1.1) */}
          <div class="log" ref={logRef} role="log" aria-live="polite" aria-label={chat.active ? `Messages in ${chat.active}` : 'Messages'} tabIndex={0}>
            <ol>
            {active?.entries.map((entry) => (
              <li key={entry.id} class={`entry entry-${entry.kind}${entry.mine ? ' mine' : ''}`}>
                <time dateTime={entry.time}>{formatTime(entry.time)}</time>
                {entry.author ? <strong class="author">{entry.kind === 'personal' ? `${entry.author} (to you)` : entry.author}</strong> : null}
                <span class="text">{entry.text}</span>
              </li>
            ))}
            </ol>
          </div>
          <form class="composer" onSubmit={send} noValidate>
            <label for="chat-message" class="visually-hidden">
              Message
            </label>
            <input id="chat-message" name="message" value={message} onInput={(event) => setMessage(event.currentTarget.value)} placeholder={chat.active ? `Message #${chat.active}` : 'Join a room first'} disabled={!chat.active} maxLength={4000} autoComplete="off" />
            <button type="submit" class="button-primary" disabled={!chat.active || !message.trim()}>
              Send
            </button>
          </form>
        </section>

        <section class="card members" aria-labelledby="members-title">
          <h2 id="members-title">In this room</h2>
          {active ? (
            <ul class="member-list" data-testid="members">
              {people(active.members).map((person) => (
                <li key={person.username}>
                  <span class="dot" aria-hidden="true" />
                  {person.username}
                  {person.username === user.username ? ' (you)' : ''}
                  {person.connections > 1 ? <span class="muted"> · {person.connections} connections</span> : null}
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">Nobody yet.</p>
          )}
        </section>
      </div>
      {roleAtLeast(user.role, 'admin') ? <BroadcastForm rooms={rooms} active={chat.active} /> : null}
    </div>
  )
}

function BroadcastForm({ rooms, active }: { rooms: string[]; active: string | null }) {
  const [content, setContent] = useState('')
  const [target, setTarget] = useState('')
  const [sent, setSent] = useState('')
  const action = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    setSent('')
    const answer = await action.run(() => attempt(api.POST('/api/v1/ws/broadcast', { body: { content: content.trim(), ...(target ? { room: target } : {}) } })))
    if (!answer) return
    setContent('')
    setSent(answer.detail)
  }

  return (
    <section class="card" aria-labelledby="broadcast-title">
      <h2 id="broadcast-title">Broadcast (admin)</h2>
      <form class="stack" onSubmit={submit} noValidate>
        <ErrorAlert problem={action.problem} />
        <Notice>{sent}</Notice>
        <div class="grid-2">
          <TextField label="Announcement" name="content" value={content} onValue={setContent} required maxLength={4096} error={action.fieldError('content')} />
          <SelectField
            label="Send to"
            name="room"
            value={target}
            onValue={setTarget}
            options={[{ value: '', label: 'Everyone connected' }, ...(active ? [{ value: active, label: `Room #${active}` }] : []), ...rooms.filter((room) => room !== active).map((room) => ({ value: room, label: `Room #${room}` }))]}
            error={action.fieldError('room')}
          />
        </div>
        <div class="row">
          <button type="submit" class="button-primary" disabled={action.busy || !content.trim()}>
            Send broadcast
          </button>
        </div>
      </form>
    </section>
  )
}
