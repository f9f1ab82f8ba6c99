import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { App } from '../../src/app.js'
import { createUser, loginAs } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

async function listen(app: App): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

/** Resolves with the HTTP status of the handshake, and with whether the socket is still open 300 ms later. */
function handshake(url: string): Promise<{ status: number; open: boolean }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url)
    socket.on('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0, open: false })
      socket.terminate()
    })
    socket.on('open', () => setTimeout(() => resolve({ status: 101, open: socket.readyState === WebSocket.OPEN }), 300))
    socket.on('error', () => resolve({ status: 0, open: false }))
  })
}

describe('slow and numerous clients', () => {
  it('drops a client that trickles its headers (slow loris) while others are served', async () => {
    const app = await context.buildApp({ HEADERS_TIMEOUT_MS: '1000' })
    const port = await listen(app)
    const started = Date.now()
    const closed = new Promise<number>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('GET /api/v1/health/ HTTP/1.1\r\nHost: localhost\r\n')
        const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 100)
        socket.on('close', () => {
          clearInterval(trickle)
          resolve(Date.now() - started)
        })
      })
      socket.on('error', () => {})
      socket.on('data', () => {})
    })
    const healthy = await fetch(`http://127.0.0.1:${port}/api/v1/health/`)
    expect(healthy.status).toBe(200)
    expect(await closed).toBeLessThan(4000)
  })

  it('bounds open WebSockets and answers a flood of handshakes without falling over', async () => {
    const app = await context.buildApp({ WS_MAX_CONNECTIONS: '40' })
    const port = await listen(app)
    const user = await createUser(app)
    const { access_token: token } = await loginAs(app, user)
    const base = `ws://127.0.0.1:${port}`

    const [valid, invalid] = await Promise.all([
      Promise.all(Array.from({ length: 60 }, (_, index) => handshake(`${base}/ws/flood-${index}?token=${token}`))),
      Promise.all(Array.from({ length: 60 }, (_, index) => handshake(`${base}/ws/bad-${index}?token=not-a-token`))),
    ])
    // Exactly the bound stays open; the rest are refused with 503, or closed with 1013 if they raced past.
    expect(valid.filter((result) => result.open)).toHaveLength(40)
    expect(valid.every((result) => result.open || result.status === 503 || result.status === 101)).toBe(true)
    expect(invalid.every((result) => !result.open && (result.status === 401 || result.status === 503))).toBe(true)

    const started = Date.now()
    const health = await fetch(`http://127.0.0.1:${port}/api/v1/health/`)
    expect(health.status).toBe(200)
    expect(Date.now() - started).toBeLessThan(1000)
  })
})
