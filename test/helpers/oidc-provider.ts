import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'

/**
 * A real OpenID Provider (panva's oidc-provider, OpenID-certified) on loopback, for the sign-in tests:
 * discovery, authorization code + PKCE, RS256 and ES256 ID token signatures and userinfo are the
 * library's own. Accounts are test data; the login and consent pages are a tiny interaction handler
 * (HTML forms a browser test can fill in, or an automatic login for tests that drive HTTP only).
 */

export interface TestAccount {
  sub: string
  email?: string
  email_verified?: boolean
  name?: string
  preferred_username?: string
  password?: string
  /** Authentication methods the provider asserts for this login (`['pwd', 'mfa']`). */
  amr?: string[]
}

export interface TestClient {
  clientId: string
  clientSecret: string
  redirectUris: string[]
  /** `RS256` (default) or `ES256`: the algorithm of this client's ID tokens. */
  idTokenAlg?: 'RS256' | 'ES256'
}

/** Rewrites the claims of the next ID tokens the token endpoint returns, re-signed with the provider's key (or `foreignKey`). */
export interface IdTokenTamper {
  claims?: (claims: Record<string, unknown>) => Record<string, unknown>
  /** Sign with a key the provider never published (same `kid`): the signature must fail. */
  foreignKey?: boolean
}

export interface TestOidcProvider {
  readonly issuer: string
  readonly port: number
  readonly accounts: Map<string, TestAccount>
  addAccount(account: TestAccount): TestAccount
  /**
   * How the next interactions end: an account id to sign in automatically (and consent), `deny` to
   * refuse consent, or `pages` to show the login and consent forms (browser tests).
   */
  interaction: { mode: 'auto'; accountId: string } | { mode: 'deny' } | { mode: 'pages' }
  tamper: IdTokenTamper | undefined
  /** The JOSE header of the last ID token the token endpoint issued (to see which key signed it). */
  lastIdTokenHeader: { alg?: string; kid?: string } | undefined
  close(): Promise<void>
}

interface SigningKey {
  kid: string
  alg: 'RS256' | 'ES256'
  privateKey: KeyObject
}

function newKeys(): { jwks: Record<string, unknown>[]; signing: SigningKey[] } {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const signing: SigningKey[] = [
    { kid: `rs-${randomBytes(4).toString('hex')}`, alg: 'RS256', privateKey: rsa.privateKey },
    { kid: `es-${randomBytes(4).toString('hex')}`, alg: 'ES256', privateKey: ec.privateKey },
  ]
  const jwks = signing.map((key) => ({ ...key.privateKey.export({ format: 'jwk' }), kid: key.kid, alg: key.alg, use: 'sig' }))
  return { jwks, signing }
}

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')

function resign(idToken: string, keys: SigningKey[], tamper: IdTokenTamper): string {
  const [headerPart = '', payloadPart = ''] = idToken.split('.')
  const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString()) as { kid: string; alg: 'RS256' | 'ES256' }
  const claims = JSON.parse(Buffer.from(payloadPart, 'base64url').toString()) as Record<string, unknown>
  const next = tamper.claims ? tamper.claims(claims) : claims
  const known = keys.find((key) => key.kid === header.kid)
  if (!known) throw new Error(`no signing key ${header.kid}`)
  const privateKey = tamper.foreignKey
    ? (header.alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })).privateKey
    : known.privateKey
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(next))}`
  const signature = sign('sha256', Buffer.from(input), header.alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey)
  return `${input}.${b64(signature)}`
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return new URLSearchParams(Buffer.concat(chunks).toString())
}

const htmlText = (value: string) => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)

function page(response: ServerResponse, title: string, body: string) {
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
  response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${htmlText(title)}</title></head><body><h1>${htmlText(title)}</h1>${body}</body></html>`)
}

export async function startOidcProvider(options: { clients: TestClient[]; port?: number }): Promise<TestOidcProvider> {
  const server: Server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const issuer = `http://127.0.0.1:${port}`
  const accounts = new Map<string, TestAccount>()
  const { jwks, signing } = newKeys()

  const provider = new Provider(issuer, {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: client.idTokenAlg ?? 'RS256',
    })),
    jwks: { keys: jwks },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    // amr rides on the openid scope so ID tokens carry it (as Microsoft's and Google's do when MFA was used).
    claims: { acr: null, amr: null, auth_time: null, iss: null, sid: null, openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
    findAccount: async (_ctx: unknown, id: string) => {
      const account = accounts.get(id)
      if (!account) return undefined
      return {
        accountId: id,
        claims: async () => {
          const { password: _password, amr: _amr, ...claims } = account
          return claims
        },
      }
    },
  })

  const helper: TestOidcProvider = {
    issuer,
    port,
    accounts,
    interaction: { mode: 'pages' },
    tamper: undefined,
    lastIdTokenHeader: undefined,
    addAccount(account) {
      accounts.set(account.sub, account)
      return account
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }

  provider.use(async (ctx, next) => {
    await next()
    const body = ctx.body as { id_token?: unknown } | undefined
    if (ctx.path !== '/token' || !body || typeof body.id_token !== 'string') return
    helper.lastIdTokenHeader = JSON.parse(Buffer.from(body.id_token.split('.')[0] ?? '', 'base64url').toString())
    if (helper.tamper) ctx.body = { ...body, id_token: resign(body.id_token, signing, helper.tamper) }
  })

  const finishLogin = (request: IncomingMessage, response: ServerResponse, account: TestAccount) =>
    provider.interactionFinished(request, response, { login: { accountId: account.sub, ...(account.amr ? { amr: account.amr } : {}) } }, { mergeWithLastSubmission: false })

  const finishConsent = async (request: IncomingMessage, response: ServerResponse) => {
    const details = await provider.interactionDetails(request, response)
    const accountId = details.session?.accountId
    if (!accountId) throw new Error('consent without a login')
    const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId: String(details.params.client_id) })
    const missingScope = details.prompt.details.missingOIDCScope as string[] | undefined
    const missingClaims = details.prompt.details.missingOIDCClaims as string[] | undefined
    if (missingScope) grant.addOIDCScope(missingScope.join(' '))
    if (missingClaims) grant.addOIDCClaims(missingClaims)
    const grantId = await grant.save()
    await provider.interactionFinished(request, response, { consent: { grantId } }, { mergeWithLastSubmission: true })
  }

  const deny = (request: IncomingMessage, response: ServerResponse) =>
    provider.interactionFinished(request, response, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false })

  const interactions = async (request: IncomingMessage, response: ServerResponse, uid: string, action: string | undefined) => {
    const details = await provider.interactionDetails(request, response)
    const mode = helper.interaction
    if (request.method === 'GET' && action === undefined) {
      if (mode.mode === 'deny') return deny(request, response)
      if (mode.mode === 'auto') {
        if (details.prompt.name === 'login') {
          const account = accounts.get(mode.accountId)
          if (!account) throw new Error(`no test account ${mode.accountId}`)
          return finishLogin(request, response, account)
        }
        return finishConsent(request, response)
      }
      if (details.prompt.name === 'login') {
        return page(
          response,
          'Sign in to the test provider',
          `<form method="post" action="/interaction/${uid}/login"><label>Login <input name="login" autocomplete="username"></label>
<label>Password <input name="password" type="password"></label><button type="submit">Sign in</button></form>`,
        )
      }
      return page(
        response,
        'Authorize',
        `<p>${htmlText(String(details.params.client_id))} asks for: ${htmlText(String(details.params.scope))}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Continue</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`,
      )
    }
    if (request.method === 'POST' && action === 'login') {
      const form = await readForm(request)
      const account = accounts.get(form.get('login') ?? '')
      if (!account || account.password !== form.get('password')) {
        return page(response, 'Sign in to the test provider', `<p role="alert">Wrong login or password</p><a href="/interaction/${uid}">Try again</a>`)
      }
      return finishLogin(request, response, account)
    }
    if (request.method === 'POST' && action === 'confirm') return finishConsent(request, response)
    if (request.method === 'POST' && action === 'abort') return deny(request, response)
    response.writeHead(404).end()
  }

  const handleOidc = provider.callback()
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec((request.url ?? '').split('?')[0] ?? '')
    if (!match) {
      handleOidc(request, response)
      return
    }
    interactions(request, response, match[1]!, match[2]).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' })
      response.end(String(error))
    })
  })

  return helper
}

/** A cookie jar of names and values, enough for one browserless walk through the provider. */
export class CookieJar {
  readonly #cookies = new Map<string, string>()

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const index = pair.indexOf('=')
      if (index > 0) this.#cookies.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim())
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

/**
 * Follows the provider's redirects the way a browser would, from an authorization URL until it
 * redirects to `callbackPrefix` (the app's callback), and answers that URL.
 */
export async function followToCallback(authorizeUrl: string, callbackPrefix: string, jar = new CookieJar()): Promise<URL> {
  let url = authorizeUrl
  for (let hop = 0; hop < 20; hop += 1) {
    if (url.startsWith(callbackPrefix)) return new URL(url)
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } })
    jar.store(response)
    const location = response.headers.get('location')
    if (!location) throw new Error(`the provider stopped at ${url} with ${response.status}: ${(await response.text()).slice(0, 300)}`)
    await response.arrayBuffer()
    url = new URL(location, url).href
  }
  throw new Error('too many redirects')
}
