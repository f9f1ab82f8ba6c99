import { beforeAll, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { setUserColumns, signedInUser, tokenFrom, userRow, waitForMail } from '../helpers/factories.js'
import { describeWith } from '../helpers/requirements.js'
import { useTestContext } from '../helpers/test-context.js'
import { call, gate } from './attacker.js'

// A transaction that claims one of the user's one-time tokens and then writes the user's row, run
// against a take-back that locks the user's row and then drops those tokens, deadlocks if the two take
// the locks in opposite orders: PostgreSQL then aborts one, and someone gets a 500 (review G3). Both
// lock the user's row first. Only a real PostgreSQL has two transactions at once to show it.

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

describeWith('postgres')('one-time tokens and the user row, locked in one order', () => {
  it('confirming an email change while the owner signs out everywhere: both finish, no 500', async () => {
    const owner = await signedInUser(app)
    await setUserColumns(app, owner.id, { emailVerified: true })
    const newEmail = `moved-${owner.username}@example.org`
    const asked = await call(app, 'PUT', `/api/v1/users/update/${owner.id}`, { headers: owner.headers, payload: { email: newEmail } })
    expect(asked.statusCode, asked.body).toBe(200)
    const token = tokenFrom(await waitForMail(app, newEmail, { subject: /Confirm your new email address/ }))

    // Held inside the confirmation's transaction, after it claimed the link and before it writes the user.
    const held = gate(app.repositories.users, 'findById', { after: true, when: ([id, tx]) => id === owner.id && tx !== undefined })
    const confirming = call(app, 'POST', '/api/v1/auth/verify-email', { payload: { token } })
    await held.entered
    // The take-back locks the user's row and cancels the pending change (its link).
    const signingOut = call(app, 'POST', '/api/v1/auth/logout-all', { headers: owner.headers })
    await new Promise((resolve) => setTimeout(resolve, 300))
    held.release()

    const [confirmed, signedOut] = await Promise.all([confirming, signingOut])
    expect(confirmed.statusCode, confirmed.body).toBeLessThan(500)
    expect(signedOut.statusCode, signedOut.body).toBeLessThan(500)
    // The confirmation committed first (it held the row): the address moved.
    expect(confirmed.statusCode).toBe(200)
    expect(await userRow(app, owner.id)).toMatchObject({ email: newEmail })
  })
})
