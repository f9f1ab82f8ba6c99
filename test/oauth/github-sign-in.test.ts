import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { authHeader, signedInUser, uniqueName, userRow } from '../helpers/factories.js'
import { githubSettings, startGitHubStandIn, type GitHubStandIn, type GitHubUser } from '../helpers/github-stand-in.js'
import { useTestContext } from '../helpers/test-context.js'
import { auditOf, callbackUrl, exchange, startLink, startSignIn, walk } from './oauth-helpers.js'

const context = useTestContext()
let github: GitHubStandIn

beforeAll(async () => {
  github = await startGitHubStandIn()
})
afterAll(() => github?.close())

const buildApp = () => context.buildApp(githubSettings(github))

async function signInAs(app: App, user: GitHubUser | 'deny') {
  github.next = user === 'deny' ? 'deny' : user.id
  return walk(app, 'github', await startSignIn(app, 'github'))
}

async function signedInVia(app: App, user: GitHubUser) {
  const landing = await signInAs(app, user)
  expect(landing.error).toBeNull()
  const response = await exchange(app, landing.code!)
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as { access_token: string }
}

async function identitiesOf(app: App, accessToken: string) {
  const response = await app.inject({ method: 'GET', url: '/api/v1/auth/identities', headers: authHeader(accessToken) })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as { id: string; provider: string; email: string | null }[]
}

describe('GitHub sign-in (OAUTH_GITHUB_URL / OAUTH_GITHUB_API_URL)', () => {
  it('is listed with its preset label', async () => {
    const app = await buildApp()
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/oauth/providers' })).json()).toEqual([{ name: 'github', label: 'GitHub' }])
  })

  it('sends the browser to <base>/login/oauth/authorize with state and an S256 challenge, and no nonce', async () => {
    const app = await buildApp()
    const url = new URL(await startSignIn(app, 'github'))
    expect(`${url.origin}${url.pathname}`).toBe(`${github.url}/login/oauth/authorize`)
    expect(url.searchParams.get('client_id')).toBe(github.client.clientId)
    expect(url.searchParams.get('redirect_uri')).toBe(callbackUrl('github'))
    expect(url.searchParams.get('scope')).toBe('read:user user:email')
    expect(url.searchParams.get('code_challenge_method')).toBe('S256')
    expect(url.searchParams.get('state')).toBeTruthy()
    expect(url.searchParams.has('nonce')).toBe(false)
  })

  it('creates an account from /user and the primary verified address of /user/emails; the code was traded with the PKCE verifier', async () => {
    const app = await buildApp()
    const user = github.addUser()
    const authorize = new URL(await startSignIn(app, 'github'))
    github.next = user.id
    const landing = await walk(app, 'github', authorize.href)
    const tokens = (await exchange(app, landing.code!)).json() as { access_token: string }
    const me = (await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })).json()
    expect(me).toMatchObject({ username: user.login, email: user.emails[0]!.email, email_verified: true })
    expect((await userRow(app, me.id))?.hasPassword).toBe(false)

    const request = github.tokenRequests.at(-1)!
    expect(createHash('sha256').update(request.get('code_verifier')!).digest('base64url')).toBe(authorize.searchParams.get('code_challenge'))
    const sessions = (await app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: authHeader(tokens.access_token) })).json()
    expect(sessions[0].auth_methods).toEqual(['oauth:github'])

    // The same GitHub id signs in to the same account later, whatever its login became.
    user.login = `${user.login}-renamed`
    const again = await signedInVia(app, user)
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(again.access_token) })).json().id).toBe(me.id)
  })

  it('keeps an address GitHub has not verified unverified', async () => {
    const app = await buildApp()
    const login = uniqueName('octo').replace(/_/g, '-')
    const user = github.addUser({ login, email: `${login}@public.example`, emails: [{ email: `${login}@public.example`, primary: true, verified: false, visibility: 'public' }] })
    const tokens = await signedInVia(app, user)
    const me = (await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })).json()
    expect(me).toMatchObject({ email: `${login}@public.example`, email_verified: false })
  })

  it('refuses, with a readable message, an account that shares no address at all', async () => {
    const app = await buildApp()
    const landing = await signInAs(app, github.addUser({ emails: [] }))
    expect(landing.code).toBeNull()
    expect(landing.error).toMatch(/GitHub did not share an email address/)
    expect((await auditOf(app, 'auth.oauth_failed'))[0]?.details).toMatchObject({ provider: 'github', reason: 'no_email' })
  })

  it('lands on the console with a message when the user denies access, audited with the provider name', async () => {
    const app = await buildApp()
    const landing = await signInAs(app, 'deny')
    expect(landing.error).toBe('Sign-in with GitHub was cancelled')
    expect((await auditOf(app, 'auth.oauth_failed'))[0]?.details).toMatchObject({ provider: 'github', reason: 'access_denied' })
  })
})

describe('linking and unlinking (Security page)', () => {
  it('links GitHub to a signed-in account: POST /link answers the authorize URL, the callback links to the user bound in the state', async () => {
    const app = await buildApp()
    const owner = await signedInUser(app)
    const linkResponse = await startLink(app, 'github', owner.headers)
    expect(linkResponse.statusCode, linkResponse.body).toBe(200)
    const user = github.addUser()
    github.next = user.id
    const landing = await walk(app, 'github', linkResponse.json().authorize_url)
    expect(landing.error).toBeNull()
    expect(landing.code).toBeNull()
    expect(landing.url.searchParams.get('linked')).toBe('github')
    expect(landing.url.searchParams.get('next')).toBe('/security')
    expect(await identitiesOf(app, owner.tokens.access_token)).toEqual([expect.objectContaining({ provider: 'github', email: user.emails[0]!.email })])

    // From now on that GitHub account signs in to the owner.
    const tokens = await signedInVia(app, user)
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })).json().id).toBe(owner.id)

    // And no one else can link it.
    const other = await signedInUser(app)
    const otherLink = await startLink(app, 'github', other.headers)
    github.next = user.id
    const refused = await walk(app, 'github', otherLink.json().authorize_url)
    expect(refused.error).toBe('This GitHub account is already linked to another account')
    expect(await identitiesOf(app, other.tokens.access_token)).toEqual([])
    expect((await auditOf(app, 'auth.oauth_failed', other.id))[0]?.details).toMatchObject({ provider: 'github', reason: 'identity_linked_elsewhere' })
  })

  it('needs a signed-in session to link, and refuses a redirect_to outside the app', async () => {
    const app = await buildApp()
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/oauth/github/link' })).statusCode).toBe(401)
    const owner = await signedInUser(app)
    const outside = await startLink(app, 'github', owner.headers, { redirect_to: 'https://evil.example/' })
    expect(outside.statusCode).toBe(400)
    expect((await startLink(app, 'nope', owner.headers)).statusCode).toBe(404)
  })

  it('unlinks an identity when the account keeps a way in, and refuses to remove the last one (409 last_sign_in_method)', async () => {
    const app = await buildApp()
    const providerOnly = await signedInVia(app, github.addUser())
    const [only] = await identitiesOf(app, providerOnly.access_token)
    const refused = await app.inject({ method: 'DELETE', url: `/api/v1/auth/identities/${only!.id}`, headers: authHeader(providerOnly.access_token) })
    expect(refused.statusCode, refused.body).toBe(409)
    expect(refused.json().code).toBe('last_sign_in_method')

    const owner = await signedInUser(app)
    const link = await startLink(app, 'github', owner.headers)
    github.next = github.addUser().id
    await walk(app, 'github', link.json().authorize_url)
    const [linked] = await identitiesOf(app, owner.tokens.access_token)
    // Another user cannot remove it: it is not theirs.
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/auth/identities/${linked!.id}`, headers: authHeader(providerOnly.access_token) })).statusCode).toBe(404)
    const removed = await app.inject({ method: 'DELETE', url: `/api/v1/auth/identities/${linked!.id}`, headers: owner.headers })
    expect(removed.statusCode, removed.body).toBe(200)
    expect(await identitiesOf(app, owner.tokens.access_token)).toEqual([])
    expect((await auditOf(app, 'user.identity_unlinked', owner.id))[0]?.details).toEqual({ provider: 'github' })
  })
})
