import { expect, it } from 'vitest'
import { createUser, fetchUser, loginAs, authHeader } from '../helpers/factories.js'
import { collectPageErrors, describeWithBrowser, eventually, signIn, useConsole } from './browser.js'

describeWithBrowser('console: administration', () => {
  const harness = useConsole()

  it('lets a superadmin find a user, change their role and deactivate them, and shows it in the table and the audit log', async () => {
    const root = await createUser(harness.app, 'superadmin')
    const target = await createUser(harness.app)
    const page = await harness.newPage()
    const errors = collectPageErrors(page)
    await signIn(page, root.username, root.password)
    await page.waitForURL('**/profile')

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click()
    await page.waitForURL('**/admin/users')
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
    await eventually(() => page.locator('tbody tr[data-user]').count()).toBeGreaterThanOrEqual(2)
    await harness.screenshot(page, 'admin-users')

    // Search narrows the table to the one user
    await page.getByLabel('Search').fill(target.username)
    const rows = page.locator('tbody tr[data-user]')
    await eventually(() => rows.count()).toBe(1)
    const row = page.locator(`tr[data-user="${target.username}"]`)
    expect(await row.getByTestId('role').textContent()).toBe('user')

    // Role change, in the user's dialog
    await row.getByRole('button', { name: `Manage ${target.username}` }).click()
    const dialog = page.getByRole('dialog', { name: `User ${target.username}` })
    await dialog.waitFor()
    await dialog.getByLabel('Role').selectOption('admin')
    await dialog.getByRole('button', { name: 'Change role' }).click()
    await eventually(() => dialog.getByRole('status').first().textContent()).toBe(`${target.username} is now admin.`)
    await harness.screenshot(page, 'admin-user-dialog')
    await dialog.getByRole('button', { name: 'Close' }).click()
    await eventually(() => row.getByTestId('role').textContent()).toBe('admin')

    // Deactivate through the same dialog
    await row.getByRole('button', { name: `Manage ${target.username}` }).click()
    await dialog.getByLabel('Active (can sign in)').uncheck()
    await dialog.getByRole('button', { name: 'Save changes' }).click()
    await eventually(() => dialog.getByRole('status').first().textContent()).toBe(`Saved ${target.username}.`)
    await dialog.getByRole('button', { name: 'Close' }).click()
    await eventually(() => row.textContent()).toContain('Inactive')

    // Filters: role and status
    await page.getByLabel('Search').fill('')
    await page.getByLabel('Role').selectOption('admin')
    await page.getByLabel('Status').selectOption('false')
    await eventually(() => rows.count()).toBe(1)
    expect(await rows.first().getAttribute('data-user')).toBe(target.username)

    // The server agrees
    const rootTokens = await loginAs(harness.app, root)
    expect(await fetchUser(harness.app, authHeader(rootTokens.access_token), target.id)).toMatchObject({ role: 'admin', is_active: false })

    // Audit log, filtered to role changes
    await page.getByRole('link', { name: 'Audit log' }).click()
    await page.waitForURL('**/admin/audit')
    await page.locator('tbody tr').first().waitFor()
    await page.getByLabel('Action').selectOption('user.role_change')
    await page.getByRole('button', { name: 'Apply' }).click()
    const entries = page.locator('table.audit tbody tr')
    await eventually(() => entries.count()).toBe(1)
    const entry = await entries.first().textContent()
    expect(entry).toContain('"from":"user"')
    expect(entry).toContain('"to":"admin"')
    await page.getByLabel('Action').selectOption('')
    await page.getByRole('button', { name: 'Apply' }).click()
    await eventually(() => entries.count()).toBeGreaterThan(3)
    await harness.screenshot(page, 'audit')
    expect(errors).toEqual([])
  }, 90_000)

  it('shows admin pages to admins only, and no role control to a plain admin', async () => {
    const user = await createUser(harness.app)
    const admin = await createUser(harness.app, 'admin')
    const page = await harness.newPage()

    await signIn(page, user.username, user.password)
    await page.waitForURL('**/profile')
    const nav = page.getByRole('navigation', { name: 'Main' })
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0)
    await page.goto('/admin/users')
    await page.getByRole('heading', { name: 'Not available' }).waitFor()

    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.waitForURL('**/login')
    await signIn(page, admin.username, admin.password)
    await page.waitForURL('**/profile')
    await nav.getByRole('link', { name: 'Users' }).click()
    await page.getByLabel('Search').fill(user.username)
    const row = page.locator(`tr[data-user="${user.username}"]`)
    await row.getByRole('button', { name: `Manage ${user.username}` }).click()
    const dialog = page.getByRole('dialog', { name: `User ${user.username}` })
    await dialog.getByText('Only a superadmin can change roles.').waitFor()
    expect(await dialog.getByLabel('Role').count()).toBe(0)
  }, 60_000)

  it('shows the health of the app, the database and the cache', async () => {
    const page = await harness.newPage()
    await page.goto('/status')
    await page.getByText('All systems operational.').waitFor()
    for (const name of ['application', 'database', 'cache', 'readiness']) {
      expect(await page.getByTestId(`status-${name}`).textContent()).toMatch(/healthy|ready|ok/i)
    }
    await harness.screenshot(page, 'status')
  }, 30_000)
})
