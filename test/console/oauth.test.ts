import type { Page } from 'playwright-core'
import { afterAll, expect, it } from 'vitest'
import { authHeader, signedInUser, uniqueName } from '../helpers/factories.js'
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole } from './browser.js'

/**
 * "Sign in with <label>" in Chromium, through a real OpenID Provider's login and consent pages on
 * loopback. A provider needs the callback URL (PUBLIC_URL) before the app starts, so the provider is
 * started from the harness's settings, which are given the console's address.
 */

const CLIENT = { clientId: 'carbelsad-console', clientSecret: 'console-test-client-secret-123456' }
let idp: TestOidcProvider | undefined

describeWithBrowser('console: sign in with an OpenID provider', () => {
  const harness = useConsole(async (baseUrl) => {
    idp = await startOidcProvider({ clients: [{ ...CLIENT, redirectUris: [`${baseUrl}/api/v1/auth/oauth/acme/callback`] }] })
    return {
      PUBLIC_URL: baseUrl,
      OAUTH_PROVIDERS: 'acme',
      OAUTH_ACME_CLIENT_ID: CLIENT.clientId,
      OAUTH_ACME_CLIENT_SECRET: CLIENT.clientSecret,
      OAUTH_ACME_ISSUER: idp.issuer,
      OAUTH_ACME_LABEL: 'Acme ID',
    }
  })

  afterAll(async () => {
    await idp?.close()
  })

  const newPage = () => harness.newPage({ timeout: 15_000 })

  /** The provider's own pages: its login form, then its consent page. */
  async function throughProvider(page: Page, login: string, password: string, consent: 'Continue' | 'Cancel') {
    await page.waitForURL(`${idp!.issuer}/interaction/**`)
    await page.getByLabel('Login').fill(login)
    await page.getByLabel('Password').fill(password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Authorize' }).waitFor()
    await page.getByRole('button', { name: consent }).click()
  }

  it('"Sign in with Acme ID" goes through the provider\'s login and consent pages and back into the console, signed in', async () => {
    idp!.interaction = { mode: 'pages' }
    const name = uniqueName('ada')
    const account = idp!.addAccount({ sub: `browser-${name}`, email: `${name}@idp.example`, email_verified: true, preferred_username: name, password: 'provider-password-1' })
    const page = await newPage()
    const errors = collectPageErrors(page)
    await page.goto('/login?next=/security')
    await page.getByRole('link', { name: 'Sign in with Acme ID' }).click()
    await throughProvider(page, account.sub, 'provider-password-1', 'Continue')

    await page.waitForURL(`${harness.baseUrl}/security`)
    await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor()
    // The session is the console's own, stored like any other sign-in; no token ever sat in a URL.
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? 'null') as { access_token: string } | null)
    expect(stored?.access_token).toBeTruthy()
    const me = await harness.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(stored!.access_token) })
    expect(me.json()).toMatchObject({ username: name, email: account.email, email_verified: true })
    const history = await page.evaluate(() => window.location.href)
    expect(history).not.toContain('code=')

    // The Security page lists the linked provider.
    const linked = page.getByRole('list', { name: 'Linked accounts' })
    await eventually(() => linked.textContent()).toContain('Acme ID')
    expect(await linked.textContent()).toContain(account.email)
    await harness.screenshot(page, 'oauth-signed-in-security')
    expect(errors).toEqual([])
  })

  it('shows a readable message when consent is refused at the provider', async () => {
    idp!.interaction = { mode: 'pages' }
    const name = uniqueName('bob')
    const account = idp!.addAccount({ sub: `browser-${name}`, email: `${name}@idp.example`, email_verified: true, password: 'provider-password-2' })
    const page = await newPage()
    await page.goto('/login')
    await page.getByRole('link', { name: 'Sign in with Acme ID' }).click()
    await throughProvider(page, account.sub, 'provider-password-2', 'Cancel')
    await page.waitForURL(`${harness.baseUrl}/oauth/callback**`)
    await page.getByRole('heading', { name: 'Sign-in did not complete' }).waitFor()
    await eventually(() => page.getByRole('alert').first().textContent()).toBe('Sign-in with Acme ID was cancelled')
    await page.getByRole('link', { name: 'Back to sign in' }).waitFor()
  })

  it('links Acme ID to a password account from the Security page', async () => {
    idp!.interaction = { mode: 'pages' }
    const user = await signedInUser(harness.app)
    const name = uniqueName('cy')
    const account = idp!.addAccount({ sub: `browser-${name}`, email: `${name}@idp.example`, email_verified: true, password: 'provider-password-3' })
    const page = await newPage()
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/profile')
    await page.goto('/security')
    await page.getByRole('button', { name: 'Link Acme ID' }).click()
    await throughProvider(page, account.sub, 'provider-password-3', 'Continue')
    await page.waitForURL(`${harness.baseUrl}/security`)
    await eventually(() => page.getByRole('list', { name: 'Linked accounts' }).textContent()).toContain(account.email)
    await eventually(() => page.getByText('Linked. You can now sign in with it.').count()).toBe(1)
    const identities = await harness.app.inject({ method: 'GET', url: '/api/v1/auth/identities', headers: user.headers })
    expect(identities.json()).toEqual([expect.objectContaining({ provider: 'acme', email: account.email })])
  })
})
