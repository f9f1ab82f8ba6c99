import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { DEFAULT_PASSWORD, signedInUser, uniqueName } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
let app: App

beforeAll(async () => {
  app = await context.buildApp()
})

const register = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/v1/auth/register', payload })

function newIdentity(password = DEFAULT_PASSWORD) {
  const username = uniqueName()
  return { username, email: `${username}@example.com`, password }
}

/** The 422 answer's reason for the password field, in the fieldError shape. */
function passwordReason(response: { statusCode: number; body: string; json: () => unknown }, field = 'password'): string {
  expect(response.statusCode, response.body).toBe(422)
  const { detail } = response.json() as { detail: { loc: string[]; msg: string; type: string }[] }
  const issue = detail.find((item) => item.loc.join('.') === `body.${field}`)
  expect(issue, response.body).toBeDefined()
  return issue!.msg
}

describe('common passwords', () => {
  // Accepted before the maintained list: the old 24-entry list had none of them.
  const commonPasswords = ['1q2w3e4r', 'qwertyui', '123123123', 'abcd1234', 'zaq12wsx', '987654321', 'computer']

  it.each(commonPasswords)('refuses %s at registration with 422 and creates nobody', async (password) => {
    const identity = newIdentity(password)
    expect(passwordReason(await register(identity))).toMatch(/too common/)
    // Nothing was stored: the same name registers with a good password.
    expect((await register({ ...identity, password: DEFAULT_PASSWORD })).statusCode).toBe(201)
  })

  it('checks the list without regard to case', async () => {
    expect(passwordReason(await register(newIdentity('CoMpUtEr')))).toMatch(/too common/)
    expect(passwordReason(await register(newIdentity('QWERTYUIOP')))).toMatch(/too common/)
  })

  it('uses a list of tens of thousands of entries, not a short hand-made one', async () => {
    // Entries past the 20,000th of the maintained list, far beyond any short list of "top" passwords.
    for (const password of ['rockstar1', 'shalimar', 'chinacat', 'foucault', 'qw12er34']) {
      expect(passwordReason(await register(newIdentity(password))), password).toMatch(/too common/)
    }
  })

  it('refuses a short block repeated and a straight sequence, which the list leaves to patterns', async () => {
    for (const password of ['abcabcabc', 'xyz1xyz1', '87654321', 'abcdefghij']) {
      expect(passwordReason(await register(newIdentity(password))), password).toMatch(/too common/)
    }
  })

  it('accepts the README example securepass123 and the suite default password', async () => {
    for (const password of ['securepass123', DEFAULT_PASSWORD]) {
      const response = await register(newIdentity(password))
      expect(response.statusCode, `${password}: ${response.body}`).toBe(201)
    }
  })

  it('refuses a common new password on password change and on admin create', async () => {
    const user = await signedInUser(app)
    const change = await app.inject({
      method: 'POST',
      url: '/api/v1/users/me/password',
      headers: user.headers,
      payload: { current_password: user.password, new_password: '1q2w3e4r' },
    })
    expect(passwordReason(change, 'new_password')).toMatch(/too common/)

    const admin = await signedInUser(app, 'admin')
    const create = await app.inject({ method: 'POST', url: '/api/v1/users/', headers: admin.headers, payload: newIdentity('zaq12wsx') })
    expect(passwordReason(create)).toMatch(/too common/)
  })
})

describe('passwords made of the name', () => {
  it('refuses a password equal to the username or the email local part, whatever the case', async () => {
    const identity = newIdentity()
    expect(passwordReason(await register({ ...identity, password: identity.username.toUpperCase() }))).toMatch(/username or the email/)
    const local = `mail${uniqueName()}`
    expect(passwordReason(await register({ ...newIdentity(), email: `${local}@example.com`, password: local }))).toMatch(/username or the email/)
  })

  it('refuses a password containing the username', async () => {
    const identity = newIdentity()
    const response = await register({ ...identity, password: `My-${identity.username}-pass!` })
    expect(passwordReason(response)).toMatch(/username or the email/)
  })

  it('refuses a password containing the email local part', async () => {
    const local = `Kitty${uniqueName()}`
    const response = await register({ ...newIdentity(), email: `${local}@example.com`, password: `Zz9-${local.toLowerCase()}-Qq` })
    expect(passwordReason(response)).toMatch(/username or the email/)
  })

  it('refuses a new password containing the username on password change', async () => {
    const user = await signedInUser(app)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/users/me/password',
      headers: user.headers,
      payload: { current_password: user.password, new_password: `${user.username}-Zq-42` },
    })
    expect(passwordReason(response, 'new_password')).toMatch(/username or the email/)
  })

  it('ignores an email local part under three characters, which would refuse good passwords by chance', async () => {
    // "ab" appears in this strong password; refusing it would say nothing about its strength.
    const response = await register({ ...newIdentity(), email: 'ab@example.com', password: 'Tab-Grab-Slab-91' })
    expect(response.statusCode, response.body).toBe(201)
  })
})
