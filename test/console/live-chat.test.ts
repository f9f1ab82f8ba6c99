import type { Page } from 'playwright-core'
import { expect, it } from 'vitest'
import { createUser } from '../helpers/factories.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole } from './browser.js'

describeWithBrowser('console: live chat', () => {
  const harness = useConsole()

  const log = (page: Page) => page.getByRole('log')
  const members = (page: Page) => page.getByTestId('members')

  async function joinLobby(page: Page) {
    await page.goto('/live')
    await page.getByLabel('Room name').fill('lobby')
    await page.getByRole('button', { name: 'Join', exact: true }).click()
    await log(page).getByText('You joined lobby').waitFor()
  }

  it('two users chat in one room and see each other join, talk and leave', async () => {
    const alice = await createUser(harness.app, 'admin')
    const bob = await createUser(harness.app)
    const pageA = await (await harness.newContext()).newPage()
    const pageB = await (await harness.newContext()).newPage()
    const errors = [...collectPageErrors(pageA), ...collectPageErrors(pageB)]

    await signIn(pageA, alice.username, alice.password)
    await pageA.waitForURL('**/profile')
    await signIn(pageB, bob.username, bob.password)
    await pageB.waitForURL('**/profile')

    await joinLobby(pageA)
    expect(await pageA.getByTestId('connection').textContent()).toContain(`Connected as ${alice.username}-`)
    await joinLobby(pageB)

    // Presence: each sees the other in the member list; Alice is told Bob joined
    await log(pageA).getByText(`${bob.username} joined`).waitFor()
    await eventually(() => members(pageA).textContent()).toContain(bob.username)
    await eventually(() => members(pageB).textContent()).toContain(alice.username)

    // Messages both ways
    await pageB.getByLabel('Message', { exact: true }).fill('Hello from Bob')
    await pageB.getByRole('button', { name: 'Send', exact: true }).click()
    await log(pageA).getByText('Hello from Bob').waitFor()
    expect(await log(pageA).locator('li', { hasText: 'Hello from Bob' }).textContent()).toContain(bob.username)
    await pageA.getByLabel('Message', { exact: true }).fill('Hi Bob, Alice here')
    await pageA.getByRole('button', { name: 'Send', exact: true }).click()
    await log(pageB).getByText('Hi Bob, Alice here').waitFor()
    // The sender gets the echo too, which confirms delivery
    await log(pageA).getByText('Hi Bob, Alice here').waitFor()

    // Admin broadcast to the room reaches Bob
    await pageA.getByLabel('Announcement').fill('Maintenance at six')
    await pageA.getByLabel('Send to').selectOption('lobby')
    await pageA.getByRole('button', { name: 'Send broadcast' }).click()
    await log(pageB).getByText('Maintenance at six').waitFor()
    await harness.screenshot(pageA, 'live-chat')

    // Bob leaves: Alice is told, and he is gone from her member list
    await pageB.getByRole('button', { name: 'Leave lobby' }).click()
    await log(pageA).getByText(`${bob.username} left`).waitFor()
    await eventually(() => members(pageA).textContent()).not.toContain(bob.username)
    expect(errors).toEqual([])
  }, 90_000)

  it('reconnects by itself and rejoins its rooms after the session ends and the user signs in again', async () => {
    const user = await createUser(harness.app)
    const page = await harness.newPage()
    await signIn(page, user.username, user.password)
    await page.waitForURL('**/profile')
    await joinLobby(page)
    const connection = page.getByTestId('connection')
    await eventually(() => connection.textContent()).toContain('Connected as')

    // Signed out everywhere from elsewhere: the server closes the socket (4401) within seconds
    const token = await page.evaluate(() => (JSON.parse(localStorage.getItem('carbelsad.session') ?? '{}') as { access_token?: string }).access_token ?? '')
    expect((await harness.app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200)
    const dialog = page.getByRole('dialog', { name: 'Sign in to continue' })
    await dialog.waitFor()
    await eventually(() => connection.textContent()).toContain('Disconnected')

    await dialog.getByLabel('Password', { exact: true }).fill(user.password)
    await dialog.getByRole('button', { name: 'Sign in and continue' }).click()
    await eventually(() => connection.textContent()).toContain('Connected as')
    await log(page).getByText('Rejoined lobby').waitFor()
    await eventually(() => members(page).textContent()).toContain(user.username)
  }, 60_000)
})
