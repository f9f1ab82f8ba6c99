import { randomUUID } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import {
  DEFAULT_EMAIL_LANGUAGE,
  EMAIL_LANGUAGES,
  loadTemplatesFrom,
  renderTemplate,
  resolveEmailLanguage,
  TEMPLATE_DIR,
  TEMPLATE_NAMES,
} from '../../src/mail/mail-templates.js'
import { createMailer, type Mailer } from '../../src/mail/mailer.js'
import { codeFrom, registerUser, signedInUser, tokenFrom, VERIFY_EMAIL_SUBJECT, waitForMail } from '../helpers/factories.js'
import { freePort } from '../helpers/network.js'
import { describeWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'
import { collectingLogger, PROJECT_NAME, smtpConfig, startSmtpServer, testConfig, type TestSmtpServer } from './helpers.js'

const TRANSLATIONS = EMAIL_LANGUAGES.filter((language) => language !== DEFAULT_EMAIL_LANGUAGE)
const SAMPLE_DATA = {
  username: 'alice',
  code: '123456',
  link: 'https://app.example.com/x?token=a&b=c',
  expires_minutes: 15,
  minutes: 15,
  new_email: 'n***@example.com',
  time: '2026-01-02 03:04 UTC',
  device: 'Firefox on Linux',
  ip: '203.0.113.9',
  name: 'deploy-bot',
  prefix: 'cbs_0123456789ab',
  scopes: 'read, write',
  provider: 'GitHub',
}
/**
 * A subject as the recipient reads it. Nodemailer sends a non-ASCII subject as RFC 2047 encoded words
 * (`=?UTF-8?Q?Tu_c=C3=B3digo...?=`), which the test SMTP server keeps raw; the bytes of all the words are
 * joined before decoding, since a character may be split between two words.
 */
function decodedSubject(raw: string): string {
  const words = [...raw.matchAll(/=\?UTF-8\?([QB])\?([^?]*)\?=/gi)]
  if (words.length === 0) return raw
  expect(raw.replace(/=\?UTF-8\?[QB]\?[^?]*\?=/gi, '').trim(), 'text outside the encoded words').toBe('')
  const bytes = words.map(([, encoding = '', text = '']) =>
    encoding.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
          'latin1',
        ),
  )
  return Buffer.concat(bytes).toString('utf8')
}
const folderOf = (language: string) => (language === DEFAULT_EMAIL_LANGUAGE ? TEMPLATE_DIR : join(TEMPLATE_DIR, language))

/**
 * A template's placeholders per part, read straight from the files (not through the loader), so a missing
 * file or key fails here with the template and language in the test's name.
 */
function placeholders(language: string, name: string) {
  const folder = folderOf(language)
  const read = (file: string) => readFileSync(join(folder, file), 'utf8')
  const keys = (text: string) => [...new Set([...text.matchAll(/\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g)].map((match) => match[1]))].sort()
  const [subjectLine = '', ...body] = read(`${name}.txt`).split('\n')
  expect(subjectLine, `${language}/${name}.txt first line`).toMatch(/^Subject: \S/)
  const layout = readFileSync(join(TEMPLATE_DIR, '_layout.html'), 'utf8')
  return { subject: keys(subjectLine), text: keys(body.join('\n')), html: keys(layout + read('_footer.html') + read(`${name}.html`)) }
}

describe('shipped translations', () => {
  it('ships English, Spanish, French and German', () => {
    expect([...EMAIL_LANGUAGES].sort()).toEqual(['de', 'en', 'es', 'fr'])
  })

  const cases = TRANSLATIONS.flatMap((language) => TEMPLATE_NAMES.map((name) => [language, name] as const))
  it.each(cases)('%s/%s has the files of the English one with the same placeholders in subject, HTML and text', (language, name) => {
    for (const file of [`${name}.html`, `${name}.txt`, '_footer.html']) expect(existsSync(join(folderOf(language), file)), `${language}/${file}`).toBe(true)
    const english = placeholders('en', name)
    expect(english.html.length).toBeGreaterThan(0)
    expect(placeholders(language, name)).toEqual(english)
  })

  it.each(cases)('%s/%s renders translated words, no placeholder left, the project name in every part', (language, name) => {
    const translated = renderTemplate(name, SAMPLE_DATA, { projectName: 'Acme', language })
    const english = renderTemplate(name, SAMPLE_DATA, { projectName: 'Acme', language: 'en' })

    for (const part of ['subject', 'html', 'text'] as const) {
      expect(translated[part]).toContain('Acme')
      expect(translated[part]).not.toMatch(/\{\{|\}\}/)
      // A copy of the English file would pass every placeholder check; it must really be translated.
      expect(translated[part]).not.toBe(english[part])
    }
    expect(translated.html).toContain(`<html lang="${language}">`)
    expect(translated.html).not.toContain('<!--')
  })

  /** A language's footer as the recipient sees it (its `_footer.html`, project name filled in and escaped). */
  const footerOf = (language: string, projectName: string) =>
    readFileSync(join(folderOf(language), '_footer.html'), 'utf8')
      .trim()
      .replace(/\{\{project_name\}\}/g, projectName.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'))
  /** The footer cell of a rendered email: the last row of the card. */
  const footerCell = (html: string) => html.match(/<tr><td[^>]*>((?:(?!<tr>|<\/td>)[\s\S])*)<\/td><\/tr>\s*<\/table>/)?.[1]

  it.each(EMAIL_LANGUAGES)("%s: every template but the test email ends with that language's own footer", (language) => {
    const footer = footerOf(language, '<Acme & Co>')
    expect(footer).toContain('&lt;Acme &amp; Co&gt;')
    for (const name of TEMPLATE_NAMES.filter((template) => template !== 'test-email')) {
      const email = renderTemplate(name, SAMPLE_DATA, { projectName: '<Acme & Co>', language })
      expect(footerCell(email.html), `${language}/${name}`).toBe(footer)
      for (const other of EMAIL_LANGUAGES.filter((candidate) => candidate !== language)) expect(email.html).not.toContain(footerOf(other, '<Acme & Co>'))
    }
    // A body that brings its own footer line keeps it, in its language.
    const test = renderTemplate('test-email', SAMPLE_DATA, { projectName: 'Acme', language })
    expect(footerCell(test.html)).not.toBe(footerOf(language, 'Acme'))
    expect(footerCell(test.html)).toContain('Acme')
    expect(footerCell(test.html)).not.toBe(
      footerCell(renderTemplate('test-email', SAMPLE_DATA, { projectName: 'Acme', language: language === 'en' ? 'de' : 'en' }).html),
    )
  })

  it('sends every language in the one layout: only the lang attribute, the words and the footer differ', () => {
    const shellOf = (language: string) => {
      const html = renderTemplate('password-changed', SAMPLE_DATA, { projectName: 'Acme', language }).html
      const footer = footerCell(html) ?? ''
      const body = html.slice(html.indexOf('<tr><td style="padding:32px'), html.lastIndexOf(footer))
      return html
        .replace(`lang="${language}"`, 'lang=""')
        .replace(/<title>[^<]*<\/title>/, '<title></title>')
        .replace(body, '')
        .replace(footer, '')
    }
    const english = shellOf('en')
    expect(english).toContain('<html lang="">')
    for (const language of TRANSLATIONS) expect(shellOf(language), language).toBe(english)
  })

  it.each(TRANSLATIONS)('%s: the sign-in code stands alone on its line, where the tests and users look for it', (language) => {
    expect(codeFrom(renderTemplate('two-fa-code', SAMPLE_DATA, { projectName: 'Acme', language }))).toBe('123456')
  })

  it.each(EMAIL_LANGUAGES)('%s: escapes a value in the HTML part and keeps it as written in the text part', (language) => {
    const username = `<script>alert("x")</script> & O'Neil`
    const email = renderTemplate('password-reset', { ...SAMPLE_DATA, username }, { projectName: '<Acme>', language })

    expect(email.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; O&#39;Neil')
    expect(email.html).toContain('&lt;Acme&gt;')
    expect(email.html).toContain('href="https://app.example.com/x?token=a&amp;b=c"')
    expect(email.html).not.toContain('<script>')
    expect(email.text).toContain(username)
  })

  it.each(EMAIL_LANGUAGES)('%s: never lets CR/LF from a value into the subject line', (language) => {
    const email = renderTemplate('test-email', {}, { projectName: 'Acme\r\nBcc: victim@example.com', language })

    expect(email.subject).not.toMatch(/[\r\n]/)
    expect(email.subject).toContain('Acme Bcc: victim@example.com')
  })
})

describe('choosing the language', () => {
  it.each([
    ['en', 'en'],
    ['es', 'es'],
    ['fr', 'fr'],
    ['de', 'de'],
    ['de-AT', 'de'],
    ['DE-at', 'de'],
    ['fr_CA', 'fr'],
    ['es-419', 'es'],
    ['ES', 'es'],
    [' fr ', 'fr'],
    ['pt-BR', 'en'],
    ['pt', 'en'],
    ['zh-Hant-TW', 'en'],
    ['xx', 'en'],
    ['', 'en'],
    [null, 'en'],
    [undefined, 'en'],
  ])('%j gets %s', (requested, expected) => {
    expect(resolveEmailLanguage(requested)).toBe(expected)
  })

  it('renders the fallback, not an error, for a language that is not shipped', () => {
    const english = renderTemplate('verify-email', SAMPLE_DATA, { projectName: 'Acme' })

    expect(english.subject).toBe('Confirm your email address for Acme')
    expect(renderTemplate('verify-email', SAMPLE_DATA, { projectName: 'Acme', language: 'pt-BR' })).toEqual(english)
    expect(renderTemplate('verify-email', SAMPLE_DATA, { projectName: 'Acme', language: 'de-AT' }).subject).toBe('Bestätigen Sie Ihre E-Mail-Adresse für Acme')
  })
})

describe('loading translations at boot', () => {
  let dir = ''
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** A copy of the shipped templates to break one thing in. */
  function copyTemplates(): string {
    dir = mkdtempSync(join(tmpdir(), 'email-templates-'))
    cpSync(TEMPLATE_DIR, dir, { recursive: true })
    return dir
  }
  const edit = (file: string, change: (text: string) => string) => writeFileSync(join(dir, file), change(readFileSync(join(dir, file), 'utf8')))

  it('loads the shipped set from a copy (so each failure below is the one change made)', () => {
    const set = loadTemplatesFrom(copyTemplates())
    expect([...set.keys()].sort()).toEqual([...EMAIL_LANGUAGES].sort())
    for (const language of EMAIL_LANGUAGES) expect([...(set.get(language)?.keys() ?? [])].sort()).toEqual([...TEMPLATE_NAMES].sort())
  })

  it('fails when a translation file is missing', () => {
    rmSync(join(copyTemplates(), 'fr', 'password-reset.txt'))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/fr/password-reset.txt cannot be read')
  })

  it('fails when a translation drops a placeholder', () => {
    copyTemplates()
    edit('es/verify-email.txt', (text) => text.replace('{{link}}', 'https://example.com'))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/es/verify-email (text) uses the placeholders [project_name, username]')
  })

  it('fails when a translation adds a placeholder or misspells one', () => {
    copyTemplates()
    edit('de/two-fa-code.html', (text) => text.replace('{{code}}', '{{kode}}'))
    expect(() => loadTemplatesFrom(dir)).toThrow(/templates\/email\/de\/two-fa-code \(html\) uses the placeholders \[.*kode.*\], but the English one uses/)
  })

  it('fails when a translated subject loses its placeholder', () => {
    copyTemplates()
    edit('fr/test-email.txt', (text) => text.replace(/^Subject: .*$/m, 'Subject: E-mail de test'))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/fr/test-email (subject) uses the placeholders []')
  })

  it('fails on a malformed translation, naming the file', () => {
    copyTemplates()
    edit('es/password-changed.txt', (text) => text.replace(/^Subject: /, 'Asunto: '))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/es/password-changed.txt must start with a "Subject: ..." line')
  })

  it('fails when a language has no footer, or brings its own layout', () => {
    rmSync(join(copyTemplates(), 'es', '_footer.html'))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/es/_footer.html cannot be read')
    cpSync(join(TEMPLATE_DIR, 'es', '_footer.html'), join(dir, 'es', '_footer.html'))
    cpSync(join(dir, '_layout.html'), join(dir, 'fr', '_layout.html'))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/fr/_layout.html: every language uses templates/email/_layout.html')
  })

  it('fills a footer placeholder per email, escaped, and never reads a slot from it', () => {
    copyTemplates()
    edit('de/_footer.html', (text) => text.replace('{{project_name}}', '{{{content}}}'))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/de/_footer.html: "footer" must not contain "{{{"')
  })

  it('fails on a language folder that is not in EMAIL_LANGUAGES, and on a stray file in a language folder', () => {
    mkdirSync(join(copyTemplates(), 'pt'))
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/pt/ is not a language of EMAIL_LANGUAGES')
    rmSync(join(dir, 'pt'), { recursive: true })
    writeFileSync(join(dir, 'de', 'verify-emial.txt'), 'Subject: x\n\nx\n')
    expect(() => loadTemplatesFrom(dir)).toThrow('templates/email/de/verify-emial.txt is not a template in TEMPLATE_NAMES')
  })
})

describe('the mailer sends in the recipient language', () => {
  const mailers: Mailer[] = []
  const servers: TestSmtpServer[] = []
  afterEach(async () => {
    await Promise.all(mailers.splice(0).map((mailer) => mailer.close()))
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })

  it('delivers over SMTP in Spanish and logs what it logged before: template and masked address, no body, no language', async () => {
    const server = await startSmtpServer()
    servers.push(server)
    const logger = collectingLogger()
    const mailer = createMailer({ config: smtpConfig(server.port), logger, retry: { attempts: 3, baseDelayMs: 50 } })
    mailers.push(mailer)

    await mailer.send({ to: 'ana@example.com', template: 'two-fa-code', language: 'es-MX', data: { username: 'ana', code: '482913', expires_minutes: 10 } })
    const [message] = await server.waitForMessages(1)

    expect(decodedSubject(message?.subject ?? '')).toBe(`Tu código de inicio de sesión de ${PROJECT_NAME}`)
    expect(message?.html).toContain('<html lang="es">')
    expect(message?.text).toContain('Introduce este código')
    await waitFor(() => logger.lines.some((line) => line.message === 'email sent'), 'an "email sent" line')
    const sent = logger.lines.find((line) => line.message === 'email sent')
    expect(Object.keys(sent?.fields ?? {}).sort()).toEqual(['attempt', 'max_attempts', 'message_id', 'template', 'to'])
    expect(logger.text()).not.toContain('482913')
    expect(logger.text()).not.toContain('Introduce')
  })

  it('renders the dev outbox copy in the recipient language, English for pt-BR', async () => {
    const mailer = createMailer({ config: testConfig({ DEBUG: 'true' }), logger: collectingLogger() })
    mailers.push(mailer)

    await mailer.send({ to: 'lea@example.com', template: 'test-email', language: 'fr', data: {} })
    await mailer.send({ to: 'max@example.com', template: 'test-email', language: 'pt-BR', data: {} })

    expect(mailer.outbox().map((mail) => mail.subject)).toEqual([`${PROJECT_NAME} test email`, `E-mail de test de ${PROJECT_NAME}`])
  })
})

describeWith('redis')('the language survives the BullMQ queue (TEST_REDIS_URL)', () => {
  const redisUrl = process.env.TEST_REDIS_URL ?? ''
  const keyPrefix = `test-mail-i18n-${randomUUID()}:`
  const opened: { close(): Promise<void> }[] = []
  afterAll(async () => {
    for (const item of opened.reverse()) await item.close()
    const redis = new Redis(redisUrl)
    const keys = await redis.keys(`${keyPrefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })

  it('a German message queued by one process is delivered in German by the next', async () => {
    const port = await freePort()
    const env = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: keyPrefix }
    const first = createMailer({ config: smtpConfig(port, env), logger: collectingLogger(), retry: { attempts: 10, baseDelayMs: 300 } })
    await first.send({ to: 'jonas@example.com', template: 'password-changed', language: 'de-CH', data: { username: 'jonas' } })
    await waitFor(() => first.stats().retried >= 1, 'first.stats().retried >= 1')
    await first.close()

    const server = await startSmtpServer(port)
    const second = createMailer({ config: smtpConfig(port, env), logger: collectingLogger(), retry: { attempts: 10, baseDelayMs: 50 } })
    opened.push(server, second)
    const [message] = await server.waitForMessages(1, 15_000)

    expect(message?.envelopeTo).toEqual(['jonas@example.com'])
    expect(decodedSubject(message?.subject ?? '')).toBe(`Ihr Passwort für ${PROJECT_NAME} wurde geändert`)
  })
})

describe('through the API, the recipient language picks the mail', () => {
  const context = useTestContext()
  let app: App
  beforeAll(async () => {
    app = await context.buildApp()
  })

  const post = (url: string, payload?: object, headers?: Record<string, string>) =>
    app.inject({ method: 'POST', url: `/api/v1/auth/${url}`, ...(payload ? { payload } : {}), ...(headers ? { headers } : {}) })

  it('registration with "language": "es" mails the verification in Spanish, and its link works', async () => {
    const user = await registerUser(app, { language: 'es' })
    const mail = await waitForMail(app, user.email, { subject: /^Confirma tu dirección de correo para / })

    expect(mail.text).toContain(`Hola, ${user.username}:`)
    expect(mail.html).toContain('Confirmar dirección de correo')
    expect((await post('verify-email', { token: tokenFrom(mail) })).statusCode).toBe(200)
  })

  it('a language that is not shipped (pt-BR) gets the English mail', async () => {
    const user = await registerUser(app, { language: 'pt-BR' })
    const mail = await waitForMail(app, user.email, { subject: VERIFY_EMAIL_SUBJECT })

    expect(mail.subject).toBe('Confirm your email address for carbelsad')
    expect(mail.text).toContain(`Hi ${user.username},`)
  })

  it('after PUT /users/update/{id} sets "es", the password reset comes in Spanish', async () => {
    const user = await signedInUser(app)
    const updated = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}`, headers: user.headers, payload: { language: 'es' } })
    expect(updated.json()).toMatchObject({ language: 'es' })

    expect((await post('forgot-password', { email: user.email })).statusCode).toBe(202)
    const mail = await waitForMail(app, user.email, { subject: /^Restablece tu contraseña de / })
    const reset = await post('reset-password', { token: tokenFrom(mail), new_password: 'Another-horse-battery-7' })
    expect(reset.statusCode, reset.body).toBe(200)
    await waitForMail(app, user.email, { subject: /^Se restableció tu contraseña de / })
  })

  it('a de-AT user gets the 2FA codes and notices in German, and the German code signs them in', async () => {
    const user = await signedInUser(app, 'user', { language: 'de-AT' })
    expect((await post('enable-2fa', undefined, user.headers)).statusCode).toBe(200)
    const enableMail = await waitForMail(app, user.email, { subject: /^Ihr Anmeldecode für / })
    expect(enableMail.text).toContain('geben Sie diesen Code')
    const enabled = await post('enable-2fa', { code: codeFrom(enableMail) }, user.headers)
    expect(enabled.json()).toMatchObject({ two_fa_enabled: true })
    await waitForMail(app, user.email, { subject: /^Die Zwei-Faktor-Authentifizierung ist jetzt für Ihr Konto/ })

    const challenge = await post('login', { username_or_email: user.username, password: user.password })
    expect(challenge.json()).toMatchObject({ requires_2fa: true, method: 'email' })
    const loginMail = await waitForMail(app, user.email, { subject: /^Ihr Anmeldecode für /, exclude: [enableMail.id] })
    const verified = await post('verify-2fa', { challenge_token: challenge.json().challenge_token, code: codeFrom(loginMail) })
    expect(verified.statusCode, verified.body).toBe(200)
  })

  it('an email change asks the new address and tells the old one, both in the user language', async () => {
    const user = await signedInUser(app, 'user', { language: 'es' })
    const newEmail = `nuevo-${user.email}`
    const changed = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}`, headers: user.headers, payload: { email: newEmail } })
    expect(changed.json()).toMatchObject({ pending_email: newEmail })

    const confirm = await waitForMail(app, newEmail, { subject: /^Confirma tu nueva dirección de correo para / })
    const notice = await waitForMail(app, user.email, { subject: /^Se pidió una nueva dirección de correo para tu cuenta de / })
    expect(notice.text).not.toContain(newEmail)
    expect((await post('verify-email', { token: tokenFrom(confirm) })).statusCode).toBe(200)
  })

  it('the test email goes out in the caller language (French)', async () => {
    const user = await signedInUser(app, 'user', { language: 'fr' })
    expect((await post('test-2fa', undefined, user.headers)).statusCode).toBe(200)
    const mail = await waitForMail(app, user.email, { subject: /^E-mail de test de / })
    expect(mail.html).toContain('<html lang="fr">')
  })

  it('a security notice follows a language changed after registration (password changed, in German)', async () => {
    const user = await signedInUser(app, 'user', { language: 'en' })
    await app.inject({ method: 'PUT', url: `/api/v1/users/update/${user.id}`, headers: user.headers, payload: { language: 'de' } })
    const changed = await app.inject({
      method: 'POST',
      url: '/api/v1/users/me/password',
      headers: user.headers,
      payload: { current_password: user.password, new_password: 'Another-horse-battery-8' },
    })
    expect(changed.statusCode, changed.body).toBe(200)
    const mail = await waitForMail(app, user.email, { subject: /^Ihr Passwort für .* wurde geändert$/ })
    expect(mail.text).toContain('das Passwort Ihres Kontos')
  })
})
