import { expect, it } from 'vitest'
import { totpAt } from '../../src/modules/auth/totp.js'
import { DEFAULT_PASSWORD, RESET_PASSWORD_SUBJECT, SIGN_IN_CODE_SUBJECT, VERIFY_EMAIL_SUBJECT, codeFrom, createUser, mailsTo, tokenFrom, uniqueName, waitForMail, wrongCode } from '../helpers/factories.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole } from './browser.js'

const AVATAR_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72"><rect width="72" height="72" fill="#1f5fbf"/><text x="36" y="47" font-size="30" text-anchor="middle" fill="#fff" font-family="sans-serif">AL</text></svg>'

describeWithBrowser('console: accounts and two-factor sign-in', () => {
  const harness = useConsole()

  const mailIds = async (email: string) => (await mailsTo(harness.app, email)).map((mail) => mail.id)

  /** A fresh user, signed in through the form, on the Security page; page errors are collected. */
  async function openSecurityPageAsNewUser() {
    const page = await harness.newPage()
    const errors = collectPageErrors(page)
    const user = await createUser(harness.app)
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/profile')
    await page.goto('/security')
    return { page, errors, user }
  }

  it('registers, signs in, turns on email 2FA, signs in with the emailed code, edits the profile and keeps it after a reload', async () => {
    const page = await harness.newPage()
    const errors = collectPageErrors(page)
    // The avatar lives on another site; the test serves it so the preview does not need the internet.
    await page.route('https://example.com/ada.svg', (route) => route.fulfill({ contentType: 'image/svg+xml', body: AVATAR_SVG }))
    const username = uniqueName('ada')
    const email = `${username}@example.com`

    // Register
    await page.goto('/register')
    await page.getByLabel('Username').fill(username)
    await page.getByLabel('Email').fill(email)
    await page.getByLabel('Password', { exact: true }).fill(DEFAULT_PASSWORD)
    await page.getByLabel('Confirm password').fill(DEFAULT_PASSWORD)
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.waitForURL('**/login')
    await eventually(() => page.getByRole('status').first().textContent()).toContain(`Account ${username} created`)
    await harness.screenshot(page, 'sign-in')

    // Sign in
    await signIn(page, username, DEFAULT_PASSWORD)
    await page.waitForURL('**/profile')
    await page.getByRole('heading', { name: 'Profile', level: 1 }).waitFor()
    expect(await page.getByRole('navigation', { name: 'Main' }).textContent()).toContain(username)

    // Turn on email 2FA: the code comes from the dev outbox
    await page.getByRole('link', { name: 'Security' }).click()
    await page.waitForURL('**/security')
    const seen = await mailIds(email)
    await page.getByRole('button', { name: 'Turn on with email codes' }).click()
    const enableCode = codeFrom(await waitForMail(harness.app, email, { subject: SIGN_IN_CODE_SUBJECT, exclude: seen }))
    await page.getByLabel('Code from the email').fill(enableCode)
    await page.getByRole('button', { name: 'Turn on', exact: true }).click()
    const codes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem')
    await eventually(() => codes.count()).toBe(10)
    await eventually(() => page.getByTestId('two-factor-status').textContent()).toBe('On, using codes sent by email')
    await harness.screenshot(page, 'security')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    expect(await codes.count()).toBe(0)

    // Sign out, then in again: now a code is needed
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.waitForURL('**/login')
    const beforeLogin = await mailIds(email)
    await signIn(page, email, DEFAULT_PASSWORD)
    await page.waitForURL('**/two-factor')
    await page.getByText('We emailed you a 6-digit code').waitFor()
    await harness.screenshot(page, 'two-factor')
    const loginCode = codeFrom(await waitForMail(harness.app, email, { subject: SIGN_IN_CODE_SUBJECT, exclude: beforeLogin }))
    await page.getByLabel('Verification code').fill(loginCode)
    await page.getByRole('button', { name: 'Verify' }).click()
    await page.waitForURL('**/profile')

    // Edit the profile, then reload: still signed in, and the change is there
    await page.getByLabel('First name').fill('Ada')
    await page.getByLabel('Last name').fill('Lovelace')
    await page.getByLabel('Phone number').fill('+44 20 7946 0000')
    await page.getByLabel('Time zone').selectOption('Europe/London')
    await page.getByLabel('Language').selectOption('en-GB')
    await page.getByLabel('Avatar URL').fill('https://example.com/ada.svg')
    await page.getByLabel('Bio').fill('Wrote the first program.')
    await page.getByRole('button', { name: 'Save profile' }).click()
    await eventually(() => page.getByRole('status').first().textContent()).toBe('Profile saved.')
    expect(await page.getByRole('img', { name: 'Avatar preview' }).getAttribute('src')).toBe('https://example.com/ada.svg')

    await page.reload()
    await page.getByRole('heading', { name: 'Profile', level: 1 }).waitFor()
    expect(page.url()).toMatch(/\/profile$/)
    expect(await page.getByLabel('First name').inputValue()).toBe('Ada')
    expect(await page.getByLabel('Last name').inputValue()).toBe('Lovelace')
    expect(await page.getByLabel('Time zone').inputValue()).toBe('Europe/London')
    expect(await page.getByLabel('Language').inputValue()).toBe('en-GB')
    expect(await page.getByLabel('Bio').inputValue()).toBe('Wrote the first program.')
    expect(await page.getByText('On (email)').count()).toBe(1)
    await harness.screenshot(page, 'profile')

    expect(errors).toEqual([])
  }, 90_000)

  it('says clearly when the password or the 2FA code is wrong', async () => {
    const page = await harness.newPage()
    const user = await createUser(harness.app)

    // A 422 lands on the field it is about
    await page.goto('/register')
    await page.getByLabel('Username').fill('no spaces please')
    await page.getByLabel('Email').fill('someone@example.com')
    await page.getByLabel('Password', { exact: true }).fill(DEFAULT_PASSWORD)
    await page.getByLabel('Confirm password').fill(DEFAULT_PASSWORD)
    await page.getByRole('button', { name: 'Create account' }).click()
    const username = page.getByLabel('Username')
    await eventually(() => username.getAttribute('aria-invalid')).toBe('true')
    expect(await page.getByText('Contains characters or a format that is not allowed').count()).toBe(1)
    expect(await page.getByRole('alert').first().textContent()).toBe('Please correct the highlighted field.')

    await signIn(page, user.username, 'not-the-password')
    const alert = page.getByRole('alert').filter({ hasText: /\S/ })
    await eventually(() => alert.textContent()).toBe('Incorrect username/email or password')
    expect(page.url()).toMatch(/\/login$/)
    // What was typed stays, so fixing a typo is one field
    expect(await page.getByLabel('Username or email').inputValue()).toBe(user.username)

    // Turn on email 2FA through the API, then sign in and give a wrong code
    const { access_token } = (await harness.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.username, password: user.password } })).json() as { access_token: string }
    const headers = { authorization: `Bearer ${access_token}` }
    const seen = await mailIds(user.email)
    expect((await harness.app.inject({ method: 'POST', url: '/api/v1/auth/enable-2fa', headers })).statusCode).toBe(200)
    const code = codeFrom(await waitForMail(harness.app, user.email, { subject: SIGN_IN_CODE_SUBJECT, exclude: seen }))
    expect((await harness.app.inject({ method: 'POST', url: '/api/v1/auth/enable-2fa', headers, payload: { code } })).statusCode).toBe(200)

    const beforeLogin = await mailIds(user.email)
    await page.getByLabel('Password', { exact: true }).fill(user.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL('**/two-factor')
    const loginCode = codeFrom(await waitForMail(harness.app, user.email, { subject: SIGN_IN_CODE_SUBJECT, exclude: beforeLogin }))
    await page.getByLabel('Verification code').fill(wrongCode(loginCode))
    await page.getByRole('button', { name: 'Verify' }).click()
    await eventually(() => alert.textContent()).toBe('Invalid 2FA code')
    expect(page.url()).toMatch(/\/two-factor$/)

    // The right code still works after a wrong one
    await page.getByLabel('Verification code').fill(loginCode)
    await page.getByRole('button', { name: 'Verify' }).click()
    await page.waitForURL('**/profile')
  }, 60_000)

  it('asks to sign in again over the page when the session ends, and keeps what was typed', async () => {
    const page = await harness.newPage()
    const user = await createUser(harness.app)
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/profile')

    await page.getByLabel('Bio').fill('Typed before the session ended')
    // The session ends elsewhere (e.g. "sign out everywhere" on another device)
    const token = await page.evaluate(() => (JSON.parse(localStorage.getItem('carbelsad.session') ?? '{}') as { access_token?: string }).access_token ?? '')
    expect((await harness.app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200)

    await page.getByRole('button', { name: 'Save profile' }).click()
    const dialog = page.getByRole('dialog', { name: 'Sign in to continue' })
    await dialog.waitFor()
    expect(await dialog.getByLabel('Username or email').inputValue()).toBe(user.username)
    await dialog.getByLabel('Password', { exact: true }).fill(user.password)
    await dialog.getByRole('button', { name: 'Sign in and continue' }).click()
    await dialog.waitFor({ state: 'hidden' })

    // The save that hit the 401 went through after signing in
    await eventually(() => page.getByRole('status').first().textContent()).toBe('Profile saved.')
    expect(await page.getByLabel('Bio').inputValue()).toBe('Typed before the session ended')
    const me = await harness.app.inject({ method: 'GET', url: `/api/v1/users/me`, headers: { authorization: `Bearer ${await page.evaluate(() => (JSON.parse(localStorage.getItem('carbelsad.session') ?? '{}') as { access_token?: string }).access_token ?? '')}` } })
    expect(me.json()).toMatchObject({ bio: 'Typed before the session ended' })
  }, 60_000)

  it('turns on authenticator-app 2FA from a locally drawn QR code, then signs in with a recovery code', async () => {
    const { page, errors, user } = await openSecurityPageAsNewUser()

    await page.getByRole('button', { name: 'Turn on with an authenticator app' }).click()
    const qr = page.getByRole('img', { name: 'QR code to scan with your authenticator app' })
    await qr.waitFor()
    // Drawn in the page (a data: URL), never fetched from a QR service
    expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/)
    const secret = ((await page.getByTestId('totp-secret').textContent()) ?? '').replace(/\s/g, '')
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/)
    await harness.screenshot(page, 'security-totp')
    await page.getByLabel('Code from the app').fill(totpAt(secret, Date.now()))
    await page.getByRole('button', { name: 'Turn on', exact: true }).click()
    await eventually(() => page.getByTestId('two-factor-status').textContent()).toBe('On, using an authenticator app')
    const codes = await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents()
    expect(codes).toHaveLength(10)

    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.waitForURL('**/login')
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/two-factor')
    await page.getByText('Enter the 6-digit code from your authenticator app.').waitFor()
    expect(await page.getByRole('button', { name: 'Send a new code' }).count()).toBe(0)
    await page.getByRole('button', { name: 'Use a recovery code' }).click()
    await page.getByLabel('Recovery code').fill(codes[0] ?? '')
    await page.getByRole('button', { name: 'Verify' }).click()
    await page.waitForURL('**/profile')
    expect(errors).toEqual([])
  }, 60_000)

  it('verifies the email address and resets a forgotten password from the mailed links', async () => {
    const page = await harness.newPage()
    const user = await createUser(harness.app)

    const verifyMail = await waitForMail(harness.app, user.email, { subject: VERIFY_EMAIL_SUBJECT })
    await page.goto(`/verify-email?token=${encodeURIComponent(tokenFrom(verifyMail))}`)
    await eventually(() => page.getByRole('status').first().textContent()).toBe('Your email address is confirmed. Thank you!')
    // A link works once
    await page.reload()
    await eventually(() => page.getByRole('alert').first().textContent()).toBe('Invalid or expired token')

    await page.goto('/forgot-password')
    await page.getByLabel('Email').fill(user.email)
    await page.getByRole('button', { name: 'Send reset link' }).click()
    await eventually(() => page.getByRole('status').first().textContent()).toContain('If that email is registered, a reset link has been sent')
    const resetMail = await waitForMail(harness.app, user.email, { subject: RESET_PASSWORD_SUBJECT })

    await page.goto(`/reset-password?token=${encodeURIComponent(tokenFrom(resetMail))}`)
    const newPassword = 'Another-long-passphrase-42'
    await page.getByLabel('New password', { exact: true }).fill(newPassword)
    await page.getByLabel('Confirm new password').fill('something else')
    await page.getByRole('button', { name: 'Set new password' }).click()
    await eventually(() => page.getByRole('alert').first().textContent()).toBe('The passwords do not match.')
    await page.getByLabel('Confirm new password').fill(newPassword)
    await page.getByRole('button', { name: 'Set new password' }).click()
    await page.waitForURL('**/login')
    await eventually(() => page.getByRole('status').first().textContent()).toContain('Password has been reset')

    await page.getByLabel('Username or email').fill(user.username)
    await page.getByLabel('Password', { exact: true }).fill(newPassword)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL('**/profile')
    await eventually(() => page.getByText('Verified', { exact: true }).count()).toBe(1)
  }, 60_000)

  it('creates, lists and revokes an API key, changes the password and signs out everywhere', async () => {
    const { page, errors, user } = await openSecurityPageAsNewUser()

    await page.getByLabel('Name').fill('nightly export')
    await page.getByLabel('Access').selectOption('write')
    await page.getByRole('button', { name: 'Create key' }).click()
    const secret = (await page.getByTestId('new-api-key').textContent()) ?? ''
    expect(secret).toMatch(/^cbs_/)
    // The key works, and the list shows it without the secret
    expect((await harness.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-api-key': secret } })).json()).toMatchObject({ username: user.username })
    const row = page.locator('tr', { hasText: 'nightly export' })
    expect(await row.textContent()).toContain('Read and write')
    expect(await page.locator('table').textContent()).not.toContain(secret)
    await page.getByRole('button', { name: 'Done' }).click()
    expect(await page.getByTestId('new-api-key').count()).toBe(0)

    await row.getByRole('button', { name: 'Revoke' }).click()
    await page.getByRole('dialog', { name: 'Revoke "nightly export"?' }).getByRole('button', { name: 'Revoke key' }).click()
    await eventually(() => row.textContent()).toContain('Revoked')
    expect((await harness.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-api-key': secret } })).statusCode).toBe(401)

    // A wrong current password is named; the right one swaps in the new access token and keeps the session
    await page.getByLabel('Current password').fill('wrong-password')
    await page.getByLabel('New password', { exact: true }).fill('A-brand-new-passphrase-7')
    await page.getByLabel('Confirm new password').fill('A-brand-new-passphrase-7')
    await page.getByRole('button', { name: 'Change password' }).click()
    await eventually(() => page.getByRole('alert').filter({ hasText: /\S/ }).first().textContent()).toBe('Current password is incorrect')
    await page.getByLabel('Current password').fill(user.password)
    await page.getByRole('button', { name: 'Change password' }).click()
    await eventually(() => page.getByRole('status').filter({ hasText: /\S/ }).first().textContent()).toContain('Password changed')
    await page.reload()
    await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor()

    await page.getByRole('button', { name: 'Sign out everywhere' }).click()
    await page.getByRole('dialog', { name: 'Sign out everywhere?' }).getByRole('button', { name: 'Sign out everywhere' }).click()
    await page.waitForURL('**/login')
    await eventually(() => page.getByRole('status').first().textContent()).toContain('signed out on every device')
    expect(errors).toEqual([])
  }, 60_000)

  it('keeps the session over a reload and refreshes an expired access token once, however many calls need it', async () => {
    const context = await harness.newContext()
    const first = await context.newPage()
    const user = await createUser(harness.app)
    await signIn(first, user.username, user.password)
    await first.waitForURL('**/profile')
    const stored = () => first.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? 'null') as { refresh_token: string } | null)
    const before = await stored()
    expect(before?.refresh_token).toBeTruthy()
    await first.close()

    // 31 minutes later by the browser's clock: the 30-minute access token is stale when the page loads
    await context.clock.install({ time: Date.now() + 31 * 60_000 })
    const page = await context.newPage()
    const refreshes: string[] = []
    page.on('request', (request) => {
      if (request.url().endsWith('/api/v1/auth/refresh')) refreshes.push(request.url())
    })
    // The Security page loads the user and the API keys at once: both need a fresh token
    await page.goto('/security')
    await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor()
    await page.getByText('You have no API keys yet.').waitFor()
    expect(refreshes).toHaveLength(1)
    expect(await page.getByRole('dialog', { name: 'Sign in to continue' }).isVisible()).toBe(false)
    const after = await page.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? 'null') as { refresh_token: string } | null)
    // Rotation: the new refresh token was kept, and the old one is dead
    expect(after?.refresh_token).toBeTruthy()
    expect(after?.refresh_token).not.toBe(before?.refresh_token)
    const reuse = await harness.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: after?.refresh_token } })
    expect(reuse.statusCode).toBe(200)
  }, 60_000)

  it('works at phone width: the navigation folds into a menu', async () => {
    const page = await harness.newPage({ width: 390, height: 844 })
    const user = await createUser(harness.app)
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/profile')

    const nav = page.getByRole('navigation', { name: 'Main' })
    const menu = page.getByRole('button', { name: 'Menu' })
    expect(await nav.isVisible()).toBe(false)
    expect(await menu.getAttribute('aria-expanded')).toBe('false')
    await menu.click()
    expect(await menu.getAttribute('aria-expanded')).toBe('true')
    expect(await nav.getByRole('link', { name: 'Security' }).isVisible()).toBe(true)
    await harness.screenshot(page, 'phone-menu')
    await menu.click()

    // Nothing is wider than the screen
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    await harness.screenshot(page, 'phone-profile')
  }, 60_000)
})
