import { createHash } from 'node:crypto'
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server'
import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { PasskeyRow, UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import { createAccountLocks } from '../auth/account-locks.js'
import type { ClientInfo, TokenPair, TwoFactorChallenge } from '../auth/auth-service.js'
import type { UsersRepository } from '../users/users-repository.js'
import { CHALLENGE_TTL_SECONDS, type ChallengePurpose, type ChallengeStore, type StoredChallenge } from './challenge-store.js'
import type { PasskeysRepository } from './passkeys-repository.js'

export interface PasskeyPublic {
  id: string
  name: string
  created_at: string
  last_used_at: string | null
  backed_up: boolean
  transports: string[]
}

export const toPasskeyPublic = (row: PasskeyRow): PasskeyPublic => ({
  id: row.id,
  name: row.name,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
  backed_up: row.backedUp,
  transports: row.transports,
})

export interface PasskeysServiceDeps {
  db: Db
  config: Config
  passkeys: PasskeysRepository
  users: UsersRepository
  audit: AuditRepository
  challenges: ChallengeStore
  now: () => Date
  completeLogin: (user: UserRow, client: ClientInfo, method: string) => Promise<TokenPair>
  startTwoFactor: (user: UserRow, client: ClientInfo, firstFactor: string) => Promise<TwoFactorChallenge>
}

/** What a verified assertion proved. */
export interface VerifiedPasskey {
  passkey: PasskeyRow
  userVerified: boolean
}

const TIMEOUT_MS = CHALLENGE_TTL_SECONDS * 1000

/**
 * @simplewebauthn/server (and the ASN.1 and CBOR parsers under it) is loaded on the first passkey
 * request, not at start: it is the largest import of the app (about 25 MB and a third of a second),
 * and most instances serve no passkey ceremony for a long time, if ever.
 */
let webauthnModule: Promise<typeof import('@simplewebauthn/server')> | undefined
const webauthn = () => {
  webauthnModule ??= import('@simplewebauthn/server')
  return webauthnModule
}

const toBase64Url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
const fromBase64Url = (text: string) => new Uint8Array(Buffer.from(text, 'base64url'))

/** The challenge named in a response's clientDataJSON (base64url of a JSON object). */
function challengeInClientData(clientDataJSON: string): unknown {
  return (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge
}

/**
 * The WebAuthn user handle of an account: stable, opaque, and not the account's name or address (the
 * spec asks for no personal data in it). Discoverable sign-ins return it; it must name the passkey's owner.
 */
export function userHandleOf(userId: number): string {
  return toBase64Url(createHash('sha256').update(`webauthn-user:${userId}`).digest())
}

/**
 * Passkeys: registration, listing, renaming, removal, and checking assertions for sign-in, for the
 * second step of a 2FA sign-in and for re-authentication. The WebAuthn parsing and signature checks are
 * @simplewebauthn/server's; the rules around them (challenge purpose and owner, counter, last way in)
 * are here.
 */
export function createPasskeysService(deps: PasskeysServiceDeps) {
  const { db, config, passkeys, users, audit, challenges, now } = deps
  const rp = config.webauthn
  const locks = createAccountLocks(db)

  function assertEnabled(): void {
    if (!rp.enabled) throw new Errors.NotFound(`Passkeys are off on this server: ${rp.disabledReason ?? 'not configured'}`)
  }

  const refuse = (detail: string) => new Errors.InvalidPasskey(detail)

  /** The challenge a response answers, taken (single use) and checked against what it was issued for. */
  async function takeChallengeOf(clientDataJSON: unknown, purpose: ChallengePurpose, expectedChallengeId?: string): Promise<{ challenge: string; entry: StoredChallenge }> {
    let challenge: unknown
    try {
      challenge = challengeInClientData(String(clientDataJSON))
    } catch {
      throw refuse('The passkey response has no readable clientDataJSON')
    }
    if (typeof challenge !== 'string' || (expectedChallengeId !== undefined && expectedChallengeId !== challenge)) throw refuse('The passkey response does not answer this challenge')
    const entry = await challenges.take(challenge)
    if (!entry || entry.purpose !== purpose) throw refuse('Unknown, expired or already used passkey challenge; ask for new options')
    return { challenge, entry }
  }

  async function recordFailure(reason: string, client: ClientInfo, userId?: number, details: Record<string, unknown> = {}) {
    await audit.record({ action: 'auth.passkey_failed', actorId: userId ?? null, targetId: userId ?? null, ip: client.ip, details: { reason, ...details } })
  }

  /**
   * Checks an assertion (sign-in, second factor, re-authentication) against its challenge and the
   * stored credential, then moves the signature counter forward. A counter that does not move forward
   * on an authenticator that counts means two copies of the key exist: refused and audited.
   */
  async function verifyAssertion(
    response: AuthenticationResponseJSON,
    purpose: ChallengePurpose,
    client: ClientInfo,
    expect: { userId?: number; twoFaTokenHash?: string; challengeId?: string; requireUserVerification?: boolean } = {},
  ): Promise<VerifiedPasskey> {
    assertEnabled()
    const { challenge, entry } = await takeChallengeOf(response?.response?.clientDataJSON, purpose, expect.challengeId)
    if (expect.twoFaTokenHash !== undefined && entry.twoFaTokenHash !== expect.twoFaTokenHash) throw refuse('This passkey challenge belongs to another sign-in')
    const owner = expect.userId ?? entry.userId
    if (expect.userId !== undefined && entry.userId !== undefined && entry.userId !== expect.userId) throw refuse('This passkey challenge belongs to another account')
    const passkey = typeof response.id === 'string' ? await passkeys.findByCredentialId(response.id) : undefined
    if (!passkey) {
      await recordFailure('unknown_credential', client, owner)
      throw refuse('Unknown passkey')
    }
    if (owner !== undefined && passkey.userId !== owner) {
      await recordFailure('other_users_credential', client, owner, { passkey_owner: passkey.userId })
      throw refuse('This passkey belongs to another account')
    }
    const userHandle = response.response.userHandle
    if (userHandle && userHandle !== userHandleOf(passkey.userId)) {
      await recordFailure('user_handle_mismatch', client, passkey.userId)
      throw refuse('This passkey belongs to another account')
    }
    let info: Awaited<ReturnType<typeof import('@simplewebauthn/server').verifyAuthenticationResponse>>['authenticationInfo']
    try {
      const { verifyAuthenticationResponse } = await webauthn()
      const result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: [...rp.origins],
        expectedRPID: rp.rpId,
        // The counter is compared below, after the signature is known to be good, so a forged
        // response cannot pass for a cloned authenticator.
        credential: { id: passkey.credentialId, publicKey: fromBase64Url(passkey.publicKey), counter: 0, transports: passkey.transports as AuthenticatorTransport[] },
        requireUserVerification: expect.requireUserVerification ?? false,
      })
      if (!result.verified) throw new Error('The passkey signature did not verify')
      info = result.authenticationInfo
    } catch (error) {
      await recordFailure('verification_failed', client, passkey.userId, { passkey_id: passkey.id })
      throw refuse(error instanceof Error ? error.message : 'The passkey response did not verify')
    }
    const stored = passkey.counter
    const counted = info.newCounter > 0 || stored > 0
    if ((counted && info.newCounter <= stored) || !(await passkeys.recordUse(passkey.id, info.newCounter, now()))) {
      await audit.record({
        action: 'auth.passkey_counter_regressed',
        actorId: passkey.userId,
        targetId: passkey.userId,
        ip: client.ip,
        details: { passkey_id: passkey.id, stored_counter: stored, presented_counter: info.newCounter },
      })
      throw refuse('This passkey’s signature counter went backwards: the authenticator may have been cloned')
    }
    return { passkey: { ...passkey, counter: info.newCounter }, userVerified: info.userVerified }
  }

  async function requireUser(userId: number): Promise<UserRow> {
    const user = await users.findById(userId)
    if (!user) throw new Errors.InvalidToken()
    return user
  }

  async function requestOptions(userId: number | undefined, entry: Omit<StoredChallenge, 'issuedAt'>, userVerification: 'preferred' | 'required'): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const challenge = await challenges.issue(entry)
    const allowCredentials = userId === undefined ? [] : (await passkeys.listForUser(userId)).map((row) => ({ id: row.credentialId, transports: row.transports as AuthenticatorTransport[] }))
    // As bytes: a string would be taken as UTF-8 and encoded again, and the browser would echo that.
    const { generateAuthenticationOptions } = await webauthn()
    return generateAuthenticationOptions({ rpID: rp.rpId, challenge: fromBase64Url(challenge), allowCredentials, userVerification, timeout: TIMEOUT_MS })
  }

  return {
    assertEnabled,
    verifyAssertion,

    async list(userId: number): Promise<PasskeyPublic[]> {
      assertEnabled()
      return (await passkeys.listForUser(userId)).map(toPasskeyPublic)
    },

    async registrationOptions(userId: number): Promise<PublicKeyCredentialCreationOptionsJSON> {
      assertEnabled()
      const user = await requireUser(userId)
      const existing = await passkeys.listForUser(user.id)
      const challenge = await challenges.issue({ purpose: 'register', userId: user.id })
      const displayName = [user.firstName, user.lastName].filter(Boolean).join(' ') || user.username
      const { generateRegistrationOptions } = await webauthn()
      return generateRegistrationOptions({
        rpName: rp.rpName,
        rpID: rp.rpId,
        userName: user.username,
        userDisplayName: displayName,
        userID: fromBase64Url(userHandleOf(user.id)),
        challenge: fromBase64Url(challenge),
        timeout: TIMEOUT_MS,
        attestationType: 'none',
        // One passkey per authenticator: the browser says so instead of making a second.
        excludeCredentials: existing.map((row) => ({ id: row.credentialId, transports: row.transports as AuthenticatorTransport[] })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      })
    },

    /**
     * Adds the passkey a registration answer carries. `asker` is the session that asks and the token
     * version it authenticated with: the passkey is written only while both still hold, so a request
     * that passed its checks before the owner took the account back (signed out, changed or reset the
     * password, first proved the address) gets the answer of a revoked session, 401 (see account-locks).
     */
    async register(
      userId: number,
      response: RegistrationResponseJSON,
      name: string | undefined,
      client: ClientInfo,
      asker: { sessionId?: string | undefined; tokenVersion: number },
    ): Promise<PasskeyPublic> {
      assertEnabled()
      const { challenge, entry } = await takeChallengeOf(response?.response?.clientDataJSON, 'register')
      if (entry.userId !== userId) throw new Errors.PasskeyRegistrationFailed('This registration challenge was issued to another account')
      let info: NonNullable<Awaited<ReturnType<typeof import('@simplewebauthn/server').verifyRegistrationResponse>>['registrationInfo']>
      try {
        const { verifyRegistrationResponse } = await webauthn()
        const result = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: [...rp.origins], expectedRPID: rp.rpId, requireUserVerification: false })
        if (!result.verified) throw new Error('The passkey registration did not verify')
        info = result.registrationInfo
      } catch (error) {
        await audit.record({ action: 'user.passkey_registration_failed', actorId: userId, targetId: userId, ip: client.ip, details: { reason: error instanceof Error ? error.message.slice(0, 200) : 'unknown' } })
        throw new Errors.PasskeyRegistrationFailed(error instanceof Error ? error.message : 'The passkey registration did not verify')
      }
      const label = name?.trim() || 'Passkey'
      const row = await db.transaction(async (tx) => {
        // The user's row first, then the session's: the order of every take-back.
        if (!(await locks.userAt(userId, asker.tokenVersion, tx))) throw new Errors.InvalidToken()
        if (asker.sessionId !== undefined && !(await locks.liveSession(asker.sessionId, userId, now(), tx))) throw new Errors.InvalidToken()
        const inserted = await passkeys.insert(
          {
            userId,
            credentialId: info.credential.id,
            publicKey: toBase64Url(info.credential.publicKey),
            counter: info.credential.counter,
            transports: info.credential.transports ?? response.response.transports ?? [],
            deviceType: info.credentialDeviceType,
            backedUp: info.credentialBackedUp,
            aaguid: info.aaguid,
            name: label,
          },
          tx,
        )
        if (!inserted) throw new Errors.Conflict('This passkey is registered already')
        await audit.record({ action: 'user.passkey_added', actorId: userId, targetId: userId, ip: client.ip, details: { passkey_id: inserted.id, name: label } }, tx)
        return inserted
      })
      return toPasskeyPublic(row)
    },

    async rename(userId: number, id: string, name: string): Promise<PasskeyPublic> {
      assertEnabled()
      const row = await passkeys.rename(userId, id, name.trim())
      if (!row) throw new Errors.NotFound('Passkey not found')
      return toPasskeyPublic(row)
    },

    /**
     * Removes a passkey. An account without a password and without a linked identity would have no
     * way in after losing its last passkey (email sign-in is a way back, not a credential): refused.
     */
    async remove(userId: number, id: string, client: ClientInfo): Promise<void> {
      assertEnabled()
      await db.transaction(async (tx) => {
        await passkeys.lockUser(userId, tx)
        const row = await passkeys.findOwned(userId, id, tx)
        if (!row) throw new Errors.NotFound('Passkey not found')
        const user = await users.findById(userId, tx)
        if (user && !user.hasPassword && (await passkeys.countForUser(userId, tx)) <= 1 && (await passkeys.countIdentities(userId, tx)) === 0) {
          throw new Errors.LastSignInMethod('This is the last way to sign in to an account without a password: set a password or add another passkey first')
        }
        await passkeys.remove(userId, id, tx)
        await audit.record({ action: 'user.passkey_removed', actorId: userId, targetId: userId, ip: client.ip, details: { passkey_id: id, name: row.name } }, tx)
      })
    },

    /**
     * Sign-in options. Naming the account lists its passkeys (allowCredentials), as the sign-in contract
     * asks, so security keys that are not discoverable still work; an unknown name gets the same empty
     * list as no name. A named account with passkeys is therefore told apart from an unknown one, as
     * WebAuthn's username-first flow does everywhere; clients that mind use the usernameless flow.
     */
    async loginOptions(usernameOrEmail: string | undefined): Promise<PublicKeyCredentialRequestOptionsJSON & { challenge_id: string }> {
      assertEnabled()
      const user = usernameOrEmail ? await users.findByUsernameOrEmail(usernameOrEmail) : undefined
      const options = await requestOptions(user?.id, { purpose: 'login', ...(user ? { userId: user.id } : {}) }, 'preferred')
      return { ...options, challenge_id: options.challenge }
    },

    /**
     * Signs in with a passkey. With user verification (PIN, biometrics) the passkey is two factors in
     * one and 2FA asks nothing more; without it, an account with 2FA gets the usual challenge.
     */
    async login(response: AuthenticationResponseJSON, challengeId: string | undefined, client: ClientInfo): Promise<TokenPair | TwoFactorChallenge> {
      const { passkey, userVerified } = await verifyAssertion(response, 'login', client, { ...(challengeId ? { challengeId } : {}) })
      const user = await requireUser(passkey.userId)
      // Read after the account: a first proof of the address that removed the passkey before that read
      // shows here; one after it moved the version the sign-in compares (auth-service completeLogin).
      if (!(await passkeys.findByCredentialId(passkey.credentialId))) throw refuse('Unknown passkey')
      if (!user.isActive) throw new Errors.InactiveUser()
      if (config.requireEmailVerification && !user.emailVerified) throw new Errors.EmailNotVerified()
      if (user.twoFaEnabled && !userVerified) return deps.startTwoFactor(user, client, 'passkey')
      return deps.completeLogin(user, client, 'passkey')
    },

    /** Options for answering a 2FA challenge with a passkey; the caller has checked the challenge token. */
    async secondFactorOptions(userId: number, twoFaTokenHash: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
      assertEnabled()
      if ((await passkeys.countForUser(userId)) === 0) throw new Errors.BadRequest('This account has no passkey; use your code')
      return requestOptions(userId, { purpose: 'second_factor', userId, twoFaTokenHash }, 'preferred')
    },

    /** Options for re-authenticating with a passkey: user verification required, as for a password. */
    async reauthenticationOptions(userId: number): Promise<PublicKeyCredentialRequestOptionsJSON> {
      assertEnabled()
      if ((await passkeys.countForUser(userId)) === 0) throw new Errors.BadRequest('You have no passkey; confirm with your password')
      return requestOptions(userId, { purpose: 'reauthenticate', userId }, 'required')
    },
  }
}

export type PasskeysService = ReturnType<typeof createPasskeysService>
