import { randomUUID } from 'node:crypto'
import type { NodemailerError, SMTPTransportOptions, Transporter } from 'nodemailer'
import { redisTarget, type RedisTarget } from '../cache/redis-target.js'
import type { Config } from '../config/config.js'
import { Errors } from '../lib/errors.js'
import { loadTemplates, renderTemplate, resolveEmailLanguage, type EmailLanguage, type TemplateData, type TemplateName } from './mail-templates.js'

export type MailerMode = 'smtp' | 'outbox' | 'disabled'

export interface MailMessage {
  to: string
  template: TemplateName
  data: TemplateData
  /** The recipient's `users.language` (BCP 47, e.g. `pt-BR`); the closest shipped language is used, English when none fits. */
  language?: string | null
}

export interface OutboxEntry {
  readonly id: string
  readonly to: string
  readonly subject: string
  readonly text: string
  readonly html: string
  readonly created_at: string
}

/** Counters since this process started. */
export interface MailStats {
  /** Messages accepted by send(). */
  queued: number
  sent: number
  /** Messages given up on after their last attempt (or at shutdown, for the in-process queue). */
  failed: number
  /** Failed attempts that were scheduled to run again. */
  retried: number
}

export interface Mailer {
  /** smtp: SMTP_HOST is set; outbox: no SMTP but DEBUG is on; disabled: neither. */
  readonly mode: MailerMode
  /** Validates, renders and queues one message; resolves once it is queued, not once it is delivered. */
  send(message: MailMessage): Promise<void>
  /** The last messages kept in outbox mode, newest first. */
  outbox(): readonly OutboxEntry[]
  stats(): MailStats
  close(): Promise<void>
}

/** The part of Fastify's (pino) logger the mailer uses; tests can pass a plain collector. */
export interface MailLogger {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

export interface RetryPolicy {
  /** Total tries, the first one included. */
  attempts: number
  /** Wait before the second try; each later wait doubles, up to MAX_RETRY_DELAY_MS. */
  baseDelayMs: number
}

export interface MailerOptions {
  config: Config
  logger: MailLogger
  /** Nodemailer SMTP options or an smtp:// URL used instead of config.smtp in smtp mode. */
  transport?: string | SMTPTransportOptions
  retry?: RetryPolicy
}

// 8 tries over about a minute rides out an SMTP restart or a short network blip.
const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 500 }
const MAX_RETRY_DELAY_MS = 60_000
const OUTBOX_SIZE = 100
const QUEUE_NAME = 'mail'
const WORKER_CONCURRENCY = 4
// A request never waits longer than this on Redis; past it, send() answers 503 and the client can try again.
const ENQUEUE_TIMEOUT_MS = 5_000
// Failed jobs stay in Redis for a week so an operator can look at them and retry; the links in them expire anyway.
const FAILED_JOB_RETENTION_SECONDS = 7 * 24 * 3600
const REDIS_ERROR_LOG_INTERVAL_MS = 5_000

/** A rendered message as it travels through the queue (and, with Redis, is stored between tries). */
interface Envelope {
  to: string
  template: TemplateName
  /** The language it was rendered in. Optional: jobs queued before languages existed have none (they are English). */
  language?: EmailLanguage
  subject: string
  html: string
  text: string
}

/** What a queue reports back; both queue implementations call these with the same meaning. */
interface DeliveryHandlers {
  deliver(envelope: Envelope, attempt: number): Promise<void>
  retrying(envelope: Envelope, attempt: number, error: unknown, delayMs: number): void
  failed(envelope: Envelope, attempt: number, error: unknown): void
}

interface DeliveryQueue {
  enqueue(envelope: Envelope): Promise<void>
  /** Finishes the tries in progress and stops taking new ones. */
  close(): Promise<void>
}

function mailerMode(config: Config): MailerMode {
  if (config.smtp.host !== '') return 'smtp'
  return config.debug ? 'outbox' : 'disabled'
}

export function createMailer(options: MailerOptions): Mailer {
  const { config, logger } = options
  const retry = checkRetryPolicy(options.retry ?? DEFAULT_RETRY)
  const mode = mailerMode(config)
  const counters: MailStats = { queued: 0, sent: 0, failed: 0, retried: 0 }
  const kept: OutboxEntry[] = []
  // Read the templates now so a missing file fails the boot rather than the first password reset.
  if (mode !== 'disabled') loadTemplates()
  const smtp = mode === 'smtp' ? createSmtpDelivery(options, retry, counters) : undefined
  let closed = false

  const compose = (message: MailMessage): Envelope => {
    assertSingleAddress(message.to)
    // Rendered here, not in the worker, so a template bug fails the caller at once; the job then carries the
    // finished words in the recipient's language, and a restart or another instance sends exactly those.
    const language = resolveEmailLanguage(message.language)
    const rendered = renderTemplate(message.template, message.data, { projectName: config.projectName, language })
    return { to: message.to, template: message.template, language, ...rendered }
  }

  const keepInOutbox = (envelope: Envelope) => {
    const entry: OutboxEntry = {
      id: randomUUID(),
      to: envelope.to,
      subject: envelope.subject,
      text: envelope.text,
      html: envelope.html,
      created_at: new Date().toISOString(),
    }
    kept.unshift(entry)
    kept.length = Math.min(kept.length, OUTBOX_SIZE)
    // A dev machine: the whole message in the log is the point. The HTML says the same as the text.
    logger.info({ email: { to: entry.to, subject: entry.subject, template: envelope.template, text: entry.text } }, 'email kept in dev outbox')
  }

  return {
    mode,
    async send(message) {
      if (mode === 'disabled') throw new Errors.ServiceUnavailable('email is not configured')
      if (closed) throw new Errors.ServiceUnavailable('email is shutting down')
      const envelope = compose(message)
      if (smtp) {
        await smtp.queue.enqueue(envelope)
      } else {
        keepInOutbox(envelope)
        counters.sent += 1
      }
      counters.queued += 1
    },
    outbox: () => [...kept],
    stats: () => ({ ...counters }),
    async close() {
      if (closed) return
      closed = true
      if (!smtp) return
      await smtp.queue.close()
      const transport = await smtp.transport
      transport.close()
    },
  }
}

function checkRetryPolicy(policy: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) throw new Error('mailer retry.attempts must be a whole number >= 1')
  if (!(policy.baseDelayMs >= 0)) throw new Error('mailer retry.baseDelayMs must be >= 0')
  return policy
}

/** Wait after the given failed try: base, 2×base, 4×base... capped. */
function backoffDelay(failedAttempt: number, baseDelayMs: number): number {
  return Math.min(baseDelayMs * 2 ** (failedAttempt - 1), MAX_RETRY_DELAY_MS)
}

// RFC 5321 limits; the pattern allows one plain address and nothing that can end or extend a header line
// (CR, LF, commas, semicolons, angle brackets, quotes, spaces). \p{L} keeps internationalised names working.
const MAX_ADDRESS_LENGTH = 254
const MAX_LOCAL_PART_LENGTH = 64
const ATOM = "[\\p{L}\\p{N}!#$%&'*+/=?^_`{|}~-]+"
const LABEL = '[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?'
const SINGLE_ADDRESS = new RegExp(`^${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})+$`, 'u')

function assertSingleAddress(to: unknown): asserts to is string {
  if (typeof to !== 'string' || to.length === 0) throw new Errors.Unprocessable('recipient email address is required')
  if (to.length > MAX_ADDRESS_LENGTH) throw new Errors.Unprocessable(`recipient email address is longer than ${MAX_ADDRESS_LENGTH} characters`)
  const at = to.lastIndexOf('@')
  if (!SINGLE_ADDRESS.test(to) || at > MAX_LOCAL_PART_LENGTH) {
    throw new Errors.Unprocessable('recipient must be a single plain email address, like name@example.com')
  }
}

/** For logs: enough to tell recipients apart and find the domain at fault, not enough to harvest addresses. */
function maskAddress(address: string): string {
  const at = address.lastIndexOf('@')
  return at < 1 ? '***' : `${address[0]}***${address.slice(at)}`
}

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

// 5xx replies (mailbox unknown, message refused) come back the same on every try; nodemailer marks them.
const isPermanent = (error: unknown) => (error as NodemailerError | undefined)?.permanent === true

function createSmtpDelivery(options: MailerOptions, retry: RetryPolicy, counters: MailStats) {
  const { config, logger } = options
  // Nodemailer loads only in an app that sends through SMTP; a failure to load surfaces on the first send.
  const transport = import('nodemailer').then(({ default: nodemailer }) => createTransport(nodemailer, config.smtp, options.transport))
  transport.catch(() => {})
  const from = { name: config.smtp.fromName, address: config.smtp.fromEmail }
  // Only the template and a masked address: the body holds codes and links that must not reach logs.
  const describe = (envelope: Envelope, attempt: number) => ({
    template: envelope.template,
    to: maskAddress(envelope.to),
    attempt,
    max_attempts: retry.attempts,
  })

  const handlers: DeliveryHandlers = {
    async deliver(envelope, attempt) {
      const info = await (await transport).sendMail({
        from,
        to: envelope.to,
        subject: envelope.subject,
        text: envelope.text,
        html: envelope.html,
        // RFC 3834: tells vacation responders and ticket systems not to answer a machine.
        headers: { 'Auto-Submitted': 'auto-generated' },
      })
      counters.sent += 1
      logger.info({ ...describe(envelope, attempt), message_id: info.messageId }, 'email sent')
    },
    retrying(envelope, attempt, error, delayMs) {
      counters.retried += 1
      logger.warn({ ...describe(envelope, attempt), retry_in_ms: delayMs, err: { message: errorMessage(error) } }, 'email delivery failed, will retry')
    },
    failed(envelope, attempt, error) {
      counters.failed += 1
      logger.error({ ...describe(envelope, attempt), err: { message: errorMessage(error) } }, 'email delivery failed, giving up')
    },
  }

  const target = redisTarget(config)
  const queue = target ? createRedisQueue({ target, keyPrefix: config.redisKeyPrefix, retry, handlers, logger }) : createMemoryQueue(retry, handlers)
  return { transport, queue }
}

function createTransport(
  nodemailer: (typeof import('nodemailer'))['default'],
  smtp: Config['smtp'],
  override: string | SMTPTransportOptions | undefined,
): Transporter {
  if (override !== undefined) return nodemailer.createTransport(override)
  return nodemailer.createTransport({
    // A few reused connections instead of one handshake per message.
    pool: true,
    maxConnections: 3,
    host: smtp.host,
    port: smtp.port,
    // ssl: TLS from the first byte (port 465); tls: plain connect then STARTTLS, refusing to go on without it (587).
    secure: smtp.ssl,
    requireTLS: smtp.tls && !smtp.ssl,
    ...(smtp.user === '' ? {} : { auth: { user: smtp.user, pass: smtp.password } }),
    // Nodemailer's defaults wait minutes; a dead server should fail fast and let the retry schedule take over.
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 15_000,
    // Messages are built from strings only; refuse anything that would make nodemailer read a file or URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  })
}

/** Keeps messages in this process: quick and dependency-free, but what is still waiting is lost on restart. */
function createMemoryQueue(retry: RetryPolicy, handlers: DeliveryHandlers): DeliveryQueue {
  const waiting = new Map<NodeJS.Timeout, { envelope: Envelope; attempt: number }>()
  const running = new Set<Promise<void>>()
  let closing = false

  const attempt = (envelope: Envelope, number: number) => {
    const run = handlers.deliver(envelope, number).then(
      () => undefined,
      (error: unknown) => {
        if (closing || number >= retry.attempts || isPermanent(error)) return handlers.failed(envelope, number, error)
        const delayMs = backoffDelay(number, retry.baseDelayMs)
        handlers.retrying(envelope, number, error, delayMs)
        const timer = setTimeout(() => {
          waiting.delete(timer)
          attempt(envelope, number + 1)
        }, delayMs)
        waiting.set(timer, { envelope, attempt: number })
      },
    )
    running.add(run)
    void run.finally(() => running.delete(run))
  }

  return {
    async enqueue(envelope) {
      attempt(envelope, 1)
    },
    async close() {
      closing = true
      for (const [timer, { envelope, attempt: number }] of waiting) {
        clearTimeout(timer)
        handlers.failed(envelope, number, new Error('shutting down before the next try; set REDIS_URL to keep queued email across restarts'))
      }
      waiting.clear()
      await Promise.allSettled([...running])
    },
  }
}

interface RedisQueueOptions {
  target: RedisTarget
  keyPrefix: string
  retry: RetryPolicy
  handlers: DeliveryHandlers
  logger: MailLogger
}

// Not a built-in BullMQ name, so BullMQ hands the computation to the worker's backoffStrategy.
const BACKOFF_TYPE = 'capped-exponential'
// ioredis states between losing a connection and the next attempt to restore it.
const LOST_CONNECTION = new Set(['reconnecting', 'close', 'end'])

/**
 * BullMQ in this process: jobs live in Redis, so what is queued or waiting for a retry survives a restart.
 * BullMQ and ioredis are loaded only here, where a queue runs: the embedded default never pays for them.
 */
function createRedisQueue(options: RedisQueueOptions): DeliveryQueue {
  const started = Promise.all([import('bullmq'), import('../cache/bullmq-connections.js')]).then(([bullmq, connections]) =>
    startRedisQueue(bullmq, connections, options),
  )
  // A failure to start is reported by the first enqueue or close, not as an unhandled rejection.
  started.catch(() => {})
  return {
    enqueue: async (envelope) => (await started).enqueue(envelope),
    close: async () => (await started).close(),
  }
}

function startRedisQueue(
  { Queue, UnrecoverableError, Worker }: typeof import('bullmq'),
  { createQueueConnections, WORKER_RETRY_DELAY_MS }: typeof import('../cache/bullmq-connections.js'),
  { target, keyPrefix, retry, handlers, logger }: RedisQueueOptions,
): DeliveryQueue {
  let lastErrorLog = 0
  const reportError = (error: Error) => {
    // ioredis reports every reconnect attempt; one line every few seconds is enough.
    const now = Date.now()
    if (now - lastErrorLog < REDIS_ERROR_LOG_INTERVAL_MS) return
    lastErrorLog = now
    logger.warn({ err: { message: error.message } }, 'email queue: redis unavailable')
  }
  // "carbelsad:" becomes keys like "carbelsad:mail:1" ("{carbelsad}:mail:1" on a cluster). The producer
  // refuses to buffer while disconnected, so send() fails (503) instead of hanging when Redis is away.
  const connections = createQueueConnections({ target, keyPrefix, producerOfflineQueue: false, onError: reportError })
  const { producer, consumer, prefix } = connections

  const queue = new Queue<Envelope>(QUEUE_NAME, {
    connection: producer,
    prefix,
    defaultJobOptions: {
      attempts: retry.attempts,
      backoff: { type: BACKOFF_TYPE },
      removeOnComplete: true,
      removeOnFail: { age: FAILED_JOB_RETENTION_SECONDS },
    },
  })
  const worker = new Worker<Envelope>(
    QUEUE_NAME,
    async (job) => {
      const attempt = job.attemptsMade + 1
      try {
        await handlers.deliver(job.data, attempt)
      } catch (error) {
        if (attempt >= (job.opts.attempts ?? 1) || isPermanent(error)) {
          handlers.failed(job.data, attempt, error)
          throw new UnrecoverableError(errorMessage(error))
        }
        handlers.retrying(job.data, attempt, error, backoffDelay(attempt, retry.baseDelayMs))
        throw error
      }
    },
    {
      connection: consumer,
      prefix,
      concurrency: WORKER_CONCURRENCY,
      runRetryDelay: WORKER_RETRY_DELAY_MS,
      // The same schedule as the in-process queue, capped, which BullMQ's built-in exponential is not.
      settings: { backoffStrategy: (attemptsMade) => backoffDelay(attemptsMade, retry.baseDelayMs) },
    },
  )
  queue.on('error', reportError)
  worker.on('error', reportError)

  return {
    async enqueue(envelope) {
      const unavailable = () => new Errors.ServiceUnavailable('email queue is unavailable, try again shortly')
      // Fail at once while Redis is known to be away (a first connection in progress is worth waiting for):
      // a job parked until Redis returns would go out after its caller was told 503.
      if (LOST_CONNECTION.has(producer.status)) throw unavailable()
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(unavailable()), ENQUEUE_TIMEOUT_MS)
      })
      try {
        await Promise.race([queue.add(envelope.template, envelope), timeout])
      } catch (error) {
        reportError(error as Error)
        throw unavailable()
      } finally {
        clearTimeout(timer)
      }
    },
    async close() {
      // The worker finishes the jobs it holds; anything else stays in Redis for the next start.
      await connections.close((force) => Promise.allSettled([worker.close(force), queue.close()]))
    },
  }
}
