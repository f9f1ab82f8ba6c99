import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Each template is two files in `templates/email/`: `<name>.html` and `<name>.txt`. The .txt opens with a
 * `Subject: ...` line and a blank line, so the subject is edited next to the words it summarises.
 *
 * The .html is only the body: `_layout.html` holds the shell (doctype, head, header with the project name,
 * footer) once, with `{{{title}}}`, `{{{content}}}` and `{{{footer}}}` slots. A body file opens with
 * `<!-- title: ... -->` and may add `<!-- footer: ... -->` to replace the default footer, which the layout
 * declares the same way on its own first line. Slots are filled from these files when they are loaded, before
 * any value exists, so user data can never reach a slot; `{{placeholders}}` in the layout, the title, the
 * footer and the body are then filled (and escaped) per email like before.
 *
 * Placeholders each template expects (`{{project_name}}` is always filled in by the renderer):
 * - two-fa-code: username, code, expires_minutes
 * - test-email: none
 * - verify-email: username, link
 * - password-reset: username, link, expires_minutes
 * - password-changed, password-reset-done, signed-out-everywhere, two-fa-enabled, two-fa-disabled: username
 * - email-change-confirm: username, link, expires_minutes
 * - email-change-requested, email-changed-by-admin: username, new_email (masked)
 * - two-fa-locked: username, minutes
 * - new-sign-in: username, time, device, ip, link
 * - account-deleted: username
 */
export const TEMPLATE_NAMES = [
  'two-fa-code',
  'test-email',
  'verify-email',
  'password-reset',
  'password-changed',
  'two-fa-enabled',
  'two-fa-disabled',
  'password-reset-done',
  'signed-out-everywhere',
  'email-change-confirm',
  'email-change-requested',
  'email-changed-by-admin',
  'two-fa-locked',
  'new-sign-in',
  'account-deleted',
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
const LAYOUT_FILE = '_layout.html'
const SLOT = /\{\{\{\s*([a-z][a-z0-9_]*)\s*\}\}\}/g
const SLOT_NAMES = ['title', 'content', 'footer'] as const
// `<!-- key: value -->` lines at the very top of a layout or body file; `.` keeps the value on one line.
const META_LINE = /^<!--[ \t]*([a-z][a-z0-9_-]*):[ \t]*(.*?)[ \t]*-->[ \t]*\r?\n/

/** The files (each body already inside the layout), placeholders still in place. */
let cache: ReadonlyMap<TemplateName, RenderedEmail> | undefined

/** Reads every template once; the mailer calls it at startup so a missing or malformed file fails the boot. */
export function loadTemplates(): ReadonlyMap<TemplateName, RenderedEmail> {
  if (!cache) {
    const layout = readLayout()
    cache = new Map(TEMPLATE_NAMES.map((name) => [name, readTemplate(name, layout)]))
  }
  return cache
}

const readFile = (file: string) => readFileSync(join(TEMPLATE_DIR, file), 'utf8')

/** Splits the leading `<!-- key: value -->` lines off a file. */
function splitMeta(source: string, file: string): { meta: Map<string, string>; rest: string } {
  const meta = new Map<string, string>()
  let rest = source
  for (let line = META_LINE.exec(rest); line; line = META_LINE.exec(rest)) {
    const [whole, key = '', value = ''] = line
    if (meta.has(key)) throw new Error(`templates/email/${file} sets "${key}" twice`)
    meta.set(key, value)
    rest = rest.slice(whole.length)
  }
  return { meta, rest }
}

interface Layout {
  readonly shell: string
  readonly defaults: ReadonlyMap<string, string>
}

function readLayout(): Layout {
  const { meta, rest } = splitMeta(readFile(LAYOUT_FILE), LAYOUT_FILE)
  const used = [...rest.matchAll(SLOT)].map((match) => match[1])
  for (const slot of used) {
    if (!(SLOT_NAMES as readonly (string | undefined)[]).includes(slot)) throw new Error(`templates/email/${LAYOUT_FILE} has an unknown slot {{{${slot}}}}`)
  }
  if (used.filter((slot) => slot === 'content').length !== 1) throw new Error(`templates/email/${LAYOUT_FILE} must have exactly one {{{content}}} slot`)
  for (const key of meta.keys()) {
    if (key !== 'footer') throw new Error(`templates/email/${LAYOUT_FILE} may only set a default "footer", not "${key}"`)
  }
  return { shell: rest, defaults: meta }
}

/** Puts a body fragment into the layout. Runs at load time, on file contents only. */
function composeHtml(name: TemplateName, layout: Layout): string {
  const file = `${name}.html`
  const { meta, rest } = splitMeta(readFile(file), file)
  for (const key of meta.keys()) {
    if (key !== 'title' && key !== 'footer') throw new Error(`templates/email/${file} sets an unknown "${key}"`)
  }
  const slots = new Map<string, string>([...layout.defaults, ...meta, ['content', rest.replace(/\s+$/, '')]])
  for (const [slot, value] of slots) {
    if (value.includes('{{{')) throw new Error(`templates/email/${file}: "${slot}" must not contain "{{{"`)
  }
  // One pass with a callback: slot values are inserted as written and never scanned for slots again.
  return layout.shell.replace(SLOT, (_match, slot: string) => {
    const value = slots.get(slot)
    if (value === undefined) throw new Error(`templates/email/${file} must start with a "<!-- ${slot}: ... -->" line`)
    return value
  })
}

function readTemplate(name: TemplateName, layout: Layout): RenderedEmail {
  const textFile = readFile(`${name}.txt`)
  const header = SUBJECT_HEADER.exec(textFile)
  if (!header?.[1]) throw new Error(`templates/email/${name}.txt must start with a "Subject: ..." line followed by a blank line`)
  return { subject: header[1].trim(), html: composeHtml(name, layout), text: textFile.slice(header[0].length) }
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
