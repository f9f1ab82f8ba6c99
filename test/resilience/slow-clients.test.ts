import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createUser, loginAs, signedInUser } from '../helpers/factories.js'
import { listen } from '../helpers/network.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'

const context = useTestContext()

interface Handshake {
  /** The HTTP answer: 101 when the socket opened, 0 when the connection failed outright. */
  status: number
  socket: WebSocket
  closeCode?: number
}

/** Resolves once the handshake is answered; an opened socket is kept so the test can see what happens to it next. */
function handshake(url: string): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url)
    const result: Handshake = { status: 0, socket }
    socket.on('close', (code) => (result.closeCode = code))
    socket.on('unexpected-response', (_request, response) => {
      result.status = response.statusCode ?? 0
      resolve(result)
      socket.terminate()
    })
    socket.on('open', () => {
      result.status = 101
      resolve(result)
    })
    socket.on('error', () => resolve(result))
  })
}

describe('slow and numerous clients', () => {
  it('drops a client that trickles its headers (slow loris) while others are served', async () => {
    const app = await context.buildApp({ HEADERS_TIMEOUT_MS: '1000' })
    const { port, http } = await listen(app)
    const started = Date.now()
    let answer = ''
    const closedAfter = new Promise<number>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('GET /api/v1/health/ HTTP/1.1\r\nHost: localhost\r\n')
        const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 100)
        socket.on('close', () => {
          clearInterval(trickle)
          resolve(Date.now() - started)
        })
      })
      socket.on('error', () => {})
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    })
    const healthy = await fetch(`${http}/api/v1/health/`)
    expect(healthy.status).toBe(200)
    const elapsed = await closedAfter
    // The server ends it, with a 408, once HEADERS_TIMEOUT_MS is up. The upper bound only tells the
    // setting apart from Node's own default of a minute; it is loose because CI machines are busy.
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(elapsed).toBeLessThan(20_000)
  })

  it('bounds open WebSockets and answers a flood of handshakes without falling over', async () => {
    const app = await context.buildApp({ WS_MAX_CONNECTIONS: '40' })
    const { http, ws } = await listen(app)
    const user = await createUser(app)
    const { access_token: token } = await loginAs(app, user)

    const [valid, invalid] = await Promise.all([
      Promise.all(Array.from({ length: 60 }, (_, index) => handshake(`${ws}/ws/flood-${index}?token=${token}`))),
      Promise.all(Array.from({ length: 60 }, (_, index) => handshake(`${ws}/ws/bad-${index}?token=not-a-token`))),
    ])
    try {
      // Each valid handshake ends one of three ways: refused with 503, opened and kept, or opened in a
      // race past the bound and then closed with 1013. Counted once every opened socket has settled.
      const opened = valid.filter((result) => result.status === 101)
      await waitFor(
        () => opened.every((result) => result.socket.readyState === WebSocket.OPEN || result.socket.readyState === WebSocket.CLOSED),
        'the opened sockets settling',
      )
      const kept = opened.filter((result) => result.socket.readyState === WebSocket.OPEN)
      expect(kept).toHaveLength(40)
      const stats = await app.inject({ method: 'GET', url: '/api/v1/ws/stats', headers: (await signedInUser(app, 'admin')).headers })
      expect(stats.json()).toMatchObject({ connections: 40 })
      expect(opened.filter((result) => result.socket.readyState === WebSocket.CLOSED).map((result) => result.closeCode)).toEqual(
        Array(opened.length - 40).fill(1013),
      )
      expect(valid.filter((result) => result.status !== 101).map((result) => result.status)).toEqual(Array(60 - opened.length).fill(503))
      expect(invalid.map((result) => result.status).filter((status) => status !== 401 && status !== 503)).toEqual([])

      const health = await fetch(`${http}/api/v1/health/`)
      expect(health.status).toBe(200)
    } finally {
      for (const result of [...valid, ...invalid]) result.socket.terminate()
    }
  })
})
