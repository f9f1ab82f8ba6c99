import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/config.js'
import { createMailer, type Mailer, type MailerOptions } from '../mail/mailer.js'

declare module 'fastify' {
  interface FastifyInstance {
    mailer: Mailer
  }
}

/** `config` falls back to `app.config`; `transport` and `retry` let tests aim at their own SMTP server. */
export interface MailPluginOptions extends Pick<MailerOptions, 'transport' | 'retry'> {
  config?: Config
}

export default fp(
  async function mailPlugin(app: FastifyInstance, options: MailPluginOptions) {
    const config = options.config ?? (app.hasDecorator('config') ? app.config : undefined)
    if (!config) throw new Error('mail plugin needs a config: pass { config } or decorate app.config before registering it')

    const mailer = createMailer({ config, logger: app.log, transport: options.transport, retry: options.retry })
    app.decorate('mailer', mailer)
    app.addHook('onClose', () => mailer.close())

    if (mailer.mode === 'smtp') {
      app.log.info({ host: config.smtp.host, port: config.smtp.port, queue: config.redisUrl ? 'redis' : 'memory' }, 'email: sending through SMTP')
    } else if (mailer.mode === 'outbox') {
      app.log.info('email: no SMTP_HOST, messages go to the dev outbox and the log')
    } else {
      // Disabled means no SMTP and DEBUG off: a production setup that forgot SMTP, which should be loud at boot.
      app.log.warn('SMTP is not configured: flows that send email will answer 503')
    }
  },
  { name: 'mail' },
)
