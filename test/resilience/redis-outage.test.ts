import { describe, expect, it } from 'vitest'
import { freePort, hasRedisServer, startRedis, waitFor } from '../helpers/processes.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()

describe.runIf(hasRedisServer)('when Redis goes away', () => {
  it('keeps serving, reports the cache down within 2 s, and heals when Redis returns', async () => {
    const port = await freePort()
    let redis = await startRedis(port)
    const app = await context.buildApp({ REDIS_URL: redis.url, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '1000', AUTH_RATE_LIMIT_PER_MINUTE: '3' })
    try {
      const password = 'resilient-password-1'
      await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'outage', email: 'outage@example.com', password } })
      const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'outage', password } })
      const token = login.json().access_token as string
      expect((await app.inject({ method: 'GET', url: '/api/v1/health/cache' })).statusCode).toBe(200)

      await redis.stop()
      const started = Date.now()
      const cacheHealth = await app.inject({ method: 'GET', url: '/api/v1/health/cache' })
      expect(cacheHealth.statusCode).toBe(503)
      expect(cacheHealth.json()).toMatchObject({ status: 'unhealthy', detail: expect.any(String) })
      expect(Date.now() - started).toBeLessThan(2000)
      expect((await app.inject({ method: 'GET', url: '/api/v1/health/' })).statusCode).toBe(200)

      // Authentication and the users API keep answering from the database.
      const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}` } })
      expect(me.statusCode).toBe(200)
      const relogin = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'outage', password } })
      expect(relogin.statusCode).toBe(200)

      // The login limit falls back to per-process counting instead of vanishing.
      const statuses: number[] = []
      for (let attempt = 0; attempt < 4; attempt += 1) {
        statuses.push((await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'outage', password: 'wrong-password' } })).statusCode)
      }
      expect(statuses).toContain(429)

      redis = await startRedis(port)
      await waitFor(async () => (await app.inject({ method: 'GET', url: '/api/v1/health/cache' })).statusCode === 200, 10_000, 'cache recovery')
      await app.cache.set('after-outage', { ok: true }, 30)
      expect(await app.cache.get('after-outage')).toEqual({ ok: true })
    } finally {
      await app.close()
      await redis.stop()
    }
  })
})

describe.runIf(hasRedisServer)('WebSockets when Redis goes away', () => {
  it('keep delivering room messages between clients of the same instance', async () => {
    const { default: WebSocket } = await import('ws')
    const port = await freePort()
    const redis = await startRedis(port)
    const app = await context.buildApp({ REDIS_URL: redis.url })
    try {
      const password = 'resilient-password-2'
      await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'wsoutage', email: 'wsoutage@example.com', password } })
      const token = (await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: 'wsoutage', password } })).json().access_token as string
      await app.listen({ host: '127.0.0.1', port: 0 })
      const base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
      const open = (clientId: string) =>
        new Promise<InstanceType<typeof WebSocket>>((resolve, reject) => {
          const socket = new WebSocket(`${base}/ws/chat/outage?client_id=${clientId}&token=${token}`)
          socket.on('message', function joined(data) {
            if (JSON.parse(data.toString()).type === 'room_joined') {
              socket.off('message', joined)
              resolve(socket)
            }
          })
          socket.once('error', reject)
        })
      const [sender, receiver] = [await open('sender'), await open('receiver')]
      await redis.stop()
      const received = new Promise<Record<string, unknown>>((resolve) =>
        receiver.on('message', (data) => {
          const frame = JSON.parse(data.toString()) as Record<string, unknown>
          if (frame.type === 'room_message') resolve(frame)
        }),
      )
      sender.send(JSON.stringify({ content: 'still here' }))
      expect(await received).toMatchObject({ content: 'still here', sender: { client_id: 'sender' } })
      sender.terminate()
      receiver.terminate()
    } finally {
      // Bring Redis back before closing: shutting down during an outage waits on its clients.
      const revived = await startRedis(port)
      await app.close()
      await revived.stop()
    }
  })
})
