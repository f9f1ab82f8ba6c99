import { describe, expect, it } from 'vitest'
import { renderTemplate, TEMPLATE_NAMES } from '../../src/mail/mail-templates.js'

const SAMPLE_DATA = { username: 'alice', code: '123456', link: 'https://app.example.com/reset?token=a&b=c', expires_minutes: 15 }

describe('email templates', () => {
  it.each(TEMPLATE_NAMES)('%s renders a subject, HTML and text branded with the project name', (name) => {
    const email = renderTemplate(name, SAMPLE_DATA, { projectName: 'Acme' })

    expect(email.subject).toContain('Acme')
    expect(email.html).toContain('Acme')
    expect(email.text).toContain('Acme')
    for (const part of [email.subject, email.html, email.text]) expect(part).not.toMatch(/\{\{|\}\}/)
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
