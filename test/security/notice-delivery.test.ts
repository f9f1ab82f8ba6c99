import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { RESET_PASSWORD_SUBJECT, mailsTo, setUserColumns, signedInUser, waitForMail, type SignedInUser } from '../helpers/factories.js'
import { githubSettings, startGitHubStandIn, type GitHubStandIn } from '../helpers/github-stand-in.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { useTestContext } from '../helpers/test-context.js'
import { startLink, walk } from '../oauth/oauth-helpers.js'

// Attacker review F5: anyone can fill an address's mail cap (5 per 10 minutes) with forgot-password
// requests. That must not silence the notice that someone (with a stolen session, say) just added a way
// into the account; and a flood of notices must still not become a mail bomb.

const context = useTestContext()
let app: App
let github: GitHubStandIn

beforeAll(async () => {
  github = await startGitHubStandIn()
  // The per-IP and global limits out of reach: the recipient's mail cap alone is under test.
  app = await context.buildApp({ ...githubSettings(github), RATE_LIMIT_ENABLED: 'true', AUTH_RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000' })
})
afterAll(() => github?.close())

const post = (url: string, headers: Record<string, string>, payload: unknown = {}) => app.inject({ method: 'POST', url, headers, payload: payload as object })

/** Fills the address's mail cap the way a stranger can: forgot-password, more times than the cap. */
async function fillMailCap(email: string) {
  const resets = async () => (await mailsTo(app, email)).filter((mail) => RESET_PASSWORD_SUBJECT.test(mail.subject)).length
  for (let asked = 0; asked < 6; asked += 1) {
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/forgot-password', payload: { email } })).statusCode).toBe(202)
  }
  // The mails go out after the answers: wait until they stop coming.
  let seen = -1
  for (let count = await resets(); count !== seen; count = await resets()) {
    seen = count
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  expect(seen).toBeGreaterThanOrEqual(4)
  // Full: one more mail to the address is refused (a refusal takes nothing).
  expect(await app.attemptLimits.takeMail(email)).toEqual(expect.any(Number))
}

const countOf = async (email: string, subject: RegExp) => (await mailsTo(app, email)).filter((mail) => subject.test(mail.subject)).length

async function ownerWithFullCap(): Promise<SignedInUser> {
  const owner = await signedInUser(app)
  await setUserColumns(app, owner.id, { emailVerified: true })
  await fillMailCap(owner.email)
  return owner
}

describe('security notices when the address’s mail cap is full', () => {
  it('an API key created is still mailed; a flood of them mails the owner once', async () => {
    const owner = await ownerWithFullCap()
    for (let index = 0; index < 6; index += 1) {
      const created = await post('/api/v1/api-keys/', owner.headers, { name: `key ${index}`, scopes: ['read'] })
      expect(created.statusCode, created.body).toBe(201)
    }
    const mail = await waitForMail(app, owner.email, { subject: /API key was created/i })
    expect(mail.text).toContain('key 0')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await countOf(owner.email, /API key was created/i)).toBe(1)
  })

  it('a passkey added is still mailed', async () => {
    const owner = await ownerWithFullCap()
    const authenticator = new SoftwareAuthenticator('http://localhost:8000')
    const options = await post('/api/v1/auth/passkeys/register/options', owner.headers)
    expect(options.statusCode, options.body).toBe(200)
    const { response } = authenticator.register(options.json())
    const added = await post('/api/v1/auth/passkeys/register/verify', owner.headers, { response, name: 'Borrowed laptop' })
    expect(added.statusCode, added.body).toBe(201)
    await waitForMail(app, owner.email, { subject: /passkey was added/i })
  })

  it('recovery codes made again are still mailed', async () => {
    const owner = await ownerWithFullCap()
    await setUserColumns(app, owner.id, { twoFaEnabled: true, twoFaMethod: 'email' })
    const made = await post('/api/v1/auth/recovery-codes', owner.headers, { password: owner.password })
    expect(made.statusCode, made.body).toBe(200)
    await waitForMail(app, owner.email, { subject: /new recovery codes/i })
  })

  it('a provider account linked is still mailed', async () => {
    const owner = await ownerWithFullCap()
    const started = await startLink(app, 'github', owner.headers)
    expect(started.statusCode, started.body).toBe(200)
    github.next = github.addUser().id
    expect((await walk(app, 'github', started.json().authorize_url)).url.searchParams.get('linked')).toBe('github')
    await waitForMail(app, owner.email, { subject: /was linked to your/i })
  })

  it('an email change asked for is still told to the current address', async () => {
    const owner = await ownerWithFullCap()
    const asked = await app.inject({
      method: 'PUT',
      url: `/api/v1/users/update/${owner.id}`,
      headers: owner.headers,
      payload: { email: `elsewhere-${owner.username}@example.org` },
    })
    expect(asked.statusCode, asked.body).toBe(200)
    await waitForMail(app, owner.email, { subject: /new email address was requested/i })
  })

  it('signing out everywhere is still told (a notice sent by the auth service)', async () => {
    const owner = await ownerWithFullCap()
    const out = await post('/api/v1/auth/logout-all', owner.headers)
    expect(out.statusCode, out.body).toBe(200)
    await waitForMail(app, owner.email, { subject: /signed out of .* everywhere/i })
  })
})
