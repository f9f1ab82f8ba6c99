import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Each template is two files in `templates/email/`: `<name>.html` and `<name>.txt`. The .txt opens with a
 * `Subject: ...` line and a blank line, so the subject is edited next to the words it summarises.
 *
 * The .html is only the body: `templates/email/_layout.html` holds the shell (doctype, head, header with the
 * project name, footer) once for every language, with `{{{lang}}}`, `{{{title}}}`, `{{{content}}}` and
 * `{{{footer}}}` slots. `lang` is the language's tag; the footer is the language's `_footer.html`, which a
 * body may replace with a `<!-- footer: ... -->` line; a body file opens with `<!-- title: ... -->`. Slots are
 * filled from these files when they are loaded, before any value exists, so user data can never reach a
 * slot; `{{placeholders}}` in the layout, the title, the footer and the body are then filled (and escaped)
 * per email like before.
 *
 * Languages: English, the base, is at the top of `templates/email/`; every other language in EMAIL_LANGUAGES
 * has the same files (its own `_footer.html` included, but not the layout) in `templates/email/<language>/`.
 * A translation must use exactly the placeholders of the English file, part by part (subject, HTML, text), or
 * the boot fails.
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
 * - email-login: username, link, code, expires_minutes
 * - api-key-created: username, name, prefix (the visible start `cbs_…`, never the key), scopes, link
 * - recovery-codes-regenerated: username, link (never the codes)
 * - passkey-added: username, name (the passkey's), link
 * - identity-linked: username, provider (the provider's label), link
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
  'email-login',
  'api-key-created',
  'recovery-codes-regenerated',
  'passkey-added',
  'identity-linked',
] as const

/**
 * The languages every template ships in, as BCP 47 tags; each but English is a folder of `templates/email/`.
 * A region-specific translation would be added as its own tag (`pt-BR`) next to the general one (`pt`).
 */
export const EMAIL_LANGUAGES = ['en', 'es', 'fr', 'de'] as const
/** What a recipient gets when none of EMAIL_LANGUAGES fits their `language`; also the base the others are checked against. */
export const DEFAULT_EMAIL_LANGUAGE = 'en' satisfies EmailLanguage

export type TemplateName = (typeof TEMPLATE_NAMES)[number]
export type EmailLanguage = (typeof EMAIL_LANGUAGES)[number]
export type TemplateData = Readonly<Record<string, string | number>>

export interface RenderedEmail {
  readonly subject: string
  readonly html: string
  readonly text: string
}

export interface RenderOptions {
  projectName: string
  /** The recipient's language (`users.language`); anything unknown or missing gets English. */
  language?: string | null
}

/** Every template of every language, each body already inside its language's layout, placeholders still in place. */
export type TemplateSet = ReadonlyMap<EmailLanguage, ReadonlyMap<TemplateName, RenderedEmail>>

// Two levels up is the project root both from src/mail (tsx, vitest) and from dist/mail (compiled).
export const TEMPLATE_DIR = join(import.meta.dirname, '../../templates/email')
const PLACEHOLDER = /\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g
const SUBJECT_HEADER = /^Subject:[ \t]*([^\r\n]+)\r?\n\r?\n/
const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
const LAYOUT_FILE = '_layout.html'
/** A language's own words around every body: today only the footer. */
const FOOTER_FILE = '_footer.html'
const SLOT = /\{\{\{\s*([a-z][a-z0-9_]*)\s*\}\}\}/g
const SLOT_NAMES = ['lang', 'title', 'content', 'footer'] as const
// `<!-- key: value -->` lines at the very top of a layout or body file; `.` keeps the value on one line.
const META_LINE = /^<!--[ \t]*([a-z][a-z0-9_-]*):[ \t]*(.*?)[ \t]*-->[ \t]*\r?\n/

let cache: TemplateSet | undefined

/** Reads every template once; the mailer calls it at startup so a missing or malformed file fails the boot. */
export function loadTemplates(): TemplateSet {
  cache ??= loadTemplatesFrom(TEMPLATE_DIR)
  return cache
}

/** Reads and checks every language under `dir` (uncached; loadTemplates is the one the app uses). */
export function loadTemplatesFrom(dir: string): TemplateSet {
  const layout = readLayout(dir)
  const base = readLanguage(dir, DEFAULT_EMAIL_LANGUAGE, layout)
  const all = new Map<EmailLanguage, ReadonlyMap<TemplateName, RenderedEmail>>([[DEFAULT_EMAIL_LANGUAGE, base]])
  for (const language of EMAIL_LANGUAGES) {
    if (language === DEFAULT_EMAIL_LANGUAGE) continue
    const templates = readLanguage(dir, language, layout)
    for (const [name, translated] of templates) {
      const english = base.get(name)
      if (english) samePlaceholders(language, name, translated, english)
    }
    all.set(language, templates)
  }
  checkFolders(dir)
  return all
}

/** Where a language's files are, relative to templates/email/. */
const languageFolder = (language: EmailLanguage) => (language === DEFAULT_EMAIL_LANGUAGE ? '' : `${language}/`)

/** One language's files, read and composed, with paths in messages as a translator sees them. */
function readLanguage(dir: string, language: EmailLanguage, layout: string): ReadonlyMap<TemplateName, RenderedEmail> {
  const folder = languageFolder(language)
  const source: Source = {
    read: (file) => {
      try {
        return readFileSync(join(dir, folder, file), 'utf8')
      } catch (error) {
        throw new Error(
          `templates/email/${folder}${file} cannot be read (every template ships in every language of EMAIL_LANGUAGES): ${(error as Error).message}`,
        )
      }
    },
    path: (file) => `templates/email/${folder}${file}`,
  }
  const frame: Frame = { shell: layout, lang: language, footer: readFooter(source) }
  return new Map(TEMPLATE_NAMES.map((name) => [name, readTemplate(name, frame, source)]))
}

/**
 * A file that belongs to no template or no language would never be sent: a typo in a name, or a language
 * folder added without adding it to EMAIL_LANGUAGES. Say so at boot instead of leaving it silently unused.
 */
function checkFolders(dir: string) {
  const expected = new Set([FOOTER_FILE, ...TEMPLATE_NAMES.flatMap((name) => [`${name}.html`, `${name}.txt`])])
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue
    if (!(EMAIL_LANGUAGES as readonly string[]).includes(entry.name) || entry.name === DEFAULT_EMAIL_LANGUAGE) {
      throw new Error(
        `templates/email/${entry.name}/ is not a language of EMAIL_LANGUAGES in src/mail/mail-templates.ts (English stays at the top of templates/email/)`,
      )
    }
    for (const file of readdirSync(join(dir, entry.name))) {
      // A copied layout would be silently ignored, and drift from the one every language is sent in.
      if (file === LAYOUT_FILE) {
        throw new Error(
          `templates/email/${entry.name}/${LAYOUT_FILE}: every language uses templates/email/${LAYOUT_FILE}; put this language's footer in ${FOOTER_FILE}`,
        )
      }
      if (!file.startsWith('.') && !expected.has(file)) throw new Error(`templates/email/${entry.name}/${file} is not a template in TEMPLATE_NAMES`)
    }
  }
}

const placeholdersOf = (source: string) => [...new Set([...source.matchAll(PLACEHOLDER)].map((match) => match[1]))].sort()

// A translation that drops {{link}} would mail a dead end; one that adds {{token}} would throw at send time.
function samePlaceholders(language: EmailLanguage, name: TemplateName, translated: RenderedEmail, english: RenderedEmail) {
  for (const part of ['subject', 'html', 'text'] as const) {
    const want = placeholdersOf(english[part]).join(', ')
    const got = placeholdersOf(translated[part]).join(', ')
    if (got !== want) {
      throw new Error(`templates/email/${language}/${name} (${part}) uses the placeholders [${got}], but the English one uses [${want}]`)
    }
  }
}

interface Source {
  read(file: string): string
  path(file: string): string
}

/** Splits the leading `<!-- key: value -->` lines off a file. */
function splitMeta(text: string, path: string): { meta: Map<string, string>; rest: string } {
  const meta = new Map<string, string>()
  let rest = text
  for (let line = META_LINE.exec(rest); line; line = META_LINE.exec(rest)) {
    const [whole, key = '', value = ''] = line
    if (meta.has(key)) throw new Error(`${path} sets "${key}" twice`)
    meta.set(key, value)
    rest = rest.slice(whole.length)
  }
  return { meta, rest }
}

/** The layout of one language: the shared shell with what that language puts in it. */
interface Frame {
  readonly shell: string
  readonly lang: EmailLanguage
  readonly footer: string
}

/** The one shell every language is sent in (templates/email/_layout.html). */
function readLayout(dir: string): string {
  const path = `templates/email/${LAYOUT_FILE}`
  let text: string
  try {
    text = readFileSync(join(dir, LAYOUT_FILE), 'utf8')
  } catch (error) {
    throw new Error(`${path} cannot be read: ${(error as Error).message}`)
  }
  const { meta, rest } = splitMeta(text, path)
  // The default footer used to be a line here; now each language has its own _footer.html.
  for (const key of meta.keys()) throw new Error(`${path} sets "${key}", but the layout takes no settings (the footer is in each language's ${FOOTER_FILE})`)
  const used = [...rest.matchAll(SLOT)].map((match) => match[1])
  for (const slot of used) {
    if (!(SLOT_NAMES as readonly (string | undefined)[]).includes(slot)) throw new Error(`${path} has an unknown slot {{{${slot}}}}`)
  }
  if (used.filter((slot) => slot === 'content').length !== 1) throw new Error(`${path} must have exactly one {{{content}}} slot`)
  return rest
}

/** A language's default footer: an HTML fragment that may use {{placeholders}}, like a body. */
function readFooter(source: Source): string {
  const footer = source.read(FOOTER_FILE).trim()
  if (footer === '') throw new Error(`${source.path(FOOTER_FILE)} is empty`)
  return footer
}

/** Puts a body fragment into its language's layout. Runs at load time, on file contents only. */
function composeHtml(name: TemplateName, frame: Frame, source: Source): string {
  const path = source.path(`${name}.html`)
  const { meta, rest } = splitMeta(source.read(`${name}.html`), path)
  for (const key of meta.keys()) {
    if (key !== 'title' && key !== 'footer') throw new Error(`${path} sets an unknown "${key}"`)
  }
  const slots = new Map<string, string>([['lang', frame.lang], ['footer', frame.footer], ...meta, ['content', rest.replace(/\s+$/, '')]])
  for (const [slot, value] of slots) {
    if (value.includes('{{{'))
      throw new Error(`${slot === 'footer' && !meta.has('footer') ? source.path(FOOTER_FILE) : path}: "${slot}" must not contain "{{{"`)
  }
  // One pass with a callback: slot values are inserted as written and never scanned for slots again.
  return frame.shell.replace(SLOT, (_match, slot: string) => {
    const value = slots.get(slot)
    if (value === undefined) throw new Error(`${path} must start with a "<!-- ${slot}: ... -->" line`)
    return value
  })
}

function readTemplate(name: TemplateName, frame: Frame, source: Source): RenderedEmail {
  const textFile = source.read(`${name}.txt`)
  const header = SUBJECT_HEADER.exec(textFile)
  if (!header?.[1]) throw new Error(`${source.path(`${name}.txt`)} must start with a "Subject: ..." line followed by a blank line`)
  return { subject: header[1].trim(), html: composeHtml(name, frame, source), text: textFile.slice(header[0].length) }
}

/**
 * The shipped language closest to a BCP 47 tag, as RFC 4647 "lookup" does it: the tag itself, then with its
 * last subtag dropped, again and again (`pt-BR` → `pt`, `de-AT` → `de`), then English. Case and `_` for `-`
 * do not matter, since stored values come from clients.
 */
export function resolveEmailLanguage(language: string | null | undefined): EmailLanguage {
  let tag = (language ?? '').trim().toLowerCase().replace(/_/g, '-')
  while (tag !== '') {
    const found = EMAIL_LANGUAGES.find((supported) => supported.toLowerCase() === tag)
    if (found) return found
    tag = tag.includes('-') ? tag.slice(0, tag.lastIndexOf('-')) : ''
  }
  return DEFAULT_EMAIL_LANGUAGE
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (char) => HTML_ENTITIES[char] ?? char)

// Control characters (line breaks above all) and bidirectional overrides, which reorder what follows them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point here
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g
// A value in the text part stays on its line: a name someone else chose (an API key's, a passkey's) must
// not add lines of its own to a notice ("no action needed") nor turn the rest of one around.
const toLineText = (value: string) => value.replace(CONTROL_CHARACTERS, ' ')
// A subject is a header line: control characters from a value (CR/LF above all) must never reach it.
const toHeaderText = (value: string) => toLineText(value).trim()

/**
 * Fills a template in the recipient's language (see resolveEmailLanguage). Values are HTML-escaped in the HTML
 * part and kept on one line in the text part (control characters become spaces). A placeholder without a value throws: that is a bug in the
 * caller, and sending `{{code}}` to a user is worse than failing loudly.
 */
export function renderTemplate(name: TemplateName, data: TemplateData, options: RenderOptions): RenderedEmail {
  const template = loadTemplates().get(resolveEmailLanguage(options.language))?.get(name)
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
    text: fill(template.text, toLineText),
  }
}
