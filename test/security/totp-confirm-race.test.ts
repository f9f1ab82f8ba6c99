import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { totpAt } from '../../src/modules/auth/totp.js'
import { setUserColumns, signedInUser, userRow } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { call, gate } from './attacker.js'

// An authenticator setup is confirmed with the pending secret the request read first. When a take-back
// (the first proof of an address drops a squatter's setup) commits between that read and the write, the
// write must not turn the dropped setup on (review G7). The request is held right after its read.

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

describe('confirming an authenticator across a take-back', () => {
  it('turns nothing on when the pending setup was dropped after the request read it', async () => {
    const user = await signedInUser(app)
    const setup = await call(app, 'POST', '/api/v1/auth/totp/setup', { headers: user.headers })
    expect(setup.statusCode, setup.body).toBe(200)
    const { secret } = setup.json() as { secret: string }

    // Holds the confirmation just after it read the account.
    const held = gate(app.repositories.users, 'findById', {
      after: true,
      when: ([id, tx], row) => id === user.id && tx === undefined && Boolean((row as { totpPendingSecret?: string } | undefined)?.totpPendingSecret),
    })

    const confirming = call(app, 'POST', '/api/v1/auth/totp/confirm', { headers: user.headers, payload: { code: totpAt(secret, Date.now()) } })
    await held.entered
    // What the take-back does to a setup under way.
    await setUserColumns(app, user.id, { totpPendingSecret: null })
    held.release()

    const confirmed = await confirming
    expect(confirmed.statusCode, confirmed.body).toBe(400)
    expect(confirmed.json().code).toBe('nothing_pending')
    expect(await userRow(app, user.id)).toMatchObject({ twoFaEnabled: false, totpSecret: null })
  })
})
