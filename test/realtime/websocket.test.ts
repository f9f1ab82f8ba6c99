import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { App } from '../../src/app.js'
import { signedInUser } from '../helpers/factories.js'
import { sample, scrape } from '../helpers/metrics.js'
import { listen as listenOn } from '../helpers/network.js'
import { itWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'

const context = useTestContext()
const sockets: WebSocket[] = []
afterAll(() => {
  for (const socket of sockets) socket.terminate()
})

const listen = async (app: App) => (await listenOn(app)).ws

/** A signed-in user and the access token its sockets present. */
async function signUp(app: App, role: 'user' | 'admin' = 'user') {
  const user = await signedInUser(app, role)
  return { ...user, token: user.tokens.access_token }
}

/** Session re-checks every 50 ms, so tests wait for a few of them instead of for the 2 s default. */
const FAST_CHECKS = { WS_SESSION_CHECK_INTERVAL_MS: '50' }

const sessionChecksDone = async (app: App) => sample(await scrape(app), 'ws_session_checks_total')

/** Waits until two whole session checks ran after this call: the second surely started after it. */
async function afterTwoSessionChecks(app: App): Promise<void> {
  const before = await sessionChecksDone(app)
  await waitFor(async () => (await sessionChecksDone(app)) >= before + 2, 'two websocket session checks')
}

/** A client that keeps every frame it receives, so tests can wait for one by predicate. */
function connect(url: string, options: WebSocket.ClientOptions = {}) {
  const socket = new WebSocket(url, options)
  sockets.push(socket)
  const frames: Record<string, unknown>[] = []
  const waiters: { predicate: (frame: Record<string, unknown>) => boolean; resolve: (frame: Record<string, unknown>) => void }[] = []
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Record<string, unknown>
    frames.push(frame)
    for (const waiter of [...waiters]) {
      if (waiter.predicate(frame)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(frame)
      }
    }
  })
  const closed = new Promise<{ code: number }>((resolve) => socket.on('close', (code) => resolve({ code })))
  return {
    socket,
    frames,
    closed,
    opened: new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    }),
    send: (frame: unknown) => socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    // Generous: a frame that is due arrives in milliseconds, and a slow machine must not fail the test.
    next(predicate: (frame: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
      const seen = frames.find(predicate)
      if (seen) {
        frames.splice(frames.indexOf(seen), 1)
        return Promise.resolve(seen)
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching frame in time')), timeoutMs)
        waiters.push({
          predicate,
          resolve: (frame) => {
            clearTimeout(timer)
            frames.splice(frames.indexOf(frame), 1)
            resolve(frame)
          },
        })
      })
    },
  }
}

function handshakeStatus(url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options)
    socket.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0)
      socket.terminate()
    })
    socket.on('open', () => {
      socket.terminate()
      resolve(101)
    })
    socket.on('error', (error) => {
      if (!String(error.message).includes('Unexpected server response')) reject(error)
    })
  })
}

const ofType = (type: string) => (frame: Record<string, unknown>) => frame.type === type

describe('websockets', () => {
  it('runs the spec example: connect, join lobby, send, everyone in the room receives it', async () => {
    const app = await context.buildApp()
    const base = await listen(app)
    const alice = await signUp(app)
    const bob = await signUp(app)
    const a = connect(`${base}/ws/alice-client?token=${alice.token}`)
    const b = connect(`${base}/ws/bob-client?token=${bob.token}`)
    await Promise.all([a.opened, b.opened])
    expect(await a.next(ofType('connected'))).toMatchObject({ client_id: 'alice-client', user: { id: alice.id, username: alice.username } })

    a.send({ type: 'join_room', room: 'lobby' })
    expect(await a.next(ofType('room_joined'))).toMatchObject({ room: 'lobby' })
    b.send({ type: 'join_room', room: 'lobby' })
    const joined = await b.next(ofType('room_joined'))
    expect((joined.members as { client_id: string }[]).map((member) => member.client_id).sort()).toEqual(['alice-client', 'bob-client'])
    expect(await a.next(ofType('user_joined'))).toMatchObject({ room: 'lobby', client_id: 'bob-client', username: bob.username })

    a.send({ type: 'room_message', room: 'lobby', content: 'Hello everyone!', sender: { username: 'forged' } })
    const received = await b.next(ofType('room_message'))
    expect(received).toMatchObject({ room: 'lobby', content: 'Hello everyone!', sender: { client_id: 'alice-client', user_id: alice.id, username: alice.username } })
    expect(received.id).toEqual(expect.any(String))
    expect(received.timestamp).toEqual(expect.any(String))
  })

  it('refuses the handshake with 401 without a token, with a bad token and with an expired one', async () => {
    let now = Date.now()
    const app = await context.buildApp({}, { now: () => new Date(now) })
    const base = await listen(app)
    const user = await signUp(app)
    expect(await handshakeStatus(`${base}/ws/anyone`)).toBe(401)
    expect(await handshakeStatus(`${base}/ws/anyone?token=not-a-jwt`)).toBe(401)
    expect(await handshakeStatus(`${base}/ws/anyone`, { headers: { authorization: `Bearer ${user.token}x` } })).toBe(401)
    expect(await handshakeStatus(`${base}/ws/anyone`, { headers: { authorization: `Bearer ${user.token}` } })).toBe(101)
    now += 31 * 60 * 1000
    expect(await handshakeStatus(`${base}/ws/anyone?token=${user.token}`)).toBe(401)
  })

  it('accepts anonymous clients when WS_REQUIRE_AUTH is false, and they cannot broadcast', async () => {
    const app = await context.buildApp({ WS_REQUIRE_AUTH: 'false' })
    const base = await listen(app)
    const anonymous = connect(`${base}/ws/guest`)
    await anonymous.opened
    expect(await anonymous.next(ofType('connected'))).toMatchObject({ client_id: 'guest', user: null })
    anonymous.send({ type: 'broadcast', content: 'hi all' })
    expect(await anonymous.next(ofType('error'))).toMatchObject({ detail: expect.stringContaining('admin') })
    expect(await handshakeStatus(`${base}/ws/guest2?token=forged`)).toBe(401)
  })

  it('answers protocol mistakes with error frames and keeps the connection open', async () => {
    const app = await context.buildApp()
    const base = await listen(app)
    const user = await signUp(app)
    const client = connect(`${base}/ws/mistakes?token=${user.token}`)
    await client.opened
    await client.next(ofType('connected'))
    const cases: [unknown, string][] = [
      ['{not json', 'invalid JSON'],
      [{ type: 'dance' }, 'unknown message type'],
      [{ type: 'room_message', room: 'lobby', content: 'not joined' }, 'join room'],
      [{ type: 'join_room', room: 'bad room!' }, 'room must be'],
      [{ type: 'join_room', room: 'x'.repeat(65) }, 'room must be'],
      [{ type: 'personal_message', to: 'someone', content: 'x'.repeat(4097) }, 'at most 4096 bytes'],
    ]
    for (const [frame, detail] of cases) {
      client.send(frame)
      expect(await client.next(ofType('error'))).toMatchObject({ detail: expect.stringContaining(detail) })
    }
    client.send({ type: 'ping' })
    expect(await client.next(ofType('pong'))).toEqual({ type: 'pong' })
  })

  it('closes with 1009 on a frame over 64 KB and with 1008 when flooding', async () => {
    const app = await context.buildApp({ WS_MESSAGES_PER_SECOND: '5' })
    const base = await listen(app)
    const user = await signUp(app)
    const big = connect(`${base}/ws/big?token=${user.token}`)
    await big.opened
    big.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(70 * 1024) }))
    expect((await big.closed).code).toBe(1009)

    const flood = connect(`${base}/ws/flood?token=${user.token}`)
    await flood.opened
    for (let index = 0; index < 30; index += 1) flood.send({ type: 'ping' })
    expect(await flood.next(ofType('error'))).toMatchObject({ detail: expect.stringContaining('too many messages') })
    expect((await flood.closed).code).toBe(1008)
  })

  it('limits a connection to 50 rooms', async () => {
    const app = await context.buildApp({ WS_MESSAGES_PER_SECOND: '1000' })
    const base = await listen(app)
    const user = await signUp(app)
    const client = connect(`${base}/ws/rooms?token=${user.token}`)
    await client.opened
    for (let index = 0; index < 50; index += 1) client.send({ type: 'join_room', room: `room-${index}` })
    for (let index = 0; index < 50; index += 1) await client.next(ofType('room_joined'))
    client.send({ type: 'join_room', room: 'one-too-many' })
    expect(await client.next(ofType('error'))).toMatchObject({ detail: expect.stringContaining('50 rooms') })
  })

  it('delivers personal messages by client id and admin broadcasts to everyone', async () => {
    const app = await context.buildApp()
    const base = await listen(app)
    const admin = await signUp(app, 'admin')
    const user = await signUp(app)
    const a = connect(`${base}/ws/admin-1?token=${admin.token}`)
    const u = connect(`${base}/ws/user-1?token=${user.token}`)
    await Promise.all([a.opened, u.opened])
    await Promise.all([a.next(ofType('connected')), u.next(ofType('connected'))])
    a.send({ type: 'personal_message', to: 'user-1', content: 'psst' })
    expect(await u.next(ofType('personal_message'))).toMatchObject({ content: 'psst', sender: { client_id: 'admin-1' } })
    u.send({ type: 'broadcast', content: 'I am not an admin' })
    expect(await u.next(ofType('error'))).toMatchObject({ detail: expect.stringContaining('admin') })
    a.send({ type: 'broadcast', content: 'maintenance at noon' })
    expect(await u.next(ofType('broadcast'))).toMatchObject({ content: 'maintenance at noon', sender: { username: admin.username } })

    const viaApi = await app.inject({ method: 'POST', url: '/api/v1/ws/broadcast', headers: { authorization: `Bearer ${admin.token}` }, payload: { content: 'from the API' } })
    expect(viaApi.statusCode).toBe(202)
    expect(await u.next((frame) => frame.type === 'broadcast' && frame.content === 'from the API')).toBeTruthy()
    const denied = await app.inject({ method: 'POST', url: '/api/v1/ws/broadcast', headers: { authorization: `Bearer ${user.token}` }, payload: { content: 'x' } })
    expect(denied.statusCode).toBe(403)
    const stats = await app.inject({ method: 'GET', url: '/api/v1/ws/stats', headers: { authorization: `Bearer ${admin.token}` } })
    expect(stats.json().connections).toBeGreaterThanOrEqual(2)
  })

  it('closes the socket with 4401 when the user logs out everywhere or is deactivated', async () => {
    const app = await context.buildApp(FAST_CHECKS)
    const base = await listen(app)
    const user = await signUp(app)
    const client = connect(`${base}/ws/kick-me?token=${user.token}`)
    await client.opened
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: { authorization: `Bearer ${user.token}` } })).statusCode).toBe(200)
    expect((await client.closed).code).toBe(4401)

    const admin = await signUp(app, 'admin')
    const other = await signUp(app)
    const second = connect(`${base}/ws/deactivate-me?token=${other.token}`)
    await second.opened
    const update = await app.inject({
      method: 'PUT',
      url: `/api/v1/users/update/${other.id}`,
      headers: { authorization: `Bearer ${admin.token}` },
      payload: { is_active: false },
    })
    expect(update.statusCode).toBe(200)
    expect((await second.closed).code).toBe(4401)
  })

  it('closes a socket opened with an API key when that key is revoked, and leaves other sockets of the owner open', async () => {
    const app = await context.buildApp(FAST_CHECKS)
    const base = await listen(app)
    const user = await signUp(app)
    const auth = { authorization: `Bearer ${user.token}` }
    const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: auth, payload: { name: 'socket key' } })
    expect(created.statusCode).toBe(201)
    const viaKey = connect(`${base}/ws/key-client`, { headers: { 'x-api-key': created.json().key } })
    const viaToken = connect(`${base}/ws/token-client?token=${user.token}`)
    await Promise.all([viaKey.opened, viaToken.opened])

    const revoked = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.json().id}`, headers: auth })
    expect(revoked.statusCode).toBeLessThan(300)
    expect((await viaKey.closed).code).toBe(4401)
    // Checks that ran after the revocation left the owner's token socket open.
    await afterTwoSessionChecks(app)
    expect(viaToken.socket.readyState).toBe(WebSocket.OPEN)
  })

  it('closes a socket opened with an API key once that key expires', async () => {
    let offsetMs = 0
    const app = await context.buildApp(FAST_CHECKS, { now: () => new Date(Date.now() + offsetMs) })
    const base = await listen(app)
    const user = await signUp(app)
    const expiresAt = new Date(Date.now() + 10 * 60_000).toISOString()
    const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { authorization: `Bearer ${user.token}` }, payload: { name: 'short-lived', expires_at: expiresAt } })
    expect(created.statusCode).toBe(201)
    const viaKey = connect(`${base}/ws/expiring-key`, { headers: { 'x-api-key': created.json().key } })
    await viaKey.opened
    await afterTwoSessionChecks(app)
    expect(viaKey.socket.readyState).toBe(WebSocket.OPEN)
    offsetMs = 11 * 60_000
    expect((await viaKey.closed).code).toBe(4401)
  })

  it('keeps a client id for the user holding it, so nobody else can read its personal messages', async () => {
    const app = await context.buildApp()
    const base = await listen(app)
    const owner = await signUp(app)
    const thief = await signUp(app)
    const first = connect(`${base}/ws/alice-phone?token=${owner.token}`)
    await first.opened
    await first.next(ofType('connected'))
    expect(await handshakeStatus(`${base}/ws/alice-phone?token=${thief.token}`)).toBe(409)
    // The owner may open a second socket with the same id (another tab).
    expect(await handshakeStatus(`${base}/ws/alice-phone?token=${owner.token}`)).toBe(101)
  })

  it('lets a read-only API key listen but not send', async () => {
    const app = await context.buildApp()
    const base = await listen(app)
    const user = await signUp(app)
    const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { authorization: `Bearer ${user.token}` }, payload: { name: 'reader' } })
    const client = connect(`${base}/ws/chat/readers?client_id=reader-1`, { headers: { 'x-api-key': created.json().key } })
    await client.opened
    await client.next(ofType('room_joined'))
    client.send({ content: 'can I talk?' })
    expect(await client.next(ofType('error'))).toMatchObject({ detail: expect.stringContaining('read-only') })
  })

  it('closes every socket with 1001 when the server shuts down', async () => {
    const app = await context.buildApp()
    const base = await listen(app)
    const user = await signUp(app)
    const client = connect(`${base}/ws/shutdown?token=${user.token}`)
    await client.opened
    await app.close()
    expect((await client.closed).code).toBe(1001)
  })

  itWith('redis')('lets members of one room on two instances talk through Redis', async () => {
    const first = await context.buildApp()
    const second = await context.buildApp()
    const [baseA, baseB] = [await listen(first), await listen(second)]
    const alice = await signUp(first)
    const bob = await signUp(second)
    const a = connect(`${baseA}/ws/chat/shared?client_id=alice-a&token=${alice.token}`)
    await a.opened
    await a.next(ofType('room_joined'))
    const b = connect(`${baseB}/ws/chat/shared?client_id=bob-b&token=${bob.token}`)
    await b.opened
    await b.next(ofType('room_joined'))
    expect(await a.next(ofType('user_joined'))).toMatchObject({ client_id: 'bob-b' })
    b.send({ content: 'hello from B' })
    expect(await a.next(ofType('room_message'))).toMatchObject({ room: 'shared', content: 'hello from B', sender: { client_id: 'bob-b' } })
    a.send({ type: 'message', content: 'hello from A' })
    expect(await b.next((frame) => frame.type === 'room_message' && frame.content === 'hello from A')).toMatchObject({ sender: { client_id: 'alice-a' } })
  })
})
