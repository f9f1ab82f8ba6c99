import { SMTPServer } from 'smtp-server'
import { loadConfig, type Config } from '../../src/config/config.js'
import type { MailLogger } from '../../src/mail/mailer.js'
import { waitFor } from '../helpers/wait.js'

export const PROJECT_NAME = 'Acme Test'

/** A Config as the app would load it, from env-style variables; the defaults give a non-DEBUG server without SMTP. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    DEBUG: 'false',
    SECRET_KEY: 'test-secret-key-that-is-long-enough-for-production-checks',
    PROJECT_NAME,
    EMAILS_FROM_EMAIL: 'noreply@acme.test',
    EMAILS_FROM_NAME: 'Acme Mailer',
    ...env,
  })
}

export function smtpConfig(port: number, env: Record<string, string | undefined> = {}): Config {
  return testConfig({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_TLS: 'false', ...env })
}

export interface LogLine {
  level: 'info' | 'warn' | 'error'
  fields: object
  message: string
}

export function collectingLogger(): MailLogger & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = []
  const at = (level: LogLine['level']) => (fields: object, message: string) => void lines.push({ level, fields, message })
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), text: () => JSON.stringify(lines) }
}

export interface ReceivedMail {
  envelopeTo: string[]
  headers: string
  subject: string
  from: string
  text: string
  html: string
}

export interface TestSmtpServer {
  port: number
  messages: ReceivedMail[]
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMail[]>
  close(): Promise<void>
}

/** A real SMTP server on 127.0.0.1 (no TLS, no auth) that keeps every message it accepts. */
export async function startSmtpServer(port = 0): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = []
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        messages.push({ envelopeTo: session.envelope.rcptTo.map((rcpt) => rcpt.address), ...parseMessage(Buffer.concat(chunks).toString('utf8')) })
        callback()
      })
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.server.address()
  if (address === null || typeof address === 'string') throw new Error('SMTP server has no port')

  return {
    port: address.port,
    messages,
    async waitForMessages(count, timeoutMs = 15_000) {
      await waitFor(() => messages.length >= count, `${count} message(s) arriving`, { timeoutMs })
      return messages
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** Just enough MIME for nodemailer's text + HTML messages: headers, and each part decoded. */
function parseMessage(raw: string): Omit<ReceivedMail, 'envelopeTo'> {
  const [headers, body] = splitHead(raw)
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(headers)?.[1]
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1).map((part) => splitHead(part.replace(/^\r\n/, ''))) : [[headers, body] as const]
  const partOf = (type: string) => {
    const found = parts.find(([partHeaders]) => new RegExp(`content-type:\\s*${type}`, 'i').test(partHeaders))
    return found ? decodePart(found[0], found[1]) : ''
  }
  return { headers, subject: header(headers, 'subject'), from: header(headers, 'from'), text: partOf('text/plain'), html: partOf('text/html') }
}

function splitHead(block: string): readonly [string, string] {
  const end = block.indexOf('\r\n\r\n')
  return [block.slice(0, end).replace(/\r\n(?=[ \t])/g, ''), block.slice(end + 4)]
}

function header(headers: string, name: string): string {
  return new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(headers)?.[1] ?? ''
}

function decodePart(headers: string, body: string): string {
  const encoding = header(headers, 'content-transfer-encoding').toLowerCase()
  if (encoding === 'base64') return Buffer.from(body, 'base64').toString('utf8')
  if (encoding === 'quoted-printable') {
    // Escape literal % first, then turn =XX into %XX so decodeURIComponent rebuilds the UTF-8 bytes.
    return decodeURIComponent(body.replace(/%/g, '%25').replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, '%$1'))
  }
  return body
}
