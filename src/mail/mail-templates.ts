import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Each template is two files in `templates/email/`: `<name>.html` and `<name>.txt`. The .txt opens with a
 * `Subject: ...` line and a blank line, so the subject is edited next to the words it summarises.
 *
 * Placeholders each template expects (`{{project_name}}` is always filled in by the renderer):
 * - two-fa-code: username, code, expires_minutes
 * - test-email: none
 * - verify-email: username, link
 * - password-reset: username, link, expires_minutes
 * - password-changed, two-fa-enabled, two-fa-disabled: username
 */
export const TEMPLATE_NAMES = [
  'two-fa-code',
  'test-email',
  'verify-email',
  'password-reset',
  'password-changed',
  'two-fa-enabled',
  'two-fa-disabled',
] as const

export type TemplateName = (typeof TEMPLATE_NAMES)[number]
export type TemplateData = Readonly<Record<string, string | number>>

export interface RenderedEmail {
  readonly subject: string
  readonly html: string
  readonly text: string
}

// Two levels up is the project root both from src/mail (tsx, vitest) and from dist/mail (compiled).
const TEMPLATE_DIR = join(import.meta.dirname, '../../templates/email')
const PLACEHOLDER = /\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g
const SUBJECT_HEADER = /^Subject:[ \t]*([^\r\n]+)\r?\n\r?\n/
const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** The raw files, placeholders still in place. */
let cache: ReadonlyMap<TemplateName, RenderedEmail> | undefined

/** Reads every template once; the mailer calls it at startup so a missing or malformed file fails the boot. */
export function loadTemplates(): ReadonlyMap<TemplateName, RenderedEmail> {
  cache ??= new Map(TEMPLATE_NAMES.map((name) => [name, readTemplate(name)]))
  return cache
}

function readTemplate(name: TemplateName): RenderedEmail {
  const read = (extension: string) => readFileSync(join(TEMPLATE_DIR, `${name}.${extension}`), 'utf8')
  const textFile = read('txt')
  const header = SUBJECT_HEADER.exec(textFile)
  if (!header?.[1]) throw new Error(`templates/email/${name}.txt must start with a "Subject: ..." line followed by a blank line`)
  return { subject: header[1].trim(), html: read('html'), text: textFile.slice(header[0].length) }
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (char) => HTML_ENTITIES[char] ?? char)

// A subject is a header line: control characters from a value (CR/LF above all) must never reach it.
const toHeaderText = (value: string) => value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()

/**
 * Fills a template. Values are HTML-escaped in the HTML part and kept as they are in the text part.
 * A placeholder without a value throws: that is a bug in the caller, and sending `{{code}}` to a user is worse
 * than failing loudly.
 */
export function renderTemplate(name: TemplateName, data: TemplateData, options: { projectName: string }): RenderedEmail {
  const template = loadTemplates().get(name)
  if (!template) throw new Error(`unknown email template "${name}"`)
  const values: TemplateData = { ...data, project_name: options.projectName }

  // One pass with a callback, so a value that itself looks like {{placeholder}} is never expanded again.
  const fill = (source: string, encode: (value: string) => string) =>
    source.replace(PLACEHOLDER, (_match, key: string) => {
      const value = Object.hasOwn(values, key) ? values[key] : undefined
      if (value === undefined) throw new Error(`email template "${name}" needs a value for {{${key}}}`)
      return encode(String(value))
    })

  return {
    subject: toHeaderText(fill(template.subject, toHeaderText)),
    html: fill(template.html, escapeHtml),
    text: fill(template.text, (value) => value),
  }
}
