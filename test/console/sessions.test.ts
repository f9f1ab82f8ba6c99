import { eq } from 'drizzle-orm'
import type { Locator, Page } from 'playwright-core'
import { expect, it } from 'vitest'
import { sessions } from '../../src/db/schema.js'
import { authHeader, createUser, type TestUser } from '../helpers/factories.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole, type ConsoleHarness, type ContextOptions } from './browser.js'

/** Devices a person would tell apart in the list; the server labels them from these user agents. */
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
const CHROME_ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36'
const SIGN_IN_AGAIN = 'Sign in to continue'

interface StoredSession {
  access_token: string
  refresh_token: string
}

interface SessionView {
  id: string
  device: string | null
  ip: string | null
  auth_methods: string[]
  current: boolean
}

function storedSession(page: Page): Promise<StoredSession | null> {
  return page.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? 'null') as StoredSession | null)
}

function sidOf(accessToken: string): string {
  return (JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString()) as { sid: string }).sid
}

/** One "device": its own browser profile and user agent, signed in through the form. */
async function signedInDevice(harness: ConsoleHarness, user: TestUser, options: ContextOptions) {
  const context = await harness.newContext(options)
  const page = await context.newPage()
  const errors = collectPageErrors(page)
  await signIn(page, user.username, user.password)
  await page.waitForURL('**/profile')
  await page.getByRole('heading', { name: 'Profile', level: 1 }).waitFor()
  const tokens = await storedSession(page)
  if (!tokens) throw new Error('signed in without a stored session')
  return { page, errors, tokens, sid: sidOf(tokens.access_token) }
}

/** What the server lists, asked with a device's own token (so `current` is that device). */
async function serverList(harness: ConsoleHarness, accessToken: string, userAgent: string): Promise<SessionView[]> {
  const response = await harness.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: { ...authHeader(accessToken), 'user-agent': userAgent } })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as SessionView[]
}

/** Whether the server still accepts an access token and a refresh token of an ended or live session. */
async function tokenStatuses(harness: ConsoleHarness, tokens: StoredSession) {
  const me = await harness.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(tokens.access_token) })
  const refresh = await harness.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: tokens.refresh_token } })
  return { me: me.statusCode, refresh: refresh.statusCode }
}

const sessionItems = (page: Page) => page.getByRole('list', { name: 'Your sessions' }).locator('li[data-session]')
const sessionItem = (page: Page, id: string) => page.locator(`li[data-session="${id}"]`)

async function openSecurity(page: Page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security' }).click()
  await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor()
}

/** The labelled facts of one listed session ("Last active" → "just now"). */
async function factsOf(item: Locator): Promise<Record<string, string>> {
  const terms = await item.locator('dt').allTextContents()
  const values = await item.locator('dd').allTextContents()
  return Object.fromEntries(terms.map((term, index) => [term, values[index] ?? '']))
}

describeWithBrowser('console: sessions', () => {
  const harness = useConsole()

  it('lists both devices with this one marked, signs the other out, and that device is asked to sign in on its next call', async () => {
    const user = await createUser(harness.app)
    const phone = await signedInDevice(harness, user, { userAgent: SAFARI_IPHONE })
    const laptop = await signedInDevice(harness, user, { userAgent: FIREFOX_LINUX })
    await openSecurity(laptop.page)

    // Both sessions, the laptop's own first (most recent use) and marked as this device
    const items = sessionItems(laptop.page)
    await eventually(() => items.count()).toBe(2)
    expect(await items.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-session')))).toEqual([laptop.sid, phone.sid])
    const own = sessionItem(laptop.page, laptop.sid)
    const other = sessionItem(laptop.page, phone.sid)
    expect(await own.locator('strong').textContent()).toBe('Firefox on Linux')
    expect(await own.locator('.badge').textContent()).toBe('This device')
    expect(await own.getByRole('button').count()).toBe(0)
    expect(await factsOf(own)).toMatchObject({ 'Last active': 'now', 'IP address': '127.0.0.1', 'Proven with': 'Password' })
    expect(await other.locator('strong').textContent()).toBe('Safari on iOS')
    expect(await other.locator('.badge').count()).toBe(0)
    expect(await factsOf(other)).toMatchObject({ 'Last active': 'just now', 'IP address': '127.0.0.1', 'Proven with': 'Password' })
    // "Signed in" is the server's created_at in the profile's time zone (UTC here)
    expect((await factsOf(other))['Signed in']).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s?[AP]M$/)
    // The page shows what the server lists
    const listed = await serverList(harness, laptop.tokens.access_token, FIREFOX_LINUX)
    expect(listed.map(({ id, device, current }) => ({ id, device, current }))).toEqual([
      { id: laptop.sid, device: 'Firefox on Linux', current: true },
      { id: phone.sid, device: 'Safari on iOS', current: false },
    ])
    await harness.screenshot(laptop.page, 'security-sessions')

    // Sign the phone out: asked first, then the list has only this device
    await other.getByRole('button', { name: 'Sign out Safari on iOS at 127.0.0.1' }).click()
    const confirm = laptop.page.getByRole('dialog', { name: 'Sign out Safari on iOS?' })
    await confirm.getByRole('button', { name: 'Sign out', exact: true }).click()
    await eventually(() => laptop.page.getByRole('status').filter({ hasText: /\S/ }).first().textContent()).toBe('Signed out Safari on iOS.')
    await eventually(() => items.count()).toBe(1)
    expect(await items.first().getAttribute('data-session')).toBe(laptop.sid)
    expect(await laptop.page.getByText('No other device is signed in.').isVisible()).toBe(true)
    expect(await laptop.page.getByRole('button', { name: 'Sign out all other sessions' }).count()).toBe(0)
    // The server refuses the phone's tokens at once; the laptop's still work
    expect(await tokenStatuses(harness, phone.tokens)).toEqual({ me: 401, refresh: 401 })
    expect((await harness.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: authHeader(laptop.tokens.access_token) })).statusCode).toBe(200)

    // The phone's next call (opening the Security page) is refused: it is asked to sign in, over the page
    await openSecurity(phone.page)
    const dialog = phone.page.getByRole('dialog', { name: SIGN_IN_AGAIN })
    await dialog.waitFor()
    expect(await storedSession(phone.page)).toBeNull()
    expect(phone.page.url()).toMatch(/\/security$/)
    await harness.screenshot(phone.page, 'security-sessions-signed-out')

    // Signing in again there starts a new session, which the laptop sees
    await dialog.getByLabel('Password', { exact: true }).fill(user.password)
    await dialog.getByRole('button', { name: 'Sign in and continue' }).click()
    await dialog.waitFor({ state: 'hidden' })
    const again = await storedSession(phone.page)
    expect(again).not.toBeNull()
    const newSid = sidOf(again?.access_token ?? '')
    expect(newSid).not.toBe(phone.sid)
    // The refused call was replayed: the phone's own list loads, with itself as this device
    await eventually(() => sessionItem(phone.page, newSid).locator('.badge').textContent()).toBe('This device')
    await laptop.page.reload()
    await eventually(() => sessionItems(laptop.page).evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-session')))).toEqual([
      newSid,
      laptop.sid,
    ])
    expect(laptop.errors).toEqual([])
    expect(phone.errors).toEqual([])
  }, 90_000)

  it('signs out all other sessions from a phone and keeps this one; a signed-out device that gives up lands on sign-in', async () => {
    const user = await createUser(harness.app)
    const laptop = await signedInDevice(harness, user, { userAgent: FIREFOX_LINUX })
    const desktop = await signedInDevice(harness, user, { userAgent: CHROME_WINDOWS })
    const phone = await signedInDevice(harness, user, { userAgent: CHROME_ANDROID, width: 390, height: 844 })
    // A script signed in hours ago from another address, idle since: the list says how long ago
    const script = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username_or_email: user.username, password: user.password },
      headers: { 'user-agent': 'curl/8.5.0' },
      remoteAddress: '203.0.113.7',
    })
    expect(script.statusCode, script.body).toBe(200)
    const scriptSid = sidOf((script.json() as StoredSession).access_token)
    const hour = 3_600_000
    await harness.app.db
      .update(sessions)
      .set({ createdAt: new Date(Date.now() - 30 * hour), lastUsedAt: new Date(Date.now() - 3 * hour - 60_000) })
      .where(eq(sessions.id, scriptSid))

    await phone.page.getByRole('button', { name: 'Menu' }).click()
    await openSecurity(phone.page)
    const items = sessionItems(phone.page)
    await eventually(() => items.count()).toBe(4)
    expect(await items.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-session')))).toEqual([phone.sid, desktop.sid, laptop.sid, scriptSid])
    expect(await sessionItem(phone.page, phone.sid).locator('.badge').textContent()).toBe('This device')
    expect(await factsOf(sessionItem(phone.page, scriptSid))).toMatchObject({ 'Last active': '3 hours ago', 'IP address': '203.0.113.7' })
    expect(await sessionItem(phone.page, scriptSid).locator('strong').textContent()).toBe('curl')
    expect(
      await sessionItems(phone.page)
        .getByRole('button', { name: /^Sign out / })
        .count(),
    ).toBe(3)
    // Nothing is wider than the phone's screen
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0)
    await harness.screenshot(phone.page, 'security-sessions-phone')

    await phone.page.getByRole('button', { name: 'Sign out all other sessions' }).click()
    const confirm = phone.page.getByRole('dialog', { name: 'Sign out all other sessions?' })
    expect(await confirm.textContent()).toContain('The 3 other devices will have to sign in again.')
    await confirm.getByRole('button', { name: 'Sign out the others' }).click()
    await eventually(() => phone.page.getByRole('status').filter({ hasText: /\S/ }).first().textContent()).toBe(
      'Signed out every other session. Only this device is still signed in.',
    )
    await eventually(() => items.count()).toBe(1)
    expect(await items.first().getAttribute('data-session')).toBe(phone.sid)
    // The server agrees: every other session's tokens are refused, this one's still work
    expect((await serverList(harness, phone.tokens.access_token, CHROME_ANDROID)).map((session) => session.id)).toEqual([phone.sid])
    expect(await tokenStatuses(harness, laptop.tokens)).toEqual({ me: 401, refresh: 401 })
    expect(await tokenStatuses(harness, desktop.tokens)).toEqual({ me: 401, refresh: 401 })

    // The desktop reloads: asked to sign in; closing the question sends it to the sign-in page, back to where it was after
    await desktop.page.reload()
    const dialog = desktop.page.getByRole('dialog', { name: SIGN_IN_AGAIN })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Close' }).click()
    await desktop.page.waitForURL(/\/login\?next=%2Fprofile$/)
    expect(await storedSession(desktop.page)).toBeNull()

    // The laptop's next click is refused too
    await openSecurity(laptop.page)
    await laptop.page.getByRole('dialog', { name: SIGN_IN_AGAIN }).waitFor()
    expect(await storedSession(laptop.page)).toBeNull()

    // The phone is still signed in after a reload
    await phone.page.reload()
    await eventually(() => items.count()).toBe(1)
    expect(await phone.page.getByRole('dialog', { name: SIGN_IN_AGAIN }).isVisible()).toBe(false)
    for (const device of [laptop, desktop, phone]) expect(device.errors).toEqual([])
  }, 90_000)

  it('says so when the session was already signed out elsewhere, and refreshes the list', async () => {
    const user = await createUser(harness.app)
    const phone = await signedInDevice(harness, user, { userAgent: SAFARI_IPHONE })
    const laptop = await signedInDevice(harness, user, { userAgent: FIREFOX_LINUX })
    await openSecurity(laptop.page)
    await eventually(() => sessionItems(laptop.page).count()).toBe(2)

    // The phone signs itself out while the laptop's list still shows it
    await phone.page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await phone.page.waitForURL('**/login')
    expect(await tokenStatuses(harness, phone.tokens)).toEqual({ me: 401, refresh: 401 })

    await sessionItem(laptop.page, phone.sid)
      .getByRole('button', { name: /^Sign out Safari on iOS/ })
      .click()
    await laptop.page.getByRole('dialog', { name: 'Sign out Safari on iOS?' }).getByRole('button', { name: 'Sign out', exact: true }).click()
    await eventually(() => laptop.page.getByRole('status').filter({ hasText: /\S/ }).first().textContent()).toBe('Safari on iOS was already signed out.')
    expect(await laptop.page.getByRole('alert').filter({ hasText: /\S/ }).count()).toBe(0)
    await eventually(() => sessionItems(laptop.page).count()).toBe(1)
    expect(laptop.errors).toEqual([])
  }, 60_000)
})
