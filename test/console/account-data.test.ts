import { readFile } from 'node:fs/promises'
import { and, eq, ne } from 'drizzle-orm'
import type { Download, Page } from 'playwright-core'
import { expect, it } from 'vitest'
import { sessions, users } from '../../src/db/schema.js'
import { createUser, userRow, type TestUser } from '../helpers/factories.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole, type ConsoleHarness } from './browser.js'

interface StoredSession {
  access_token: string
  refresh_token: string
  received_at: number
}

interface Export {
  profile: { id: number; username: string; email: string }
  sessions: unknown[]
}

const alertOf = (page: Page) => page.getByRole('alert').filter({ hasText: /\S/ }).first()
const statusOf = (page: Page) => page.getByRole('status').filter({ hasText: /\S/ }).first()

async function signedInPage(harness: ConsoleHarness, user: TestUser) {
  const page = await harness.newPage()
  const errors = collectPageErrors(page)
  await signIn(page, user.username, user.password)
  await page.waitForURL('**/profile')
  await page.getByRole('heading', { name: 'Profile', level: 1 }).waitFor()
  return { page, errors }
}

/** The saved file of a download, parsed. */
async function exported(download: Download): Promise<Export> {
  const path = await download.path()
  return JSON.parse(await readFile(path, 'utf8')) as Export
}

/**
 * Makes the page's session one whose last proof of identity is 20 minutes old: the session's proof time
 * goes back in the database, and the console is made to refresh, so its new access token carries it.
 */
async function ageTheProof(harness: ConsoleHarness, page: Page) {
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('carbelsad.session') ?? 'null') as StoredSession | null)
  if (!stored) throw new Error('the page has no session')
  const sid = (JSON.parse(Buffer.from(stored.access_token.split('.')[1] ?? '', 'base64url').toString()) as { sid: string }).sid
  await harness.app.db
    .update(sessions)
    .set({ authTime: new Date(Date.now() - 20 * 60_000) })
    .where(eq(sessions.id, sid))
  // A token "received" long ago is refreshed before the next call.
  await page.evaluate(() => {
    const session = JSON.parse(localStorage.getItem('carbelsad.session') ?? '{}') as StoredSession
    localStorage.setItem('carbelsad.session', JSON.stringify({ ...session, received_at: 0 }))
  })
  await page.reload()
  await page.getByRole('heading', { name: 'Profile', level: 1 }).waitFor()
  await eventually(() => page.evaluate(() => (JSON.parse(localStorage.getItem('carbelsad.session') ?? '{}') as StoredSession).received_at > 0)).toBe(true)
}

describeWithBrowser('console: your data and deleting your account', () => {
  const harness = useConsole()

  it('downloads the export as a JSON file with the user’s email, and asks for the password first once the sign-in is old', async () => {
    const user = await createUser(harness.app)
    const { page, errors } = await signedInPage(harness, user)
    const section = page.getByRole('region', { name: 'Your data' })

    // Fresh from signing in: the file comes straight away
    const first = page.waitForEvent('download')
    await section.getByRole('button', { name: 'Download my data' }).click()
    const file = await first
    expect(file.suggestedFilename()).toBe(`account-export-${user.id}.json`)
    const data = await exported(file)
    expect(data.profile).toMatchObject({ id: user.id, username: user.username, email: user.email })
    expect(data.sessions.length).toBeGreaterThan(0)
    await eventually(() => statusOf(page).textContent()).toBe(`Your data was downloaded as account-export-${user.id}.json.`)

    // Twenty minutes later: the password is asked for, a wrong one downloads nothing
    await ageTheProof(harness, page)
    let downloads = 0
    page.on('download', () => {
      downloads += 1
    })
    await section.getByRole('button', { name: 'Download my data' }).click()
    const confirm = section.getByRole('form', { name: 'Confirm it’s you to download your data' })
    await confirm.getByLabel('Your password').fill('not-my-password')
    await confirm.getByRole('button', { name: 'Confirm and download' }).click()
    await eventually(() => alertOf(page).textContent()).toBe('That password is not right. Nothing was downloaded.')
    expect(downloads).toBe(0)
    await harness.screenshot(page, 'profile-export-confirm')

    const second = page.waitForEvent('download')
    await confirm.getByLabel('Your password').fill(user.password)
    await confirm.getByRole('button', { name: 'Confirm and download' }).click()
    const again = await exported(await second)
    expect(again.profile.email).toBe(user.email)
    await eventually(() => statusOf(page).textContent()).toBe(`Your data was downloaded as account-export-${user.id}.json.`)
    expect(await confirm.count()).toBe(0)
    expect(errors).toEqual([])
  })

  it('deletes the account only with the right password and the typed username, then signs out; the user cannot sign in again', async () => {
    const user = await createUser(harness.app)
    const { page, errors } = await signedInPage(harness, user)
    const section = page.getByRole('region', { name: 'Delete account' })
    expect(await section.textContent()).toContain('signed out on all your devices')

    await section.getByRole('button', { name: 'Delete my account' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete your account?' })
    const password = dialog.getByLabel('Your password')
    const confirmation = dialog.getByLabel(`Type your username, ${user.username}, to confirm`)
    const submit = dialog.getByRole('button', { name: 'Delete my account permanently' })

    // The typed confirmation must match before anything is sent
    await password.fill(user.password)
    await confirmation.fill('not-the-username')
    await submit.click()
    await eventually(() => dialog.getByRole('alert').textContent()).toBe('Type your username to confirm that you want to delete this account.')
    expect(await userRow(harness.app, user.id)).toBeDefined()

    // A wrong password is refused by the server, with a clear message
    await password.fill('not-my-password')
    await confirmation.fill(user.username)
    await submit.click()
    await eventually(() => dialog.getByRole('alert').textContent()).toBe('That password is not right. Your account was not deleted.')
    expect(await userRow(harness.app, user.id)).toBeDefined()
    await harness.screenshot(page, 'profile-delete-account')

    // The right one deletes it: signed out, on the sign-in page, told what happened
    await password.fill(user.password)
    await submit.click()
    await page.waitForURL('**/login')
    await eventually(() => statusOf(page).textContent()).toBe(
      'Your account was deleted, and you were signed out everywhere. We mailed a confirmation to your address.',
    )
    expect(await page.evaluate(() => localStorage.getItem('carbelsad.session'))).toBeNull()
    expect(await userRow(harness.app, user.id)).toBeUndefined()

    // Signing in with the old credentials fails
    await signIn(page, user.username, user.password)
    await eventually(() => alertOf(page).textContent()).toBe('Incorrect username/email or password')
    expect(new URL(page.url()).pathname).toBe('/login')
    const login = await harness.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username_or_email: user.email, password: user.password } })
    expect(login.statusCode).toBe(401)
    expect(errors).toEqual([])
  })

  it('tells the last active superadmin why the account cannot be deleted, and keeps it', async () => {
    const user = await createUser(harness.app, 'superadmin')
    // Make this user the only active superadmin of the database.
    await harness.app.db
      .update(users)
      .set({ isActive: false })
      .where(and(eq(users.role, 'superadmin'), ne(users.id, user.id)))
    const { page, errors } = await signedInPage(harness, user)

    await page.getByRole('region', { name: 'Delete account' }).getByRole('button', { name: 'Delete my account' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete your account?' })
    await dialog.getByLabel('Your password').fill(user.password)
    await dialog.getByLabel(`Type your username, ${user.username}, to confirm`).fill(user.username)
    await dialog.getByRole('button', { name: 'Delete my account permanently' }).click()
    await eventually(() => dialog.getByRole('alert').textContent()).toBe(
      'You are the last active superadmin, so your account cannot be deleted: nobody could manage the others. Make another user a superadmin first.',
    )
    expect(await userRow(harness.app, user.id)).toMatchObject({ id: user.id, isActive: true })
    expect(new URL(page.url()).pathname).toBe('/profile')
    expect(errors).toEqual([])
  })
})
