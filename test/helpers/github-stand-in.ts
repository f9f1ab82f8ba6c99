import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { uniqueName } from './factories.js'

/**
 * A small loopback server that speaks GitHub's OAuth web flow and the two REST endpoints the app reads,
 * as GitHub documents them (GitHub itself cannot be reached from CI). It is laid out like GitHub
 * Enterprise Server: web flow at `<base>/login/oauth/*`, API at `<base>/api/v3`.
 *
 * - https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 * - https://docs.github.com/en/rest/users/users#get-the-authenticated-user
 * - https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user
 */

export interface GitHubUser {
  id: number
  login: string
  name: string | null
  /** The public profile address (often null). */
  email: string | null
  emails: { email: string; primary: boolean; verified: boolean; visibility: 'public' | 'private' | null }[]
}

export interface GitHubClient {
  clientId: string
  clientSecret: string
}

export interface GitHubStandIn {
  /** The OAuth app registered at the stand-in: OAUTH_GITHUB_CLIENT_ID and OAUTH_GITHUB_CLIENT_SECRET. */
  readonly client: GitHubClient
  /** OAUTH_GITHUB_URL */
  readonly url: string
  /** OAUTH_GITHUB_API_URL */
  readonly apiUrl: string
  readonly users: Map<number, GitHubUser>
  /** The user who approves the next authorization, or `deny` to refuse it. */
  next: number | 'deny'
  /** What the token endpoint received, for assertions on PKCE and client authentication. */
  readonly tokenRequests: URLSearchParams[]
  /**
   * A new GitHub account the stand-in knows: a fresh id and login, a private primary verified address
   * (`<login>@users.example`) and an older unverified one, unless `overrides` say otherwise.
   */
  addUser(overrides?: Partial<GitHubUser>): GitHubUser
  close(): Promise<void>
}

/** The settings that point an app's `github` provider at the stand-in. */
export function githubSettings(standIn: GitHubStandIn): Record<string, string> {
  return {
    OAUTH_PROVIDERS: 'github',
    OAUTH_GITHUB_CLIENT_ID: standIn.client.clientId,
    OAUTH_GITHUB_CLIENT_SECRET: standIn.client.clientSecret,
    OAUTH_GITHUB_URL: standIn.url,
    OAUTH_GITHUB_API_URL: standIn.apiUrl,
  }
}

interface Grant {
  userId: number
  redirectUri: string
  codeChallenge: string | null
  used: boolean
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}

function json(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
  response.end(JSON.stringify(body))
}

export async function startGitHubStandIn(
  client: GitHubClient = { clientId: 'Iv1.standin', clientSecret: randomBytes(20).toString('hex') },
): Promise<GitHubStandIn> {
  const grants = new Map<string, Grant>()
  const tokens = new Map<string, number>()
  let lastId = 1000
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const standIn: GitHubStandIn = {
    client,
    url: base,
    apiUrl: `${base}/api/v3`,
    users: new Map(),
    next: 'deny',
    tokenRequests: [],
    addUser: (overrides = {}) => {
      lastId += 1
      const login = uniqueName('octo').replace(/_/g, '-')
      const user: GitHubUser = {
        id: lastId,
        login,
        name: 'Mona Lisa',
        email: null,
        emails: [
          { email: `${login}@users.example`, primary: true, verified: true, visibility: 'private' },
          { email: `${login}-old@users.example`, primary: false, verified: false, visibility: null },
        ],
        ...overrides,
      }
      standIn.users.set(user.id, user)
      return user
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }

  const authorize = (url: URL, response: ServerResponse) => {
    const redirectUri = url.searchParams.get('redirect_uri')
    if (url.searchParams.get('client_id') !== client.clientId || !redirectUri) return json(response, 404, { message: 'Not Found' })
    const back = new URL(redirectUri)
    const state = url.searchParams.get('state')
    if (state) back.searchParams.set('state', state)
    if (standIn.next === 'deny') {
      back.searchParams.set('error', 'access_denied')
      back.searchParams.set('error_description', 'The user has denied your application access.')
    } else {
      const code = randomBytes(10).toString('hex')
      grants.set(code, { userId: standIn.next, redirectUri, codeChallenge: url.searchParams.get('code_challenge'), used: false })
      back.searchParams.set('code', code)
    }
    response.writeHead(302, { location: back.href }).end()
  }

  // GitHub answers token errors with 200 and an `error` field, as its docs show.
  const accessToken = async (request: IncomingMessage, response: ServerResponse) => {
    const form = new URLSearchParams(await readBody(request))
    standIn.tokenRequests.push(form)
    if (form.get('client_id') !== client.clientId || form.get('client_secret') !== client.clientSecret) {
      return json(response, 200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' })
    }
    const grant = grants.get(form.get('code') ?? '')
    const verifier = form.get('code_verifier')
    const challengeOk = grant?.codeChallenge === null || (verifier !== null && createHash('sha256').update(verifier).digest('base64url') === grant?.codeChallenge)
    if (!grant || grant.used || grant.redirectUri !== form.get('redirect_uri') || !challengeOk) {
      return json(response, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' })
    }
    grant.used = true
    const token = `gho_${randomBytes(18).toString('hex')}`
    tokens.set(token, grant.userId)
    json(response, 200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' })
  }

  const api = (request: IncomingMessage, response: ServerResponse, path: string) => {
    const [scheme, token] = (request.headers.authorization ?? '').split(' ')
    const user = scheme?.toLowerCase() === 'bearer' && token ? standIn.users.get(tokens.get(token) ?? -1) : undefined
    if (!user) return json(response, 401, { message: 'Requires authentication' })
    if (path === '/user') return json(response, 200, { login: user.login, id: user.id, name: user.name, email: user.email, type: 'User' })
    if (path === '/user/emails') return json(response, 200, user.emails)
    json(response, 404, { message: 'Not Found' })
  }

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', base)
    if (request.method === 'GET' && url.pathname === '/login/oauth/authorize') return authorize(url, response)
    if (request.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      accessToken(request, response).catch(() => response.writeHead(500).end())
      return
    }
    if (request.method === 'GET' && url.pathname.startsWith('/api/v3/')) return api(request, response, url.pathname.slice('/api/v3'.length))
    json(response, 404, { message: 'Not Found' })
  })
  return standIn
}
