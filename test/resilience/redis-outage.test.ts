import { expect, it } from 'vitest'
import { createUser, loginAs } from '../helpers/factories.js'
import { freePort, listen } from '../helpers/network.js'
import { startRedis } from '../helpers/processes.js'
import { describeWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'

const context = useTestContext()

describeWith('redis-server')('when Redis goes away', () => {
  it('keeps serving, reports the cache down promptly, and heals when Redis returns', async () => {
    const port = await freePort()
    let redis = await startRedis(port)
    const app = await context.buildApp({ REDIS_URL: redis.url, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '1000', AUTH_RATE_LIMIT_PER_MINUTE: '3' })
    try {
      const user = await createUser(app)
      const { access_token: token } = await loginAs(app, user)
      expect((await app.inject({ method: 'GET', url: '/api/v1/health/cache' })).statusCode).toBe(200)

      await redis.stop()
      const started = Date.now()
      const cacheHealth = await app.inject({ method: 'GET', url: '/api/v1/health/cache' })
      expect(cacheHealth.statusCode).toBe(503)
      expect(cacheHealth.json()).toMatchObject({ status: 'unhealthy', detail: expect.any(String) })
      // The probe gives up after 1.5 s (docs/OPERATIONS.md); the bound leaves room for a busy machine
      // and still fails a probe that waits on ioredis's reconnects.
      expect(Date.now() - started).toBeLessThan(10_000)
      expect((await app.inject({ method: 'GET', url: '/api/v1/health/' })).statusCode).toBe(200)

      // Authentication and the users API keep answering from the database.
      const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}` } })
      expect(me.statusCode).toBe(200)
      await loginAs(app, user)

      // The login limit falls back to per-process counting instead of vanishing.
      const statuses: number[] = []
      for (let attempt = 0; attempt < 4; attempt += 1) {
        statuses.push((await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: 'wrong-password' } })).statusCode)
      }
      expect(statuses).toContain(429)

      redis = await startRedis(port)
      await waitFor(async () => (await app.inject({ method: 'GET', url: '/api/v1/health/cache' })).statusCode === 200, 'cache recovery', { timeoutMs: 15_000, intervalMs: 100 })
      await app.cache.set('after-outage', { ok: true }, 30)
      expect(await app.cache.get('after-outage')).toEqual({ ok: true })
    } finally {
      await app.close()
      await redis.stop()
    }
  })
})

describeWith('redis-server')('WebSockets when Redis goes away', () => {
  it('keep delivering room messages between clients of the same instance', async () => {
    const { default: WebSocket } = await import('ws')
    const port = await freePort()
    const redis = await startRedis(port)
    const app = await context.buildApp({ REDIS_URL: redis.url })
    try {
      const { access_token: token } = await loginAs(app, await createUser(app))
      const base = (await listen(app)).ws
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
