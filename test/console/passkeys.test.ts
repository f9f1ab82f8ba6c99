import type { Page } from 'playwright-core'
import { expect, it } from 'vitest'
import { authHeader, codeFrom, createUser, setUserColumns, tokenFrom, waitForMail } from '../helpers/factories.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole } from './browser.js'

/**
 * Passkeys in a real Chromium with a virtual authenticator (Chrome DevTools Protocol WebAuthn domain:
 * CTAP2, internal transport, resident keys, user verification). A passkey is bound to an RP ID, and
 * browsers refuse an IP address as one, so this console is served at http://localhost:<port> with
 * PUBLIC_URL saying the same.
 */

const PROOF_SECONDS = 20

describeWithBrowser('console: passkeys', () => {
  // A short proof window, so the removal at the end needs a new proof, given with the passkey.
  const harness = useConsole((baseUrl) => ({ PUBLIC_URL: baseUrl, REAUTH_MAX_AGE_SECONDS: String(PROOF_SECONDS) }), { host: 'localhost' })

  /** A page whose tab has a platform authenticator that holds passkeys and verifies the user. */
  async function pageWithAuthenticator(): Promise<{ page: Page; errors: string[]; credentialCount: () => Promise<number> }> {
    const context = await harness.newContext({ height: 900, timeout: 15_000 })
    const page = await context.newPage()
    const errors = collectPageErrors(page)
    // The virtual authenticator answers a conditional (autofill) request on its own, as if the user had
    // picked the passkey from the username field's suggestions. Tests that need the password form or the
    // button turn autofill off the way a browser without it would report it.
    await page.addInitScript(() => {
      const original = PublicKeyCredential.isConditionalMediationAvailable?.bind(PublicKeyCredential)
      PublicKeyCredential.isConditionalMediationAvailable = async () => (sessionStorage.getItem('test.autofill') === 'off' ? false : (original?.() ?? false))
    })
    const cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable')
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    })
    const credentialCount = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.length
    return { page, errors, credentialCount }
  }

  async function currentAuthMethods(page: Page): Promise<string[]> {
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? 'null') as { access_token: string } | null)
    if (!stored) throw new Error('no stored session')
    const response = await harness.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: authHeader(stored.access_token) })
    return (response.json() as { current: boolean; auth_methods: string[] }[]).find((session) => session.current)?.auth_methods ?? []
  }

  async function openSecurity(page: Page) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security' }).click()
    await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor()
  }

  async function signOut(page: Page) {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.waitForURL('**/login')
  }

  const setAutofill = (page: Page, on: boolean) => page.evaluate((value) => sessionStorage.setItem('test.autofill', value), on ? 'on' : 'off')

  const passkeyItems = (page: Page) => page.getByRole('list', { name: 'Your passkeys' }).locator('li[data-passkey]')

  it('registers a passkey, signs in with it, answers 2FA with it, and removes it', async () => {
    const user = await createUser(harness.app)
    const { page, errors, credentialCount } = await pageWithAuthenticator()

    await page.goto('/login')
    await setAutofill(page, false)
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/profile')
    await openSecurity(page)
    const section = page.getByRole('region', { name: 'Passkeys' })
    await section.getByText('You have no passkeys yet.').waitFor()
    await section.getByLabel('Passkey label').fill('Test laptop')
    await section.getByRole('button', { name: 'Add a passkey' }).click()
    await section.getByRole('status').getByText('Added “Test laptop”').waitFor()
    await eventually(() => passkeyItems(page).count()).toBe(1)
    await expect(passkeyItems(page).first().textContent()).resolves.toContain('Test laptop')
    // A resident (discoverable) credential, held by the virtual authenticator.
    expect(await credentialCount()).toBe(1)
    await harness.screenshot(page, 'passkeys-security')

    await section.getByRole('button', { name: 'Rename Test laptop' }).click()
    await section.getByLabel('New label').fill('Work laptop')
    await section.getByRole('button', { name: 'Save' }).click()
    await section.getByRole('status').getByText('Renamed to “Work laptop”').waitFor()

    // Sign out, then back in with the passkey alone (the button): no username, no password.
    await signOut(page)
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await page.waitForURL('**/profile')
    expect(await currentAuthMethods(page)).toEqual(['passkey'])

    // Where the browser offers passkeys in autofill (conditional UI), the sign-in page asks at once.
    await setAutofill(page, true)
    await signOut(page)
    await page.waitForURL('**/profile')
    expect(await currentAuthMethods(page)).toEqual(['passkey'])
    await setAutofill(page, false)

    // With 2FA on, the password step is followed by the passkey instead of a code.
    await setUserColumns(harness.app, user.id, { twoFaEnabled: true, twoFaMethod: 'email' })
    await signOut(page)
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/two-factor')
    await page.getByRole('button', { name: 'Use a passkey instead' }).click()
    await page.waitForURL('**/profile')
    expect(await currentAuthMethods(page)).toEqual(['password+passkey'])

    await openSecurity(page)
    // Once the sign-in is no longer a fresh proof, removing asks to confirm it is you: the passkey will do.
    await page.waitForTimeout((PROOF_SECONDS + 2) * 1000)
    await section.getByRole('button', { name: 'Remove Work laptop' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Remove passkey' }).click()
    const confirm = page.getByRole('dialog', { name: 'Confirm it’s you' })
    await confirm.getByRole('button', { name: 'Use a passkey' }).click()
    await section.getByRole('status').getByText('Removed “Work laptop”').waitFor()
    expect(await currentAuthMethods(page)).toEqual(['password+passkey', 'passkey'])
    await section.getByText('You have no passkeys yet.').waitFor()
    const listed = await harness.app.inject({ method: 'GET', url: '/api/v1/auth/passkeys', headers: authHeader((await page.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? '{}') as { access_token: string })).access_token) })
    expect(listed.json()).toEqual([])

    // The removed passkey no longer signs in (the authenticator still holds its copy).
    await signOut(page)
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await page.getByRole('alert').getByText('Unknown passkey').waitFor()
    expect(errors).toEqual([])
  }, 120_000)

  it('signs in with an emailed code on the sign-in page, and with the emailed link', async () => {
    const user = await createUser(harness.app)
    const { page, errors } = await pageWithAuthenticator()
    await page.goto('/login')
    await setAutofill(page, false)
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click()
    const form = page.getByRole('region', { name: 'Sign in by email' })
    await form.getByLabel('Email').fill(user.email)
    await form.getByRole('button', { name: 'Send the link' }).click()
    await form.getByRole('status').getByText('a sign-in link and code are on their way').waitFor()
    const first = await waitForMail(harness.app, user.email, { subject: /^Sign in to / })
    await form.getByLabel('Sign-in code').fill(codeFrom(first))
    await form.getByRole('button', { name: 'Sign in with the code' }).click()
    await page.waitForURL('**/profile')
    expect(await currentAuthMethods(page)).toEqual(['email_code'])

    await signOut(page)
    await harness.app.inject({ method: 'POST', url: '/api/v1/auth/email-login', payload: { email: user.email } })
    const second = await waitForMail(harness.app, user.email, { subject: /^Sign in to /, exclude: [first.id] })
    // The link as mailed: PUBLIC_URL is this console's address.
    const link = /(http:\/\/localhost:\d+\/email-login\?token=\S+)/.exec(second.text)?.[1]
    expect(link && tokenFrom({ text: link })).toBeTruthy()
    await page.goto(link!)
    await page.waitForURL('**/profile')
    expect(await currentAuthMethods(page)).toEqual(['email_link'])
    expect(errors).toEqual([])
  }, 120_000)
})
