import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { codeFrom, mailsTo, setUserColumns, signedInUser, tokenFrom, uniqueName, userRow, waitForMail } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

// An email sign-in link and code mailed to an address must die when the account leaves that address:
// whoever still reads the old mailbox must not sign in with them, nor (after an administrator's change,
// which leaves the new address unproven) pass them off as the first proof of the new address.

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const verify = (payload: Record<string, string>) => app.inject({ method: 'POST', url: '/api/v1/auth/email-login/verify', payload })

async function mailedSignIn(email: string): Promise<{ token: string; code: string }> {
  const seen = (await mailsTo(app, email)).map((mail) => mail.id)
  const asked = await app.inject({ method: 'POST', url: '/api/v1/auth/email-login', payload: { email } })
  expect(asked.statusCode, asked.body).toBe(202)
  const mail = await waitForMail(app, email, { subject: /^Sign in to /, exclude: seen })
  return { token: tokenFrom(mail), code: codeFrom(mail) }
}

async function expectDead(signIn: { token: string; code: string }, addresses: string[]) {
  for (const email of addresses) {
    const byCode = await verify({ email, code: signIn.code })
    expect(byCode.statusCode, `code with ${email}: ${byCode.body}`).toBe(400)
    expect(byCode.json().code).toBe('invalid_code')
  }
  const byLink = await verify({ token: signIn.token })
  expect(byLink.statusCode, byLink.body).toBe(400)
  expect(byLink.json().code).toBe('invalid_or_expired_token')
}

describe('email sign-in mailed before an email change', () => {
  it('dies when the owner’s own change is confirmed from the new address', async () => {
    const owner = await signedInUser(app)
    await setUserColumns(app, owner.id, { emailVerified: true })
    const signIn = await mailedSignIn(owner.email)

    const newEmail = `${uniqueName('own')}@example.org`
    const asked = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${owner.id}`, headers: owner.headers, payload: { email: newEmail } })
    expect(asked.statusCode, asked.body).toBe(200)
    const confirm = await waitForMail(app, newEmail, { subject: /confirm your new email/i })
    const confirmed = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: tokenFrom(confirm) } })
    expect(confirmed.statusCode, confirmed.body).toBe(200)
    expect((await userRow(app, owner.id))?.email).toBe(newEmail)

    await expectDead(signIn, [newEmail, owner.email])
  })

  it('dies when an administrator moves the account, and is no proof of the new address', async () => {
    const admin = await signedInUser(app, 'admin')
    const owner = await signedInUser(app)
    await setUserColumns(app, owner.id, { emailVerified: true })
    const signIn = await mailedSignIn(owner.email)

    const newEmail = `${uniqueName('moved')}@example.org`
    const moved = await app.inject({ method: 'PUT', url: `/api/v1/users/update/${owner.id}`, headers: admin.headers, payload: { email: newEmail } })
    expect(moved.statusCode, moved.body).toBe(200)

    await expectDead(signIn, [newEmail, owner.email])
    // Nothing was proven or reset: the owner's password and session still work.
    const after = await userRow(app, owner.id)
    expect(after?.emailVerified).toBe(false)
    expect(after?.hasPassword).toBe(true)
    expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: owner.headers })).statusCode).toBe(200)
  })

  it('is bound to the address it was mailed to, whatever path changes the address', async () => {
    // A write that skips the email-change flows (a script, a future code path) must not revive it either.
    const owner = await signedInUser(app)
    await setUserColumns(app, owner.id, { emailVerified: true })
    const signIn = await mailedSignIn(owner.email)
    const newEmail = `${uniqueName('direct')}@example.org`
    await setUserColumns(app, owner.id, { email: newEmail })

    await expectDead(signIn, [newEmail])

    // Moved back, a new mail works as before.
    await setUserColumns(app, owner.id, { email: owner.email })
    const fresh = await mailedSignIn(owner.email)
    expect((await verify({ token: fresh.token })).statusCode).toBe(200)
  })
})
