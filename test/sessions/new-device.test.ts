import { describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { RESET_PASSWORD_SUBJECT, controllableClock, createUser, mailsTo, waitForMail, type TestUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { CURL, FIREFOX_LINUX, signIn } from './helpers.js'

const context = useTestContext()

const NEW_SIGN_IN = /new sign-in/i
const DAY = 24 * 60 * 60_000

const noticesTo = async (app: App, user: TestUser) => (await mailsTo(app, user.email)).filter((mail) => NEW_SIGN_IN.test(mail.subject))

/**
 * Mails are queued, not sent inside the request. A mail that surely comes next (a new device) is
 * waited for, so a notice that a sign-in should not have sent would be in the outbox by then.
 */
async function nextNotice(app: App, user: TestUser, seen: readonly string[]) {
  return waitForMail(app, user.email, { subject: NEW_SIGN_IN, exclude: seen })
}

describe('new-device notice', () => {
  it('mails the first sign-in from a device and address, with the device, the address and a link to /security', async () => {
    const app = await context.buildApp({ PUBLIC_URL: 'https://app.example.test' })
    const user = await createUser(app)
    await signIn(app, user, { userAgent: FIREFOX_LINUX, ip: '198.51.100.40' })
    const notice = await nextNotice(app, user, [])
    expect(notice.text).toContain('Firefox on Linux')
    expect(notice.text).toContain('198.51.100.40')
    expect(notice.text).toContain('https://app.example.test/security')
    expect(notice.html).toContain('https://app.example.test/security')
  })

  it('does not mail a second sign-in from the same device and address within 30 days, and mails again after 30 quiet days', async () => {
    const clock = controllableClock()
    const app = await context.buildApp({}, { now: clock.now })
    const user = await createUser(app)
    const laptop = { userAgent: FIREFOX_LINUX, ip: '198.51.100.41' }
    await signIn(app, user, laptop)
    const first = await nextNotice(app, user, [])

    clock.advance(29 * DAY)
    await signIn(app, user, laptop)
    // Another address is a new pair: its notice comes, and the laptop's second sign-in sent none before it.
    await signIn(app, user, { userAgent: FIREFOX_LINUX, ip: '203.0.113.41' })
    const otherAddress = await nextNotice(app, user, [first.id])
    expect(otherAddress.text).toContain('203.0.113.41')
    // Same address, another browser: new as well.
    await signIn(app, user, { userAgent: CURL, ip: '198.51.100.41' })
    const otherDevice = await nextNotice(app, user, [first.id, otherAddress.id])
    expect(otherDevice.text).toContain('curl')
    expect((await noticesTo(app, user)).map((mail) => mail.id).sort()).toEqual([first.id, otherAddress.id, otherDevice.id].sort())

    // The laptop was last seen on day 29; 31 days later it is new again.
    clock.advance(31 * DAY)
    await signIn(app, user, laptop)
    const again = await nextNotice(app, user, [first.id, otherAddress.id, otherDevice.id])
    expect(again.text).toContain('198.51.100.41')
  })

  it('sends none with NEW_DEVICE_EMAILS=false', async () => {
    const app = await context.buildApp({ NEW_DEVICE_EMAILS: 'false' })
    const user = await createUser(app)
    await signIn(app, user, { userAgent: FIREFOX_LINUX, ip: '198.51.100.42' })
    await signIn(app, user, { userAgent: CURL, ip: '203.0.113.42' })
    // A mail queued after the sign-ins: once it is in, any notice would be too.
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/forgot-password', payload: { email: user.email } })).statusCode).toBe(202)
    await waitForMail(app, user.email, { subject: RESET_PASSWORD_SUBJECT })
    expect(await noticesTo(app, user)).toEqual([])
  })
})
