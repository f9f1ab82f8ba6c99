import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { createUser, setUserColumns, signedInUser, uniqueName, waitForMail } from '../helpers/factories.js'
import { githubSettings, startGitHubStandIn, type GitHubStandIn } from '../helpers/github-stand-in.js'
import { useTestContext } from '../helpers/test-context.js'
import { exchange, startLink, startSignIn, walk } from '../oauth/oauth-helpers.js'
import { addPasskey, call, enableEmail2fa, mailIds } from './attacker.js'

// Attacker review, round 3 (STYLE §14, "who must be told"): a new way into the account, or past its second
// factor, is mailed to the owner, who would otherwise not notice one made with a stolen session. Names only,
// never the secret.

const context = useTestContext()
let app: App
let github: GitHubStandIn

beforeAll(async () => {
  github = await startGitHubStandIn()
  app = await context.buildApp({ ...githubSettings(github), OAUTH_LINK_BY_EMAIL: 'true' })
})
afterAll(() => github?.close())

describe('security notices', () => {
  it('recovery codes made again are mailed to the owner, without the codes', async () => {
    const user = await signedInUser(app)
    const first = await enableEmail2fa(app, user)
    const seen = await mailIds(app, user.email)
    const response = await call(app, 'POST', '/api/v1/auth/recovery-codes', { headers: user.headers, payload: { password: user.password } })
    expect(response.statusCode, response.body).toBe(200)
    const codes = response.json().recovery_codes as string[]

    const mail = await waitForMail(app, user.email, { subject: /new recovery codes/i, exclude: seen })
    expect(mail.subject).toMatch(/^New recovery codes were made for your .* account$/)
    expect(mail.text).toContain(user.username)
    expect(mail.text).toContain('http://localhost:8000/security')
    for (const code of [...codes, ...first]) {
      expect(mail.text).not.toContain(code)
      expect(mail.html).not.toContain(code)
    }
  })

  it('a passkey added is mailed to the owner, with its name', async () => {
    const user = await signedInUser(app)
    const seen = await mailIds(app, user.email)
    const { response } = await addPasskey(app, user.headers, 'Borrowed <laptop>')

    const mail = await waitForMail(app, user.email, { subject: /passkey was added/i, exclude: seen })
    expect(mail.text).toContain('"Borrowed <laptop>"')
    expect(mail.html).toContain('Borrowed &lt;laptop&gt;')
    expect(mail.text).toContain('http://localhost:8000/security')
    expect(mail.text).not.toContain(response.id)
  })

  it('a provider account linked on the Security page is mailed to the owner', async () => {
    const owner = await signedInUser(app)
    const seen = await mailIds(app, owner.email)
    const started = await startLink(app, 'github', owner.headers)
    expect(started.statusCode, started.body).toBe(200)
    const identity = github.addUser()
    github.next = identity.id
    expect((await walk(app, 'github', started.json().authorize_url)).url.searchParams.get('linked')).toBe('github')

    const mail = await waitForMail(app, owner.email, { subject: /was linked to your/i, exclude: seen })
    expect(mail.subject).toMatch(/^A GitHub account was linked to your .* account$/)
    expect(mail.text).toContain('http://localhost:8000/security')

    // Linking the same account again links nothing new, and mails nothing.
    const again = await startLink(app, 'github', owner.headers)
    github.next = identity.id
    const landing = await walk(app, 'github', again.json().authorize_url)
    expect(landing.url.searchParams.get('already')).toBe('1')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await mailIds(app, owner.email)).filter((id) => !seen.includes(id))).toEqual([mail.id])
  })

  it('a provider account linked by email at a sign-in (OAUTH_LINK_BY_EMAIL) is mailed to the owner', async () => {
    const email = `${uniqueName('linked')}@users.example`
    const owner = await createUser(app, 'user', { email })
    await setUserColumns(app, owner.id, { emailVerified: true })
    const seen = await mailIds(app, email)
    github.next = github.addUser({ emails: [{ email, primary: true, verified: true, visibility: 'private' }] }).id
    const landing = await walk(app, 'github', await startSignIn(app, 'github'))
    expect(landing.error).toBeNull()
    expect((await exchange(app, landing.code!)).statusCode).toBe(200)

    const mail = await waitForMail(app, email, { subject: /was linked to your/i, exclude: seen })
    expect(mail.subject).toMatch(/^A GitHub account was linked to your .* account$/)
  })
})
