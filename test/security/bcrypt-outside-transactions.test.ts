import { beforeAll, describe, expect, it, vi } from 'vitest'
import type { App } from '../../src/app.js'
import { hashPassword } from '../../src/lib/passwords.js'
import { loginAs, registerUser, userRow } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'
import { call, mailedResetToken, mailedSignIn } from './attacker.js'

// bcrypt takes a quarter of a second at production cost: run inside a transaction it holds that
// transaction's locks (the user's row, which every sign-in waits for) and, on the embedded database,
// its only connection, that long (attacker review F10). Every hash is made before the transaction opens.

const watch = vi.hoisted(() => ({ openTransactions: 0, hashes: 0, hashedInside: 0 }))

vi.mock('../../src/lib/passwords.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/lib/passwords.js')>()
  return {
    ...original,
    hashPassword: (...args: Parameters<typeof original.hashPassword>) => {
      watch.hashes += 1
      if (watch.openTransactions > 0) watch.hashedInside += 1
      return original.hashPassword(...args)
    },
  }
})

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
  // Counts the transactions open on the app's database (the services share this object).
  const transaction = app.db.transaction.bind(app.db)
  app.db.transaction = (async (work: Parameters<typeof transaction>[0], config?: Parameters<typeof transaction>[1]) => {
    watch.openTransactions += 1
    try {
      return await transaction(work, config)
    } finally {
      watch.openTransactions -= 1
    }
  }) as typeof app.db.transaction
})

function startWatching() {
  watch.hashes = 0
  watch.hashedInside = 0
}

describe('passwords are hashed before a transaction opens', () => {
  it('hashes the password nobody knows before the first proof of an address locks the account', async () => {
    const squatter = await registerUser(app)
    const { code } = await mailedSignIn(app, squatter.email)
    startWatching()
    const proof = await call(app, 'POST', '/api/v1/auth/email-login/verify', { payload: { email: squatter.email, code } })
    expect(proof.statusCode, proof.body).toBe(200)
    expect(await userRow(app, squatter.id)).toMatchObject({ emailVerified: true, hasPassword: false })
    expect(watch.hashes).toBe(1)
    expect(watch.hashedInside).toBe(0)
  })

  it('hashes nothing more for an address proven already', async () => {
    const user = await registerUser(app)
    const first = await mailedSignIn(app, user.email)
    expect((await call(app, 'POST', '/api/v1/auth/email-login/verify', { payload: { email: user.email, code: first.code } })).statusCode).toBe(200)
    const { code } = await mailedSignIn(app, user.email)
    startWatching()
    expect((await call(app, 'POST', '/api/v1/auth/email-login/verify', { payload: { email: user.email, code } })).statusCode).toBe(200)
    expect(watch.hashes).toBe(0)
  })

  it('a reset given the hash made before its transaction hashes nothing inside it, once for an unverified account too', async () => {
    const user = await registerUser(app)
    const next = 'Another-correct-horse-42'
    const passwordHash = await hashPassword(next, app.config.bcryptRounds)
    startWatching()
    await app.db.transaction((tx) => app.authService.resetPassword(user.id, next, { ip: '127.0.0.1' }, tx, passwordHash))
    expect(watch.hashes).toBe(0)
    expect(await userRow(app, user.id)).toMatchObject({ emailVerified: true, hasPassword: true })
    await loginAs(app, { username: user.username, password: next })
  })

  it('a reset link hashes the new password before its transaction, and a made-up link hashes nothing', async () => {
    const user = await registerUser(app)
    const token = await mailedResetToken(app, user.email)
    const next = 'Yet-another-horse-43'
    startWatching()
    const forged = await call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token: `${token}x`, new_password: next } })
    expect(forged.statusCode).toBe(400)
    expect(watch.hashes).toBe(0)
    const reset = await call(app, 'POST', '/api/v1/auth/reset-password', { payload: { token, new_password: next } })
    expect(reset.statusCode, reset.body).toBe(200)
    expect(watch.hashes).toBe(1)
    expect(watch.hashedInside).toBe(0)
    await loginAs(app, { username: user.username, password: next })
  })
})
