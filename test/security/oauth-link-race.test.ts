import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { userIdentities } from '../../src/db/schema.js'
import { authHeader, loginAs, signedInUser } from '../helpers/factories.js'
import { githubSettings, startGitHubStandIn, type GitHubStandIn } from '../helpers/github-stand-in.js'
import { useTestContext } from '../helpers/test-context.js'
import { startLink, walk } from '../oauth/oauth-helpers.js'
import { call, gate } from './attacker.js'

// A provider link started on the Security page is refused when the owner took the account back since it
// started (its pending state records the token version). The callback checks the version when it
// begins, then writes the link: a take-back committing in between must stop the link too, so the write
// checks the version again under the user's row lock (attacker review F2). The request is held right
// after its first read of the account, the owner signs out everywhere, then the request goes on.

const context = useTestContext()
let github: GitHubStandIn
let app: App

beforeAll(async () => {
  github = await startGitHubStandIn()
  app = await context.buildApp(githubSettings(github))
})
afterAll(() => github?.close())

describe('a provider link finishing across a take-back', () => {
  it('is refused like an expired link when the owner signs out everywhere after the callback read the account', async () => {
    const owner = await signedInUser(app)
    const started = await startLink(app, 'github', owner.headers)
    expect(started.statusCode, started.body).toBe(200)
    github.next = github.addUser().id

    // Holds the callback just after it read the account (and before it writes the link).
    const held = gate(app.repositories.users, 'findById', { after: true, when: ([id, tx]) => id === owner.id && tx === undefined })

    const landing = walk(app, 'github', started.json().authorize_url)
    await held.entered
    expect((await call(app, 'POST', '/api/v1/auth/logout-all', { headers: owner.headers })).statusCode).toBe(200)
    held.release()

    const landed = await landing
    expect(landed.error).toBe('The link with GitHub expired or was already used; start again')
    expect(await app.db.select().from(userIdentities).where(eq(userIdentities.userId, owner.id))).toEqual([])
  })

  it('is refused once the session that started it is signed out from the list (review G1)', async () => {
    const owner = await signedInUser(app)
    // The link is started with a session the owner later finds in the list and signs out as not theirs.
    const stolen = await loginAs(app, { username: owner.username, password: owner.password })
    const started = await startLink(app, 'github', authHeader(stolen.access_token))
    expect(started.statusCode, started.body).toBe(200)
    const sid = JSON.parse(Buffer.from(stolen.access_token.split('.')[1]!, 'base64url').toString()).sid as string
    expect((await call(app, 'DELETE', `/api/v1/auth/sessions/${sid}`, { headers: owner.headers })).statusCode).toBe(204)

    github.next = github.addUser().id
    const landed = await walk(app, 'github', started.json().authorize_url)
    expect(landed.error).toBe('The link with GitHub expired or was already used; start again')
    expect(await app.db.select().from(userIdentities).where(eq(userIdentities.userId, owner.id))).toEqual([])
  })
})
