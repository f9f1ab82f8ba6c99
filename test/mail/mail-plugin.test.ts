import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import type { Config } from '../../src/config/config.js'
import devRoutes from '../../src/modules/dev/dev-routes.js'
import mailPlugin from '../../src/plugins/mail.js'
import { smtpConfig, testConfig } from './helpers.js'

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
})

async function buildApp(config: Config, logLines: string[] = []) {
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void logLines.push(line) } } })
  apps.push(app)
  await app.register(mailPlugin, { config })
  await app.register(devRoutes, { prefix: '/api/v1/dev' })
  await app.ready()
  return app
}

describe('mail plugin and dev outbox route', () => {
  it('serves the outbox newest first when mail is kept in memory', async () => {
    const app = await buildApp(testConfig({ DEBUG: 'true' }))
    await app.mailer.send({ to: 'alice@example.com', template: 'verify-email', data: { username: 'alice', link: 'http://localhost/verify?token=t' } })
    await app.mailer.send({ to: 'bob@example.com', template: 'test-email', data: {} })

    const response = await app.inject({ method: 'GET', url: '/api/v1/dev/outbox' })

    expect(response.statusCode).toBe(200)
    const { items } = response.json<{ items: { to: string; subject: string; html: string; text: string }[] }>()
    expect(items.map((item) => item.to)).toEqual(['bob@example.com', 'alice@example.com'])
    expect(items[1]?.text).toContain('http://localhost/verify?token=t')
  })

  it('answers 404 for the outbox when mail goes out through SMTP', async () => {
    const app = await buildApp(smtpConfig(2525, { DEBUG: 'true' }))

    const response = await app.inject({ method: 'GET', url: '/api/v1/dev/outbox' })

    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ detail: 'Not Found', code: 'not_found' })
  })

  it('warns at boot when email is disabled, and closes the mailer with the app', async () => {
    const logLines: string[] = []
    const app = await buildApp(testConfig(), logLines)

    expect(app.mailer.mode).toBe('disabled')
    expect(logLines.join('\n')).toContain('SMTP is not configured: flows that send email will answer 503')

    const debugApp = await buildApp(testConfig({ DEBUG: 'true' }))
    await debugApp.close()
    await expect(debugApp.mailer.send({ to: 'alice@example.com', template: 'test-email', data: {} })).rejects.toMatchObject({ statusCode: 503 })
  })

  it('falls back to app.config when no config option is given', async () => {
    const app = Fastify({ logger: false })
    apps.push(app)
    app.decorate('config', testConfig({ DEBUG: 'true' }))
    await app.register(mailPlugin)
    await app.ready()

    expect(app.mailer.mode).toBe('outbox')
  })
})
