import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderTemplate, TEMPLATE_NAMES } from '../../src/mail/mail-templates.js'

// Every placeholder any template uses (see the list in mail-templates.ts), so each template can be rendered.
const SAMPLE_DATA = {
  username: 'alice',
  code: '123456',
  link: 'https://app.example.com/reset?token=a&b=c',
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
const TEMPLATE_DIR = join(import.meta.dirname, '../../templates/email')

/** A body fragment as the test expects to see it: its `<!-- key: value -->` lines split off, sample values filled in. */
function expectedBody(name: string, values: Record<string, string | number>) {
  let source = readFileSync(join(TEMPLATE_DIR, `${name}.html`), 'utf8')
  const meta: Record<string, string> = {}
  for (let line = /^<!-- ([a-z]+): (.*) -->\n/.exec(source); line; line = /^<!-- ([a-z]+): (.*) -->\n/.exec(source)) {
    meta[line[1] ?? ''] = line[2] ?? ''
    source = source.slice(line[0].length)
  }
  const escapeHtml = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
  const fill = (text: string) => text.replace(/\{\{([a-z_]+)\}\}/g, (_match, key: string) => escapeHtml(String(values[key])))
  return { title: meta.title === undefined ? undefined : fill(meta.title), body: fill(source.trimEnd()) }
}

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1

describe('email templates', () => {
  it.each(TEMPLATE_NAMES)('%s renders a subject, HTML and text branded with the project name', (name) => {
    const email = renderTemplate(name, SAMPLE_DATA, { projectName: 'Acme' })

    expect(email.subject).toContain('Acme')
    expect(email.html).toContain('Acme')
    expect(email.text).toContain('Acme')
    for (const part of [email.subject, email.html, email.text]) expect(part).not.toMatch(/\{\{|\}\}/)
  })

  it.each(TEMPLATE_NAMES)('%s is its own body inside the one shared layout', (name) => {
    const email = renderTemplate(name, SAMPLE_DATA, { projectName: 'Acme' })
    const expected = expectedBody(name, { ...SAMPLE_DATA, project_name: 'Acme' })

    expect(count(email.html, '<html')).toBe(1)
    expect(count(email.html, '</html>')).toBe(1)
    expect(count(email.html, '<!doctype html>')).toBe(1)
    expect(email.html.startsWith('<!doctype html>')).toBe(true)
    // The header is the first single-cell row holding plain text.
    expect(email.html.match(/<tr><td[^>]*>([^<]*)<\/td><\/tr>/)?.[1]).toBe('Acme')
    expect(expected.title).toBeTruthy()
    expect(email.html).toContain(`<title>${expected.title}</title>`)
    expect(count(email.html, expected.body)).toBe(1)
    expect(email.html).not.toContain('<!--')
    for (const other of TEMPLATE_NAMES.filter((n) => n !== name)) {
      expect(email.html).not.toContain(expectedBody(other, { ...SAMPLE_DATA, project_name: 'Acme' }).body)
    }
  })

  it('never treats a value as a layout slot', () => {
    const email = renderTemplate('two-fa-enabled', { username: '{{{content}}}' }, { projectName: '{{{footer}}}' })

    expect(email.html).toContain('Hi {{{content}}},')
    expect(email.html).toMatch(/<tr><td[^>]*>\{\{\{footer\}\}\}<\/td><\/tr>/)
    expect(count(email.html, '<html')).toBe(1)
    expect(count(email.html, 'Two-factor authentication is now turned on')).toBe(1)
  })

  it('fills the lang slot with the language tag only, never with a value', () => {
    const german = renderTemplate('two-fa-enabled', { username: '{{{lang}}}' }, { projectName: '{{{lang}}}', language: 'de-AT' })

    expect(german.html).toContain('<html lang="de">')
    expect(german.html).toMatch(/<tr><td[^>]*>\{\{\{lang\}\}\}<\/td><\/tr>/)
    expect(renderTemplate('two-fa-enabled', { username: 'a' }, { projectName: 'Acme', language: 'pt-BR' }).html).toContain('<html lang="en">')
  })

  it('ends the English mail with the English footer, the project name escaped in it', () => {
    const footer = readFileSync(join(TEMPLATE_DIR, '_footer.html'), 'utf8').trim().replace('{{project_name}}', '&lt;Acme&gt;')
    const email = renderTemplate('password-changed', SAMPLE_DATA, { projectName: '<Acme>' })

    expect(footer).toContain('&lt;Acme&gt;')
    // The last row of the card, right before its table closes.
    expect(email.html).toContain(`>${footer}</td></tr>\n</table>`)
  })

  it('escapes every value in the HTML part and keeps it as written in the text part', () => {
    const email = renderTemplate('password-reset', { ...SAMPLE_DATA, username: `<b onclick="x">O'Neil & co</b>` }, { projectName: '<Acme>' })

    expect(email.html).toContain('&lt;b onclick=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/b&gt;')
    expect(email.html).toContain('href="https://app.example.com/reset?token=a&amp;b=c"')
    expect(email.html).toContain('&lt;Acme&gt;')
    expect(email.html).not.toContain('<b onclick')
    expect(email.text).toContain(`Hi <b onclick="x">O'Neil & co</b>,`)
    expect(email.text).toContain('https://app.example.com/reset?token=a&b=c')
  })

  it('never lets CR/LF from a value into the subject line', () => {
    const email = renderTemplate('test-email', {}, { projectName: 'Acme\r\nBcc: victim@example.com' })

    expect(email.subject).not.toMatch(/[\r\n]/)
    expect(email.subject).toBe('Acme Bcc: victim@example.com test email')
  })

  it('does not expand placeholders that arrive inside values', () => {
    const email = renderTemplate('two-fa-enabled', { username: '{{project_name}}' }, { projectName: 'Acme' })

    expect(email.text).toContain('Hi {{project_name}},')
  })

  it('throws on a placeholder without a value, naming it', () => {
    expect(() => renderTemplate('two-fa-code', { username: 'alice', expires_minutes: 5 }, { projectName: 'Acme' })).toThrow(
      'email template "two-fa-code" needs a value for {{code}}',
    )
  })
})
