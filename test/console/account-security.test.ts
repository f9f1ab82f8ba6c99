import type { Page } from 'playwright-core'
import { expect, it } from 'vitest'
import { totpAt } from '../../src/modules/auth/totp.js'
import { authHeader, createUser, loginAs, mailsTo, tokenFrom, uniqueName, waitForMail, type TestUser } from '../helpers/factories.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole, type ConsoleHarness } from './browser.js'

const CHANGE_EMAIL_SUBJECT = /confirm your new email/i
const CONFIRM_DIALOG = /Confirm it.s you/

/** Rate limits on, but only the limit a test is about can be reached: the browser and the tests share 127.0.0.1. */
const LIMITS = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_MINUTE: '100000', AUTH_RATE_LIMIT_PER_MINUTE: '100000' }

interface StoredSession {
  access_token: string
  refresh_token: string
}

function storedSession(page: Page): Promise<StoredSession | null> {
  return page.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? 'null') as StoredSession | null)
}

function claimsOf(accessToken: string): { auth_time: number; sid: string } {
  return JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString()) as { auth_time: number; sid: string }
}

/** A fresh user signed in through the form, on `path`; page errors are collected. */
async function signedInPage(harness: ConsoleHarness, path: '/profile' | '/security') {
  const page = await harness.newPage()
  const errors = collectPageErrors(page)
  const user = await createUser(harness.app)
  await signIn(page, user.username, user.password)
  await page.waitForURL('**/profile')
  if (path !== '/profile') await page.goto(path)
  await page.getByRole('heading', { name: path === '/profile' ? 'Profile' : 'Security', level: 1 }).waitFor()
  return { page, errors, user }
}

/** The user as the API sees it, through a session of its own (not the browser's). */
async function meOf(harness: ConsoleHarness, user: TestUser) {
  const tokens = await loginAs(harness.app, user)
  const response = await harness.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as { email: string; pending_email: string | null }
}

describeWithBrowser('console: pending email change', () => {
  const harness = useConsole({ ...LIMITS, MAIL_RATE_LIMIT_PER_RECIPIENT: '2' })

  const mailIds = async (email: string) => (await mailsTo(harness.app, email)).map((mail) => mail.id)

  it('shows the new address as pending with resend and cancel, and switches once the mailed link is opened', async () => {
    const { page, errors, user } = await signedInPage(harness, '/profile')
    const status = page.getByRole('status').filter({ hasText: /\S/ }).first()
    const pendingBox = page.getByRole('group', { name: /Waiting for confirmation/ })
    const firstAddress = `${uniqueName('moved')}@example.com`

    // Saving a new address leaves the current one in place and says where the link went
    await page.getByLabel('Email').fill(firstAddress)
    await page.getByRole('button', { name: 'Save profile' }).click()
    await eventually(() => status.textContent()).toBe(`Profile saved. We sent a link to ${firstAddress}; your email stays ${user.email} until you open it.`)
    expect(await page.getByTestId('pending-email').textContent()).toBe(firstAddress)
    expect(await page.getByLabel('Email').inputValue()).toBe(user.email)
    expect(await meOf(harness, user)).toMatchObject({ email: user.email, pending_email: firstAddress })
    const firstLink = await waitForMail(harness.app, firstAddress, { subject: CHANGE_EMAIL_SUBJECT })
    await harness.screenshot(page, 'profile-pending-email')

    // Resend mails a new link; the first one stops working
    await pendingBox.getByRole('button', { name: 'Resend link' }).click()
    await eventually(() => status.textContent()).toBe(`We sent a new link to ${firstAddress}. Earlier links no longer work.`)
    const secondLink = await waitForMail(harness.app, firstAddress, { subject: CHANGE_EMAIL_SUBJECT, exclude: [firstLink.id] })
    expect(tokenFrom(secondLink)).not.toBe(tokenFrom(firstLink))

    // Cancel drops it, on the page and on the server, and the link no longer works
    await pendingBox.getByRole('button', { name: 'Cancel change' }).click()
    await eventually(() => status.textContent()).toBe(`Email change cancelled; you keep ${user.email}.`)
    expect(await pendingBox.count()).toBe(0)
    expect(await meOf(harness, user)).toMatchObject({ email: user.email, pending_email: null })
    const cancelled = await harness.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: tokenFrom(secondLink) } })
    expect(cancelled.statusCode, cancelled.body).toBe(400)

    // Change again and open the link from the mail: the profile now shows the new address
    const finalAddress = `${uniqueName('final')}@example.com`
    await page.getByLabel('Email').fill(finalAddress)
    await page.getByRole('button', { name: 'Save profile' }).click()
    await eventually(() => page.getByTestId('pending-email').textContent()).toBe(finalAddress)
    const link = await waitForMail(harness.app, finalAddress, { subject: CHANGE_EMAIL_SUBJECT })
    await page.goto(`/verify-email?token=${encodeURIComponent(tokenFrom(link))}`)
    await eventually(() => page.getByRole('status').first().textContent()).toBe('Your email address is confirmed. Thank you!')
    await page.getByRole('link', { name: 'Go to your profile' }).click()
    await page.waitForURL('**/profile')
    await eventually(() => page.getByLabel('Email').inputValue()).toBe(finalAddress)
    expect(await pendingBox.count()).toBe(0)
    expect(await meOf(harness, { ...user, email: finalAddress })).toMatchObject({ email: finalAddress, pending_email: null })
    expect(errors).toEqual([])
  }, 90_000)

  it('says how long to wait when the new address got too many mails', async () => {
    const { page, errors } = await signedInPage(harness, '/profile')
    const address = `${uniqueName('busy')}@example.com`
    await page.getByLabel('Email').fill(address)
    await page.getByRole('button', { name: 'Save profile' }).click()
    await eventually(() => page.getByTestId('pending-email').textContent()).toBe(address)
    const seen = await mailIds(address)
    const resend = page.getByRole('button', { name: 'Resend link' })
    await resend.click()
    await waitForMail(harness.app, address, { subject: CHANGE_EMAIL_SUBJECT, exclude: seen })

    // MAIL_RATE_LIMIT_PER_RECIPIENT is 2 here: the third mail is refused, with the wait from Retry-After
    await resend.click()
    const alert = page.getByRole('alert').filter({ hasText: /\S/ }).first()
    await eventually(() => alert.textContent()).toMatch(/^Too many emails to this address\. Try again in \d+ (s|min)\.$/)
    expect(await mailIds(address)).toHaveLength(2)
    await harness.screenshot(page, 'profile-too-many-emails')
    expect(errors).toEqual([])
  }, 60_000)
})

describeWithBrowser('console: password prompt before sensitive actions (REAUTH_MAX_AGE_SECONDS=0)', () => {
  // Every sensitive action needs a proof right then; two wrong passwords from one address lock the account there.
  const harness = useConsole({ ...LIMITS, REAUTH_MAX_AGE_SECONDS: '0', LOGIN_RATE_LIMIT_PER_ACCOUNT_ADDRESS: '2' })

  it('asks for the password over the page when creating an API key, names a wrong one, and creates the key with the right one', async () => {
    const { page, errors, user } = await signedInPage(harness, '/security')
    const before = await storedSession(page)
    const dialog = page.getByRole('dialog', { name: CONFIRM_DIALOG })

    await page.getByLabel('Name').fill('deploy bot')
    await page.getByLabel('Access').selectOption('write')
    await page.getByRole('button', { name: 'Create key' }).click()
    await dialog.waitFor()
    // The page stays underneath with what was typed
    expect(await page.getByLabel('Name').inputValue()).toBe('deploy bot')

    await dialog.getByLabel('Your password').fill('not-my-password')
    await dialog.getByRole('button', { name: 'Confirm and continue' }).click()
    await eventually(() => dialog.getByRole('alert').textContent()).toBe('Password is incorrect')
    await harness.screenshot(page, 'confirm-identity')

    const confirmedAt = Math.floor(Date.now() / 1000)
    await dialog.getByLabel('Your password').fill(user.password)
    await dialog.getByRole('button', { name: 'Confirm and continue' }).click()
    const secret = page.getByTestId('new-api-key')
    await eventually(() => secret.textContent()).toMatch(/^cbs_/)
    expect(await dialog.isVisible()).toBe(false)
    const key = (await secret.textContent()) ?? ''
    expect((await harness.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-api-key': key } })).json()).toMatchObject({ username: user.username })
    expect(await page.locator('tr', { hasText: 'deploy bot' }).textContent()).toContain('Read and write')
    await harness.screenshot(page, 'confirm-identity-done')

    // The same session, with the new pair stored (the old refresh token was revoked by the server)
    const after = await storedSession(page)
    expect(after?.refresh_token).toBeTruthy()
    expect(after?.refresh_token).not.toBe(before?.refresh_token)
    expect(claimsOf(after?.access_token ?? '').sid).toBe(claimsOf(before?.access_token ?? '').sid)
    expect(claimsOf(after?.access_token ?? '').auth_time).toBeGreaterThanOrEqual(confirmedAt)
    // Replayed once: one key, not one per attempt
    const tokens = await loginAs(harness.app, user)
    const keys = await harness.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: authHeader(tokens.access_token) })
    expect((keys.json() as { name: string }[]).map((item) => item.name)).toEqual(['deploy bot'])

    // Still signed in after a reload: the stored pair is the live one
    await page.reload()
    await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor()
    expect(page.url()).toMatch(/\/security$/)
    expect(errors).toEqual([])
  }, 60_000)

  it('asks again at each step of authenticator setup, and closing the prompt leaves the action undone', async () => {
    const { page, errors, user } = await signedInPage(harness, '/security')
    const dialog = page.getByRole('dialog', { name: CONFIRM_DIALOG })
    const confirmWith = async (password: string) => {
      await dialog.waitFor()
      await dialog.getByLabel('Your password').fill(password)
      await dialog.getByRole('button', { name: 'Confirm and continue' }).click()
      await dialog.waitFor({ state: 'hidden' })
    }
    const start = page.getByRole('button', { name: 'Turn on with an authenticator app' })

    await start.click()
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'hidden' })
    const alert = page.getByRole('alert').filter({ hasText: /\S/ }).first()
    await eventually(() => alert.textContent()).toBe('Not done: this needs your password again. Try once more and confirm it when asked.')
    expect(await page.getByTestId('totp-secret').count()).toBe(0)

    await start.click()
    await confirmWith(user.password)
    const secret = ((await page.getByTestId('totp-secret').textContent()) ?? '').replace(/\s/g, '')
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/)
    await page.getByLabel('Code from the app').fill(totpAt(secret, Date.now()))
    await page.getByRole('button', { name: 'Turn on', exact: true }).click()
    await confirmWith(user.password)
    await eventually(() => page.getByTestId('two-factor-status').textContent()).toBe('On, using an authenticator app')
    expect(await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').count()).toBe(10)
    expect(errors).toEqual([])
  }, 60_000)

  it('says how long to wait after too many wrong passwords in the prompt', async () => {
    const { page, errors } = await signedInPage(harness, '/security')
    const dialog = page.getByRole('dialog', { name: CONFIRM_DIALOG })
    await page.getByLabel('Name').fill('never made')
    await page.getByRole('button', { name: 'Create key' }).click()
    await dialog.waitFor()
    const password = dialog.getByLabel('Your password')
    const confirm = dialog.getByRole('button', { name: 'Confirm and continue' })
    const alert = dialog.getByRole('alert')

    for (const attempt of ['wrong-1', 'wrong-2']) {
      await password.fill(attempt)
      await confirm.click()
      await eventually(() => alert.textContent()).toBe('Password is incorrect')
      // The alert keeps its text between attempts, so wait for the form to be idle again
      await eventually(() => confirm.isEnabled()).toBe(true)
    }
    await password.fill('wrong-3')
    await confirm.click()
    await eventually(() => alert.textContent()).toMatch(/^Too many failed sign-ins for this account from your address\. Try again in \d+ min\.$/)
    await harness.screenshot(page, 'confirm-identity-too-many')

    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await eventually(() => page.getByRole('alert').filter({ hasText: /\S/ }).first().textContent()).toContain('Not done')
    expect(await page.getByTestId('new-api-key').count()).toBe(0)
    expect(errors).toEqual([])
  }, 60_000)
})

describeWithBrowser('console: confirming with a recovery code (REAUTH_MAX_AGE_SECONDS=3)', () => {
  const harness = useConsole({ REAUTH_MAX_AGE_SECONDS: '3' })

  it('offers an authenticator or recovery code instead of the password to users with an authenticator', async () => {
    const { page, errors, user } = await signedInPage(harness, '/profile')
    const signedInAt = Date.now()

    // Authenticator 2FA turned on from another session, so the browser's proof keeps its sign-in time;
    // the password goes along in case that session's own proof is already older than the window.
    const headers = authHeader((await loginAs(harness.app, user)).access_token)
    const setup = await harness.app.inject({ method: 'POST', url: '/api/v1/auth/totp/setup', headers, payload: { password: user.password } })
    expect(setup.statusCode, setup.body).toBe(200)
    const { secret } = setup.json() as { secret: string }
    const confirmed = await harness.app.inject({ method: 'POST', url: '/api/v1/auth/totp/confirm', headers, payload: { code: totpAt(secret, Date.now()), password: user.password } })
    expect(confirmed.statusCode, confirmed.body).toBe(200)
    const recoveryCodes = (confirmed.json() as { recovery_codes: string[] }).recovery_codes

    await page.goto('/security')
    await eventually(() => page.getByTestId('two-factor-status').textContent()).toBe('On, using an authenticator app')
    // Let the sign-in proof grow older than the 3-second window
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, signedInAt + 4_500 - Date.now())))

    const dialog = page.getByRole('dialog', { name: CONFIRM_DIALOG })
    await page.getByLabel('Name').fill('with a code')
    await page.getByRole('button', { name: 'Create key' }).click()
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Use an authenticator or recovery code' }).click()
    const code = dialog.getByLabel('Authenticator or recovery code')
    await code.fill('aaaaa-bbbbb')
    await dialog.getByRole('button', { name: 'Confirm and continue' }).click()
    await eventually(() => dialog.getByRole('alert').textContent()).toBe('Invalid code')
    await harness.screenshot(page, 'confirm-identity-code')

    await code.fill(recoveryCodes[0] ?? '')
    await dialog.getByRole('button', { name: 'Confirm and continue' }).click()
    await eventually(() => page.getByTestId('new-api-key').textContent()).toMatch(/^cbs_/)
    expect(await dialog.isVisible()).toBe(false)
    // A recovery code works once
    const reused = await harness.app.inject({ method: 'POST', url: '/api/v1/auth/reauthenticate', headers, payload: { code: recoveryCodes[0] } })
    expect(reused.statusCode, reused.body).toBe(400)
    expect(errors).toEqual([])
  }, 60_000)
})
