import { CLOSE_UNAUTHORIZED, parseFrame, type ClientFrame, type ServerFrame } from './protocol.js'

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'open'; clientId: string }
  | { kind: 'waiting'; retryInMs: number; reason: string }
  | { kind: 'closed' }

export interface LiveSocketOptions {
  /** Builds the URL for the next attempt (the rooms or token may have changed since the last one). */
  url(token: string): string | null
  /** A current access token; `forceRefresh` after the server said the last one was refused. */
  token(forceRefresh: boolean): Promise<string | null>
  onFrame(frame: ServerFrame): void
  onState(state: ConnectionState): void
}

const BASE_DELAY_MS = 1_000
const MAX_DELAY_MS = 30_000

/**
 * A WebSocket that reconnects by itself with exponential backoff and jitter (so a restarted server
 * is not hit by every client in the same second), and gets a fresh token when the old one is refused.
 */
export class LiveSocket {
  private socket: WebSocket | null = null
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false
  private refreshNext = false
  private waiting = false

  constructor(private readonly options: LiveSocketOptions) {}

  start() {
    this.stopped = false
    void this.connect()
  }

  /** Ends the connection for good (page left, signed out); no reconnect follows. */
  stop() {
    this.stopped = true
    clearTimeout(this.timer)
    this.socket?.close(1000, 'bye')
    this.socket = null
    this.options.onState({ kind: 'closed' })
  }

  /** Skips the rest of a backoff wait, e.g. once the user has signed in again. */
  reconnectNow() {
    if (!this.waiting || this.stopped) return
    clearTimeout(this.timer)
    this.attempt = 0
    void this.connect()
  }

  /** False when not connected: the caller tells the user instead of losing the message silently. */
  send(frame: ClientFrame): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false
    this.socket.send(JSON.stringify(frame))
    return true
  }

  private async connect() {
    this.waiting = false
    if (this.stopped) return
    this.options.onState({ kind: 'connecting' })
    const token = await this.options.token(this.refreshNext).catch(() => null)
    this.refreshNext = false
    const url = token ? this.options.url(token) : null
    if (this.stopped) return
    if (!url) {
      this.retry('signed out; waiting for you to sign in again')
      return
    }

    const socket = new WebSocket(url)
    this.socket = socket
    let opened = false
    socket.addEventListener('open', () => {
      opened = true
    })
    socket.addEventListener('message', (event) => {
      const frame = parseFrame(event.data)
      if (!frame) return
      if (frame.type === 'connected') {
        this.attempt = 0
        this.options.onState({ kind: 'open', clientId: frame.client_id })
      }
      this.options.onFrame(frame)
    })
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket || this.stopped) return
      this.socket = null
      // A browser cannot see why a handshake failed; an expired token is the likely cause, so refresh once.
      if (event.code === CLOSE_UNAUTHORIZED || !opened) this.refreshNext = true
      const reason = event.code === CLOSE_UNAUTHORIZED ? event.reason || 'session ended' : opened ? `connection lost (${event.code})` : 'could not connect'
      this.retry(reason)
    })
  }

  private retry(reason: string) {
    if (this.stopped) return
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt)
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
    this.attempt += 1
    this.waiting = true
    this.options.onState({ kind: 'waiting', retryInMs: delay, reason })
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.connect(), delay)
  }
}
