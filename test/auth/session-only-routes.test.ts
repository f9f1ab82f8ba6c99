import { beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { loginAs, mailsTo, signedInUser, type SignedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

/**
 * A leaked API key must not be able to mint more keys, rebind or drop 2FA, sign its owner out or
 * change the password: those routes need a signed-in session. Checked over HTTP only, with a key
 * that has every scope and with the owner's real password in the body, so nothing but the
 * session rule stands between the key and the action.
 */
const context = useTestContext()

let app: App
let owner: SignedInUser
let keyHeader: { 'x-api-key': string }
let otherKeyId: number

async function createKey(name: string, scopes: string[]) {
  const response = await app.inject({ method: 'POST', url: '/api/v1/api-keys/', headers: owner.headers, payload: { name, scopes, password: owner.password } })
  expect(response.statusCode, response.body).toBe(201)
  return response.json() as { id: number; key: string }
}

async function keyCount(): Promise<number> {
  const response = await app.inject({ method: 'GET', url: '/api/v1/api-keys/', headers: owner.headers })
  expect(response.statusCode, response.body).toBe(200)
  return (response.json() as unknown[]).length
}

beforeAll(async () => {
  app = await context.buildApp()
  owner = await signedInUser(app)
  keyHeader = { 'x-api-key': (await createKey('automation', ['read', 'write'])).key }
  otherKeyId = (await createKey('second', ['read'])).id
  // The key works where keys are allowed, so a 403 below is the session rule and not a dead key.
  const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: keyHeader })
  expect(me.statusCode, me.body).toBe(200)
})

interface Case {
  method: 'GET' | 'POST' | 'DELETE'
  url: () => string
  payload?: () => Record<string, unknown>
  /** Notes the state before the call and returns the check, through the API, that the refused call changed nothing. */
  unchanged?: () => Promise<() => Promise<void>>
}

/** The owner's key list is the same length after the call as before it. */
const sameKeyCount = async () => {
  const before = await keyCount()
  return async () => expect(await keyCount()).toBe(before)
}

const cases: Record<string, Case> = {
  'create an API key': {
    method: 'POST',
    url: () => '/api/v1/api-keys/',
    payload: () => ({ name: 'minted by a key', scopes: ['read', 'write'], password: owner.password }),
    unchanged: sameKeyCount,
  },
  'list API keys': { method: 'GET', url: () => '/api/v1/api-keys/' },
  'revoke an API key': {
    method: 'DELETE',
    url: () => `/api/v1/api-keys/${otherKeyId}`,
    unchanged: async () => {
      const check = await sameKeyCount()
      return async () => {
        await check()
        const listed = (await app.inject({ method: 'GET', url: '/api/v1/api-keys/', headers: owner.headers })).json() as { id: number; revoked_at: string | null }[]
        expect(listed.find((key) => key.id === otherKeyId)?.revoked_at).toBeNull()
      }
    },
  },
  'start authenticator setup': { method: 'POST', url: () => '/api/v1/auth/totp/setup', payload: () => ({ password: owner.password }) },
  'confirm an authenticator': { method: 'POST', url: () => '/api/v1/auth/totp/confirm', payload: () => ({ code: '123456', password: owner.password }) },
  'start email 2FA setup': {
    method: 'POST',
    url: () => '/api/v1/auth/enable-2fa',
    payload: () => ({ password: owner.password }),
    unchanged: async () => {
      const codeMails = async () => (await mailsTo(app, owner.email)).filter((mail) => /sign-in code/i.test(mail.subject)).length
      const before = await codeMails()
      return async () => expect(await codeMails()).toBe(before)
    },
  },
  'turn 2FA off': { method: 'POST', url: () => '/api/v1/auth/disable-2fa', payload: () => ({ password: owner.password }) },
  'issue recovery codes': { method: 'POST', url: () => '/api/v1/auth/recovery-codes', payload: () => ({ password: owner.password }) },
  'send a 2FA test mail': { method: 'POST', url: () => '/api/v1/auth/test-2fa' },
  'resend the verification mail': { method: 'POST', url: () => '/api/v1/auth/resend-verification' },
  'sign out every session': {
    method: 'POST',
    url: () => '/api/v1/auth/logout-all',
    unchanged: async () => async () => {
      expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: owner.headers })).statusCode).toBe(200)
      const refreshed = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: owner.tokens.refresh_token } })
      expect(refreshed.statusCode, refreshed.body).toBe(200)
      owner.tokens = refreshed.json()
      owner.headers = { authorization: `Bearer ${owner.tokens.access_token}` }
    },
  },
  'change the password': {
    method: 'POST',
    url: () => '/api/v1/users/me/password',
    payload: () => ({ current_password: owner.password, new_password: 'Quite-another-passphrase-71' }),
    unchanged: async () => async () => void (await loginAs(app, owner)),
  },
}

describe('routes that need a signed-in session', () => {
  it.each(Object.entries(cases))('refuse an API key with every scope: %s', async (_name, route) => {
    const check = await route.unchanged?.()
    const response = await app.inject({ method: route.method, url: route.url(), headers: keyHeader, ...(route.payload ? { payload: route.payload() } : {}) })
    expect(response.statusCode, response.body).toBe(403)
    await check?.()
  })

  it('refuse a read-only API key on a read route too (the session rule, not the scope)', async () => {
    const readOnly = await createKey('reader', ['read'])
    const response = await app.inject({ method: 'GET', url: '/api/v1/api-keys/', headers: { 'x-api-key': readOnly.key } })
    expect(response.statusCode, response.body).toBe(403)
  })
})
