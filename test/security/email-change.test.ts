import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import {
  RESET_PASSWORD_SUBJECT,
  authHeader,
  controllableClock,
  loginAs,
  mailsTo,
  registerUser,
  signedInUser,
  tokenFrom,
  uniqueName,
  waitForMail,
  type SignedInUser,
} from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { apiKeyHeader, auditEntries, call, createApiKey, mailIds } from './attacker.js'

// Issue #14 point 1: moving an account to another address is how a leaked key or token became a
// takeover (password resets follow the address). These tests play the attacker against the real stack.

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const CONFIRM_NEW_SUBJECT = /confirm your new email/i
const CHANGE_REQUESTED_SUBJECT = /new email address was requested/i
const CHANGED_BY_ADMIN_SUBJECT = /email address of your .* account was changed/i

/** An address whose masked form is `at•••@example.com`, as the issue spells it. */
const attackerAddress = () => `at${uniqueName('tacker')}@example.com`

const changeEmail = (target: App, userId: number, headers: Record<string, string>, payload: Record<string, unknown>) =>
  call(target, 'PUT', `/api/v1/users/update/${userId}`, { headers, payload })
const verifyEmail = (target: App, token: string) => call(target, 'POST', '/api/v1/auth/verify-email', { payload: { token } })
const forgotPassword = (target: App, email: string) => call(target, 'POST', '/api/v1/auth/forgot-password', { payload: { email } })
const me = async (target: App, headers: Record<string, string>) => (await call(target, 'GET', '/api/v1/users/me', { headers })).json()

/**
 * forgot-password answers before it looks the address up, so "no mail" can only be judged once its
 * background work is done. A request for a registered address queued after it is the marker: once that
 * one's mail is out, the earlier lookup (which stops at the first query) has long finished.
 */
async function expectNoResetMail(target: App, address: string, marker: SignedInUser) {
  const seen = await mailIds(target, marker.email)
  expect((await forgotPassword(target, marker.email)).statusCode).toBe(202)
  await waitForMail(target, marker.email, { subject: RESET_PASSWORD_SUBJECT, exclude: seen })
  await new Promise((resolve) => setTimeout(resolve, 200))
  expect((await mailsTo(target, address)).filter((mail) => RESET_PASSWORD_SUBJECT.test(mail.subject))).toEqual([])
}

describe('own email change with a leaked API key', () => {
  it('is refused with 403 even with the password in the body, leaves nothing pending and mails the new address nothing', async () => {
    const owner = await signedInUser(app)
    const { key } = await createApiKey(app, owner.headers)
    const target = attackerAddress()

    const plain = await changeEmail(app, owner.id, apiKeyHeader(key), { email: target })
    expect(plain.statusCode, plain.body).toBe(403)
    // A key is never a session, whatever else the request proves.
    const withPassword = await changeEmail(app, owner.id, apiKeyHeader(key), { email: target, password: owner.password })
    expect(withPassword.statusCode, withPassword.body).toBe(403)

    expect(await me(app, apiKeyHeader(key))).toMatchObject({ email: owner.email, pending_email: null })
    expect(await mailsTo(app, target)).toEqual([])
    // The attacker's next step, a reset to the new address, has nothing to reach.
    expect((await forgotPassword(app, target)).statusCode).toBe(202)
    await expectNoResetMail(app, target, await signedInUser(app))

    // Only the address is guarded: the key still edits profile fields, but not with an address riding along.
    const profile = await changeEmail(app, owner.id, apiKeyHeader(key), { first_name: 'Scripted' })
    expect(profile.statusCode, profile.body).toBe(200)
    expect(profile.json()).toMatchObject({ first_name: 'Scripted', email: owner.email })
    expect((await changeEmail(app, owner.id, apiKeyHeader(key), { first_name: 'Sneaky', email: target })).statusCode).toBe(403)
    expect(await me(app, apiKeyHeader(key))).toMatchObject({ first_name: 'Scripted', email: owner.email, pending_email: null })
  })
})

describe('own email change with a fresh session', () => {
  it('stays pending: 200 with the old email and pending_email, a link to the new address, a masked notice to the old one', async () => {
    const user = await signedInUser(app)
    const target = attackerAddress()
    const seenOld = await mailIds(app, user.email)

    const response = await changeEmail(app, user.id, user.headers, { email: target })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ email: user.email, pending_email: target })
    expect(await me(app, user.headers)).toMatchObject({ email: user.email, pending_email: target })

    const link = await waitForMail(app, target, { subject: CONFIRM_NEW_SUBJECT })
    expect(tokenFrom(link)).toEqual(expect.any(String))

    const notice = await waitForMail(app, user.email, { subject: CHANGE_REQUESTED_SUBJECT, exclude: seenOld })
    expect(notice.text).toContain('at•••@example.com')
    // Whoever reads the old mailbox must not learn where the account is going.
    for (const part of [notice.subject, notice.text, notice.html]) expect(part.toLowerCase()).not.toContain(target.toLowerCase())
  })

  it('keeps password resets on the old address until the link is used: the new address gets nothing', async () => {
    const user = await signedInUser(app)
    const target = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: target })).statusCode).toBe(200)

    expect((await forgotPassword(app, target)).statusCode).toBe(202)
    await expectNoResetMail(app, target, user)
    // The marker above was the user's own reset request: it reached the old address.
    expect((await mailsTo(app, user.email)).some((mail) => RESET_PASSWORD_SUBJECT.test(mail.subject))).toBe(true)
  })

  it('switches the address and marks it verified when the mailed token is posted to verify-email', async () => {
    const user = await signedInUser(app)
    const target = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: target })).statusCode).toBe(200)
    const token = tokenFrom(await waitForMail(app, target, { subject: CONFIRM_NEW_SUBJECT }))

    const confirmed = await verifyEmail(app, token)
    expect(confirmed.statusCode, confirmed.body).toBe(200)
    expect(await me(app, user.headers)).toMatchObject({ email: target, email_verified: true, pending_email: null })
    // One use only.
    expect((await verifyEmail(app, token)).statusCode).toBe(400)
    // From now on resets go to the new address, and the old one signs in no more.
    expect((await forgotPassword(app, target)).statusCode).toBe(202)
    await waitForMail(app, target, { subject: RESET_PASSWORD_SUBJECT })
    const oldLogin = await call(app, 'POST', '/api/v1/auth/login', { payload: { username_or_email: user.email, password: user.password } })
    expect(oldLogin.statusCode).toBe(401)
  })

  it('is replaced by a newer request: the first link then fails with 400 and the newer one wins', async () => {
    const user = await signedInUser(app)
    const first = attackerAddress()
    const second = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: first })).statusCode).toBe(200)
    const firstToken = tokenFrom(await waitForMail(app, first, { subject: CONFIRM_NEW_SUBJECT }))
    const response = await changeEmail(app, user.id, user.headers, { email: second })
    expect(response.json()).toMatchObject({ email: user.email, pending_email: second })
    const secondToken = tokenFrom(await waitForMail(app, second, { subject: CONFIRM_NEW_SUBJECT }))

    expect((await verifyEmail(app, firstToken)).statusCode).toBe(400)
    expect(await me(app, user.headers)).toMatchObject({ email: user.email, pending_email: second })
    expect((await verifyEmail(app, secondToken)).statusCode).toBe(200)
    expect(await me(app, user.headers)).toMatchObject({ email: second, pending_email: null })
  })

  it('expires its link after 24 hours', async () => {
    const clock = controllableClock()
    const timed = await context.buildApp({}, { now: clock.now })
    const early = await signedInUser(timed)
    const late = await signedInUser(timed)
    const earlyTarget = attackerAddress()
    const lateTarget = attackerAddress()
    expect((await changeEmail(timed, early.id, early.headers, { email: earlyTarget })).statusCode).toBe(200)
    expect((await changeEmail(timed, late.id, late.headers, { email: lateTarget })).statusCode).toBe(200)
    const earlyToken = tokenFrom(await waitForMail(timed, earlyTarget, { subject: CONFIRM_NEW_SUBJECT }))
    const lateToken = tokenFrom(await waitForMail(timed, lateTarget, { subject: CONFIRM_NEW_SUBJECT }))

    clock.advance(24 * 3600_000 - 60_000)
    expect((await verifyEmail(timed, earlyToken)).statusCode).toBe(200)
    clock.advance(2 * 60_000)
    expect((await verifyEmail(timed, lateToken)).statusCode).toBe(400)
    expect(await me(timed, authHeader((await loginAs(timed, late)).access_token))).toMatchObject({ email: late.email, pending_email: lateTarget })
  })

  it('is cancelled by DELETE /users/me/pending-email: pending cleared, the link then fails', async () => {
    const user = await signedInUser(app)
    const target = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: target })).statusCode).toBe(200)
    const token = tokenFrom(await waitForMail(app, target, { subject: CONFIRM_NEW_SUBJECT }))

    const cancelled = await call(app, 'DELETE', '/api/v1/users/me/pending-email', { headers: user.headers })
    expect(cancelled.statusCode, cancelled.body).toBe(200)
    expect(cancelled.json()).toMatchObject({ email: user.email, pending_email: null })
    expect((await verifyEmail(app, token)).statusCode).toBe(400)
    expect(await me(app, user.headers)).toMatchObject({ email: user.email, pending_email: null })
  })

  it.each([
    ['logout-all', (user: SignedInUser) => call(app, 'POST', '/api/v1/auth/logout-all', { headers: user.headers })],
    [
      'a password change',
      (user: SignedInUser) =>
        call(app, 'POST', '/api/v1/users/me/password', { headers: user.headers, payload: { current_password: user.password, new_password: 'Another-horse-battery-77' } }),
    ],
    [
      'a password reset',
      async (user: SignedInUser) => {
        const seen = await mailIds(app, user.email)
        await forgotPassword(app, user.email)
        const token = tokenFrom(await waitForMail(app, user.email, { subject: RESET_PASSWORD_SUBJECT, exclude: seen }))
        return call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token, new_password: 'Another-horse-battery-77' } })
      },
    ],
  ])('is cancelled by %s: an intruder’s pending address cannot take the account back afterwards', async (_name, takeBack) => {
    const user = await signedInUser(app)
    const target = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: target })).statusCode).toBe(200)
    const token = tokenFrom(await waitForMail(app, target, { subject: CONFIRM_NEW_SUBJECT }))

    const response = await takeBack(user)
    expect(response.statusCode, response.body).toBe(200)
    expect((await verifyEmail(app, token)).statusCode).toBe(400)
    const signedIn = await loginAs(app, { username: user.username, password: user.password }).catch(() =>
      loginAs(app, { username: user.username, password: 'Another-horse-battery-77' }),
    )
    expect(await me(app, authHeader(signedIn.access_token))).toMatchObject({ email: user.email, pending_email: null })
  })

  it('cannot be cancelled with an API key, through DELETE /me/pending-email nor by sending the current address back', async () => {
    const user = await signedInUser(app)
    const { key } = await createApiKey(app, user.headers)
    const target = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: target })).statusCode).toBe(200)
    expect((await call(app, 'DELETE', '/api/v1/users/me/pending-email', { headers: apiKeyHeader(key) })).statusCode).toBe(403)
    // The same withdrawal through the update route: the key must get no further than through the dedicated one.
    const sentBack = await changeEmail(app, user.id, apiKeyHeader(key), { email: user.email })
    expect(sentBack.statusCode, sentBack.body).toBe(403)
    expect(await me(app, user.headers)).toMatchObject({ email: user.email, pending_email: target })
  })

  it('has a link bound to its purpose: it resets no password, and a reset link confirms no address', async () => {
    const user = await signedInUser(app)
    const target = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: target })).statusCode).toBe(200)
    const changeToken = tokenFrom(await waitForMail(app, target, { subject: CONFIRM_NEW_SUBJECT }))
    const seen = await mailIds(app, user.email)
    expect((await forgotPassword(app, user.email)).statusCode).toBe(202)
    const resetToken = tokenFrom(await waitForMail(app, user.email, { subject: RESET_PASSWORD_SUBJECT, exclude: seen }))

    const reset = await call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token: changeToken, new_password: 'Hijacked-passphrase-31' } })
    expect(reset.statusCode, reset.body).toBe(400)
    expect((await verifyEmail(app, resetToken)).statusCode).toBe(400)
    // Both still work for what they were mailed for.
    expect((await verifyEmail(app, changeToken)).statusCode).toBe(200)
    expect(await me(app, user.headers)).toMatchObject({ email: target })
  })
})

describe('pending address taken meanwhile', () => {
  it('cannot be claimed with the link once someone else registered it (409), nor requested again (409, no mail); the account keeps its address', async () => {
    const user = await signedInUser(app)
    const target = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: target })).statusCode).toBe(200)
    const token = tokenFrom(await waitForMail(app, target, { subject: CONFIRM_NEW_SUBJECT }))
    // A pending address is not reserved: its real owner may sign up with it.
    const squatter = await registerUser(app, { email: target })
    const seen = await mailIds(app, target)

    const again = await changeEmail(app, user.id, user.headers, { email: target })
    expect(again.statusCode, again.body).toBe(409)
    const confirmed = await verifyEmail(app, token)
    expect(confirmed.statusCode, confirmed.body).toBe(409)
    expect(await me(app, user.headers)).toMatchObject({ email: user.email })
    const theirs = await me(app, authHeader((await loginAs(app, squatter)).access_token))
    expect(theirs).toMatchObject({ id: squatter.id, email: target })
    expect((await mailsTo(app, target)).filter((mail) => !seen.includes(mail.id) && CONFIRM_NEW_SUBJECT.test(mail.subject))).toEqual([])
  })
})

describe("an administrator changing another user's email", () => {
  it('applies at once, is audited, tells the old address with the new one masked, and voids the pending link', async () => {
    const admin = await signedInUser(app, 'admin')
    const user = await signedInUser(app)
    // The user had a change of their own waiting; support's change replaces it.
    const pendingTarget = attackerAddress()
    expect((await changeEmail(app, user.id, user.headers, { email: pendingTarget })).statusCode).toBe(200)
    const pendingToken = tokenFrom(await waitForMail(app, pendingTarget, { subject: CONFIRM_NEW_SUBJECT }))
    const target = attackerAddress()
    const seenOld = await mailIds(app, user.email)

    const response = await changeEmail(app, user.id, admin.headers, { email: target })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ email: target, pending_email: null, email_verified: false })

    const entries = await auditEntries(app, admin.headers, user.id, 'user.update')
    expect(entries).toContainEqual(expect.objectContaining({ actor_id: admin.id, target_id: user.id, details: expect.objectContaining({ email_changed: true }) }))

    const notice = await waitForMail(app, user.email, { subject: CHANGED_BY_ADMIN_SUBJECT, exclude: seenOld })
    expect(notice.text).toContain('at•••@example.com')
    for (const part of [notice.subject, notice.text, notice.html]) expect(part.toLowerCase()).not.toContain(target.toLowerCase())

    expect((await verifyEmail(app, pendingToken)).statusCode).toBe(400)
    expect(await me(app, user.headers)).toMatchObject({ email: target })
  })
})
