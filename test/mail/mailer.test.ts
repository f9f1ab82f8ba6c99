import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMailer, type Mailer, type MailerOptions } from '../../src/mail/mailer.js'
import { freePort } from '../helpers/network.js'
import { describeWith } from '../helpers/requirements.js'
import { sleep, waitFor } from '../helpers/wait.js'
import { collectingLogger, PROJECT_NAME, smtpConfig, startSmtpServer, testConfig, type TestSmtpServer } from './helpers.js'

const FAST_RETRY = { attempts: 10, baseDelayMs: 50 }
const CODE = '482913'
const twoFaCode = (to: string) =>
  ({ to, template: 'two-fa-code', data: { username: '<script>alert(1)</script>', code: CODE, expires_minutes: 10 } }) as const

/**
 * Everything a test opens, closed after it whatever happened, so the process can exit. Mailers go first:
 * an SMTP server waits for its clients' pooled connections before it closes.
 */
const openMailers: Mailer[] = []
const openServers: TestSmtpServer[] = []
const afterClose: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(openMailers.splice(0).map((mailer) => mailer.close()))
  await Promise.all(openServers.splice(0).map((server) => server.close()))
  for (const step of afterClose.splice(0)) await step()
})

function track(mailer: Mailer): Mailer {
  openMailers.push(mailer)
  return mailer
}

async function smtpServer(port?: number): Promise<TestSmtpServer> {
  const server = await startSmtpServer(port)
  openServers.push(server)
  return server
}

function mailerFor(port: number, options: Partial<MailerOptions> & { env?: Record<string, string | undefined> } = {}) {
  const logger = collectingLogger()
  const mailer = track(createMailer({ config: smtpConfig(port, options.env), logger, retry: FAST_RETRY, ...options }))
  return { mailer, logger }
}

/** The delivery guarantees, run once per queue backend. */
function deliveryTests(redisEnv: () => Record<string, string | undefined>) {
  it('delivers a templated message branded with the project name, values escaped in the HTML', async () => {
    const server = await smtpServer()
    const { mailer, logger } = mailerFor(server.port, { env: redisEnv() })
    expect(mailer.mode).toBe('smtp')

    await mailer.send(twoFaCode('alice@example.com'))
    const [message] = await server.waitForMessages(1)

    expect(message?.envelopeTo).toEqual(['alice@example.com'])
    // Nodemailer quotes the display name only when it needs to.
    expect(message?.from).toMatch(/^"?Acme Mailer"? <noreply@acme\.test>$/)
    expect(message?.subject).toBe(`Your ${PROJECT_NAME} sign-in code`)
    expect(message?.html).toContain(PROJECT_NAME)
    expect(message?.html).toContain(CODE)
    expect(message?.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(message?.html).not.toContain('<script>')
    expect(message?.text).toContain('Hi <script>alert(1)</script>,')
    expect(message?.headers).toMatch(/^auto-submitted: auto-generated$/im)
    await waitFor(() => mailer.stats().sent === 1, 'mailer.stats().sent === 1')
    expect(mailer.stats()).toEqual({ queued: 1, sent: 1, failed: 0, retried: 0 })
    // The code is a secret: logs name the template and a masked recipient only.
    expect(logger.text()).not.toContain(CODE)
    expect(logger.text()).toContain('a***@example.com')
  })

  it('accepts mail while the SMTP server is down and delivers it once the server is up', async () => {
    const port = await freePort()
    const { mailer, logger } = mailerFor(port, { env: redisEnv() })

    await mailer.send(twoFaCode('bob@example.com'))
    await waitFor(() => mailer.stats().retried >= 2, 'mailer.stats().retried >= 2')
    const server = await smtpServer(port)
    const [message] = await server.waitForMessages(1)

    expect(message?.envelopeTo).toEqual(['bob@example.com'])
    await waitFor(() => mailer.stats().sent === 1, 'mailer.stats().sent === 1')
    expect(mailer.stats().failed).toBe(0)
    const warnings = logger.lines.filter((line) => line.level === 'warn')
    expect(warnings[0]?.message).toBe('email delivery failed, will retry')
    expect(warnings[0]?.fields).toMatchObject({ template: 'two-fa-code', to: 'b***@example.com', attempt: 1 })
    expect(logger.text()).not.toContain(CODE)
  })

  it('gives up after the last attempt, logging an error and counting the message as failed', async () => {
    const port = await freePort()
    const { mailer, logger } = mailerFor(port, { env: redisEnv(), retry: { attempts: 3, baseDelayMs: 10 } })

    await mailer.send(twoFaCode('carol@example.com'))
    await waitFor(() => mailer.stats().failed === 1, 'mailer.stats().failed === 1')

    expect(mailer.stats()).toMatchObject({ queued: 1, sent: 0, failed: 1, retried: 2 })
    const errors = logger.lines.filter((line) => line.level === 'error')
    expect(errors).toHaveLength(1)
    expect(errors[0]?.message).toBe('email delivery failed, giving up')
    expect(errors[0]?.fields).toMatchObject({ template: 'two-fa-code', to: 'c***@example.com', attempt: 3, max_attempts: 3 })
  })
}

describe('mailer in smtp mode, in-process queue', () => {
  deliveryTests(() => ({}))

  it('refuses header injection and lists in the recipient with 422, sending nothing', async () => {
    const server = await smtpServer()
    const { mailer } = mailerFor(server.port)
    const attempts = [
      'a@b.com\r\nBcc: x@y.com',
      'a@b.com\nBcc: x@y.com',
      'a@b.com, c@d.com',
      'a@b.com;c@d.com',
      'Someone <a@b.com>',
      '<a@b.com>',
      ' a@b.com',
      'a@b.com\r\n',
      'not-an-address',
      '',
      `${'a'.repeat(65)}@example.com`,
      `a@${'b'.repeat(250)}.com`,
    ]
    for (const to of attempts) {
      await expect(mailer.send({ ...twoFaCode(to) }), JSON.stringify(to)).rejects.toMatchObject({ statusCode: 422 })
    }
    await sleep(100)
    expect(server.messages).toHaveLength(0)
    expect(mailer.stats().queued).toBe(0)
  })

  it('drops nothing silently at shutdown: a message still waiting for a retry is logged and counted as failed', async () => {
    const port = await freePort()
    const { mailer, logger } = mailerFor(port, { retry: { attempts: 5, baseDelayMs: 60_000 } })

    await mailer.send(twoFaCode('dave@example.com'))
    await waitFor(() => mailer.stats().retried === 1, 'mailer.stats().retried === 1')
    await mailer.close()

    expect(mailer.stats().failed).toBe(1)
    expect(logger.lines.filter((line) => line.level === 'error')).toHaveLength(1)
  })
})

const redisUrl = process.env.TEST_REDIS_URL

describeWith('redis')('mailer in smtp mode, BullMQ queue (TEST_REDIS_URL)', () => {
  let keyPrefix = ''
  const redisEnv = () => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: keyPrefix })

  beforeEach(() => {
    // A prefix per test keeps tests (and parallel runs) apart in one Redis.
    keyPrefix = `test-mail-${randomUUID()}:`
    const prefix = keyPrefix
    // Runs after the test's mailers have stopped writing.
    afterClose.push(async () => {
      const redis = new Redis(redisUrl ?? '')
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
      await redis.quit()
    })
  })

  deliveryTests(redisEnv)

  it('keeps a queued message across a restart and delivers it from the next process', async () => {
    const port = await freePort()
    const first = track(createMailer({ config: smtpConfig(port, redisEnv()), logger: collectingLogger(), retry: { attempts: 10, baseDelayMs: 300 } }))
    await first.send(twoFaCode('erin@example.com'))
    await waitFor(() => first.stats().retried >= 1, 'first.stats().retried >= 1')
    await first.close()

    const server = await smtpServer(port)
    const { mailer } = mailerFor(port, { env: redisEnv() })
    const [message] = await server.waitForMessages(1)

    expect(message?.envelopeTo).toEqual(['erin@example.com'])
    await waitFor(() => mailer.stats().sent === 1, 'mailer.stats().sent === 1')
  })
})

describe('mailer in smtp mode, Redis unreachable', () => {
  it('answers 503 instead of hanging when the queue cannot take the message', async () => {
    const { mailer } = mailerFor(2525, { env: { REDIS_URL: 'redis://127.0.0.1:1' } })
    // Past the first connection attempt the answer is immediate; before it, send() waits up to 5 s first.
    await sleep(300)

    await expect(mailer.send(twoFaCode('alice@example.com'))).rejects.toMatchObject({
      statusCode: 503,
      message: 'email queue is unavailable, try again shortly',
    })
    expect(mailer.stats().queued).toBe(0)
  }, 10_000)
})

describe('mailer without SMTP', () => {
  it('answers 503 "email is not configured" when SMTP is missing and DEBUG is off', async () => {
    const mailer = track(createMailer({ config: testConfig(), logger: collectingLogger() }))

    expect(mailer.mode).toBe('disabled')
    await expect(mailer.send(twoFaCode('alice@example.com'))).rejects.toMatchObject({ statusCode: 503, message: 'email is not configured' })
  })

  it('keeps messages in the dev outbox and logs them in full when DEBUG is on', async () => {
    const logger = collectingLogger()
    const mailer = track(createMailer({ config: testConfig({ DEBUG: 'true' }), logger }))

    expect(mailer.mode).toBe('outbox')
    await mailer.send(twoFaCode('alice@example.com'))
    await mailer.send({ to: 'bob@example.com', template: 'test-email', data: {} })

    const [latest, first] = mailer.outbox()
    expect(latest).toMatchObject({ to: 'bob@example.com', subject: `${PROJECT_NAME} test email` })
    expect(first).toMatchObject({ to: 'alice@example.com', subject: `Your ${PROJECT_NAME} sign-in code` })
    expect(first?.html).toContain('&lt;script&gt;')
    expect(first?.text).toContain(CODE)
    expect(first?.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(Date.parse(first?.created_at ?? '')).not.toBeNaN()
    expect(logger.lines[0]).toMatchObject({ level: 'info', message: 'email kept in dev outbox' })
    expect(logger.text()).toContain(CODE)
    expect(mailer.stats()).toEqual({ queued: 2, sent: 2, failed: 0, retried: 0 })
  })

  it('keeps only the last 100 messages in the outbox', async () => {
    const mailer = track(createMailer({ config: testConfig({ DEBUG: 'true' }), logger: collectingLogger() }))
    for (let index = 0; index < 105; index += 1) await mailer.send({ to: `user${index}@example.com`, template: 'test-email', data: {} })

    expect(mailer.outbox()).toHaveLength(100)
    expect(mailer.outbox()[0]?.to).toBe('user104@example.com')
  })

  it('still validates the recipient in outbox mode', async () => {
    const mailer = track(createMailer({ config: testConfig({ DEBUG: 'true' }), logger: collectingLogger() }))

    await expect(mailer.send(twoFaCode('a@b.com\r\nBcc: x@y.com'))).rejects.toMatchObject({ statusCode: 422 })
    expect(mailer.outbox()).toHaveLength(0)
  })
})
