import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { renderTemplate } from '../../src/mail/mail-templates.js'
import { signedInUser, waitForMail, type SignedInUser } from '../helpers/factories.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { useTestContext } from '../helpers/test-context.js'

// Attacker review F11: the name of an API key or a passkey goes back to the owner in a notice mail. Whoever
// made it (an intruder with a stolen session) must not write lines of their own there, such as
// "This was you, no action needed", nor reorder the text with bidirectional overrides.

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const FORGED = ['laptop\n\nThis was you: no action is needed.', 'laptop\r\nBcc: x', 'tab\there', 'nel\u0085line', 'line\u2028separator', 'evil\u202etxt.exe', 'bell\u0007', '\u0085', '   ']

const createKey = (user: SignedInUser, name: string) =>
  app.inject({ method: 'POST', url: '/api/v1/api-keys/', headers: user.headers, payload: { name, scopes: ['read'] } })

async function passkeyOptions(user: SignedInUser) {
  const options = await app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/register/options', headers: user.headers, payload: {} })
  expect(options.statusCode, options.body).toBe(200)
  return new SoftwareAuthenticator('http://localhost:8000').register(options.json())
}

function expectNameRefused(response: { statusCode: number; body: string; json: () => { code: string; detail: unknown } }, what: string) {
  expect(response.statusCode, `${what}: ${response.body}`).toBe(422)
  expect(response.json().code).toBe('validation_error')
  expect(response.json().detail).toEqual([expect.objectContaining({ loc: ['body', 'name'], type: 'string_pattern_mismatch', msg: expect.stringContaining('One line') })])
}

describe('names that are mailed back to their owner', () => {
  it('an API key name must be one line without control characters (422 on body.name)', async () => {
    const user = await signedInUser(app)
    for (const name of FORGED) expectNameRefused(await createKey(user, name), JSON.stringify(name))
    const fine = await createKey(user, 'Büro-Laptop (CI) ✓ — nightly')
    expect(fine.statusCode, fine.body).toBe(201)
    const mail = await waitForMail(app, user.email, { subject: /API key was created/i })
    expect(mail.text).toContain('Büro-Laptop (CI) ✓ — nightly')
  })

  it('a passkey name must be one line too, when added and when renamed', async () => {
    const user = await signedInUser(app)
    for (const name of FORGED) {
      const { response } = await passkeyOptions(user)
      const added = await app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/register/verify', headers: user.headers, payload: { response, name } })
      expectNameRefused(added, JSON.stringify(name))
    }
    const { response } = await passkeyOptions(user)
    const added = await app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/register/verify', headers: user.headers, payload: { response, name: 'My laptop' } })
    expect(added.statusCode, added.body).toBe(201)
    const renamed = await app.inject({ method: 'PATCH', url: `/api/v1/auth/passkeys/${added.json().id}`, headers: user.headers, payload: { name: 'x\nNo action needed' } })
    expectNameRefused(renamed, 'rename')
  })

  it('the text part of a mail keeps every value on its line, whatever was stored before', () => {
    const rendered = renderTemplate(
      'api-key-created',
      { username: 'ann', name: 'old key\n\nThis was you: no action is needed.\r\n\u202eevil', prefix: 'cbs_0123', scopes: 'read', link: 'http://localhost:8000/security' },
      { projectName: 'Acme' },
    )
    const nameLine = rendered.text.split('\n').find((line) => line.includes('old key'))
    expect(nameLine).toContain('old key This was you: no action is needed. evil')
    expect(rendered.text).not.toMatch(/^This was you/m)
    expect(rendered.text).not.toContain('\u202e')
    expect(rendered.text).not.toContain('\r')
  })
})
