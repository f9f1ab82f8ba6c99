import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { NewUserRow, Role, UserRow } from '../../db/schema.js'
import { Errors, fieldError } from '../../lib/errors.js'
import { hashPassword, passwordProblem } from '../../lib/passwords.js'
import type { Principal } from '../auth/principal.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import type { OneTimeTokensRepository } from '../auth/one-time-tokens-repository.js'
import { canManage, hasPermission } from '../auth/permissions.js'
import type { UserFilters, UsersRepository } from './users-repository.js'
import type { AdminCreateUserBody, RegisterBody, UpdateUserBody } from './users-schemas.js'

type Actor = Pick<Principal, 'id' | 'role'>

const PRIVILEGED_FIELDS = ['is_active', 'email_verified', 'phone_verified'] as const

/** An IANA zone name as the runtime knows it ("utc" becomes "UTC"), or undefined when unknown. */
export function canonicalTimezone(zone: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone
  } catch {
    return undefined
  }
}

type ProfileInput = Pick<UpdateUserBody, 'first_name' | 'last_name' | 'phone_number' | 'avatar_url' | 'bio' | 'timezone' | 'language'>

function profileColumns(input: ProfileInput): Partial<NewUserRow> {
  const columns: Partial<NewUserRow> = {}
  if (input.first_name !== undefined) columns.firstName = input.first_name
  if (input.last_name !== undefined) columns.lastName = input.last_name
  if (input.phone_number !== undefined) columns.phoneNumber = input.phone_number
  if (input.avatar_url !== undefined) columns.avatarUrl = input.avatar_url
  if (input.bio !== undefined) columns.bio = input.bio
  if (input.language !== undefined) columns.language = input.language
  if (input.timezone !== undefined) {
    const zone = canonicalTimezone(input.timezone)
    if (!zone) throw fieldError('timezone', `Unknown timezone "${input.timezone}"; use an IANA name such as "Europe/Paris"`)
    columns.timezone = zone
  }
  return columns
}

function isUniqueViolation(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 3 && current; depth += 1) {
    if ((current as { code?: string }).code === '23505') return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

export interface UsersServiceDeps {
  db: Db
  config: Config
  users: UsersRepository
  /** Ends every session of a user inside the caller's transaction (deactivation). */
  endSessions: (userId: number, reason: 'deactivated', tx: Db) => Promise<unknown>
  oneTimeTokens: OneTimeTokensRepository
  audit: AuditRepository
  now: () => Date
  invalidateUser: (userId: number) => Promise<void>
  onRegistered: (user: UserRow) => Promise<void>
  /** Starts a confirmed change of one's own address (the account service mails both addresses). */
  requestEmailChange: (user: UserRow, newEmail: string, ip: string) => Promise<UserRow>
  cancelEmailChange: (userId: number, ip: string) => Promise<UserRow>
  /** Tells the old address about a change an administrator made. */
  onEmailChangedByAdmin: (user: UserRow, oldEmail: string, newEmail: string) => Promise<void>
  /** For a deactivation: revokes the user's API keys inside its transaction. */
  revokeApiKeys: RevokeApiKeys
}

/**
 * Revokes every live API key of a user inside the caller's transaction (api-keys-service
 * `revokeAllForUser`); answers what to run once it has committed (dropping the cached keys).
 */
export type RevokeApiKeys = (userId: number, reason: string, ip: string, tx: Db) => Promise<() => Promise<void>>

/** Whether an update would withdraw the caller's pending email change (it sends the current address back). */
export function touchesPendingEmail(actor: Pick<Principal, 'id' | 'pendingEmail'>, userId: number, body: Pick<UpdateUserBody, 'email'>): boolean {
  return actor.id === userId && body.email !== undefined && actor.pendingEmail !== null && actor.pendingEmail !== undefined
}

/** Whether an update asks to change the caller's own address: that needs a session and a fresh proof. */
export function isOwnEmailChange(actor: Pick<Principal, 'id' | 'email'>, userId: number, body: Pick<UpdateUserBody, 'email'>): boolean {
  return actor.id === userId && body.email !== undefined && body.email.toLowerCase() !== actor.email.toLowerCase()
}

export function createUsersService(deps: UsersServiceDeps) {
  const { db, config, users, audit } = deps

  async function assertAvailable(username: string | undefined, email: string | undefined, exceptId?: number, tx: Db = db) {
    const taken = await users.findTaken(username, email, exceptId, tx)
    if (taken.username) throw new Errors.UsernameTaken()
    if (taken.email) throw new Errors.EmailTaken()
  }

  async function insertUser(values: NewUserRow, ip: string, action: string, actorId: number | null): Promise<UserRow> {
    try {
      return await db.transaction(async (tx) => {
        const user = await users.insert(values, tx)
        await audit.record({ action, actorId: actorId ?? user.id, targetId: user.id, ip, details: { role: user.role } }, tx)
        return user
      })
    } catch (error) {
      // Two registrations racing for one name: the unique index decides, the loser gets a clean 409.
      if (isUniqueViolation(error)) throw new Errors.Conflict('Username or email already registered')
      throw error
    }
  }

  async function prepareNewUser(body: RegisterBody | AdminCreateUserBody): Promise<NewUserRow> {
    const problem = await passwordProblem(body.password, { username: body.username, email: body.email })
    if (problem) throw fieldError('password', problem)
    const profile = profileColumns(body)
    await assertAvailable(body.username, body.email)
    return {
      username: body.username,
      email: body.email,
      passwordHash: await hashPassword(body.password, config.bcryptRounds),
      ...profile,
    }
  }

  /** Loads the target of an action on someone else, hiding existence from those who may not look. */
  async function loadTarget(actor: Actor, userId: number): Promise<UserRow> {
    if (actor.id !== userId && !hasPermission(actor.role, 'users:read')) throw new Errors.InsufficientPermissions('Not enough permissions')
    const target = await users.findById(userId)
    if (!target) throw new Errors.NotFound('User not found')
    return target
  }

  /** The last active superadmin may not be demoted, deactivated or deleted: someone must hold the keys. */
  async function assertNotLastSuperadmin(target: UserRow, tx: Db): Promise<void> {
    if (target.role !== 'superadmin' || !target.isActive) return
    if ((await users.countActiveSuperadminsForUpdate(tx)) <= 1) {
      throw new Errors.LastSuperadmin()
    }
  }

  return {
    assertNotLastSuperadmin,

    async register(body: RegisterBody, ip: string): Promise<UserRow> {
      // Self-registration can only ever create a plain user, whatever the client sends.
      if (body.role !== undefined && body.role !== 'user') throw new Errors.Forbidden('Registration can only create users with the "user" role')
      const user = await insertUser(await prepareNewUser(body), ip, 'user.register', null)
      await deps.onRegistered(user)
      return user
    },

    async createByAdmin(actor: Actor, body: AdminCreateUserBody, ip: string): Promise<UserRow> {
      const role = body.role ?? 'user'
      if (role !== 'user' && !hasPermission(actor.role, 'roles:write')) throw new Errors.InsufficientPermissions('Only a superadmin can create users with elevated roles')
      const values = await prepareNewUser(body)
      return insertUser(
        {
          ...values,
          role,
          isActive: body.is_active ?? true,
          emailVerified: body.email_verified ?? false,
          phoneVerified: body.phone_verified ?? false,
        },
        ip,
        'user.create',
        actor.id,
      )
    },

    /**
     * Whether this update would move another user's account to a new address: an administrator's change,
     * which applies at once and decides where that account's password resets go (the route asks a fresh
     * proof for it). False when the caller may not manage the user: the update refuses that on its own.
     */
    async changesAnotherUsersEmail(actor: Actor, userId: number, body: Pick<UpdateUserBody, 'email'>): Promise<boolean> {
      if (actor.id === userId || body.email === undefined) return false
      const target = await users.findById(userId)
      return target !== undefined && canManage(actor, target) && body.email.toLowerCase() !== target.email.toLowerCase()
    },

    async get(actor: Actor, userId: number): Promise<UserRow> {
      return loadTarget(actor, userId)
    },

    async list(filters: UserFilters, page: { skip: number; limit: number }) {
      return users.search(filters, page)
    },

    /**
     * A deactivation ends every way into the account: sessions, access tokens and API keys (revoked,
     * not just unusable while inactive, so reactivating revives none).
     */
    async update(actor: Actor, userId: number, body: UpdateUserBody, ip: string): Promise<UserRow> {
      const target = await loadTarget(actor, userId)
      const self = actor.id === target.id
      if (!self && !canManage(actor, target)) throw new Errors.InsufficientPermissions('You cannot manage this user')
      if (body.role !== undefined && body.role !== target.role) {
        throw new Errors.Forbidden('Roles change only through PUT /api/v1/users/update/{user_id}/role (superadmin)')
      }
      if (body.two_fa_enabled !== undefined && body.two_fa_enabled !== target.twoFaEnabled) {
        throw new Errors.Forbidden('Two-factor authentication is turned on and off through /api/v1/auth/enable-2fa and /disable-2fa')
      }
      const privileged = PRIVILEGED_FIELDS.filter((field) => body[field] !== undefined)
      // Managing one's own account flags would let a user verify themselves or an admin lock themselves out.
      if (privileged.length > 0 && (self || !canManage(actor, target))) {
        throw new Errors.Forbidden(`Only an administrator can set ${privileged.join(', ')} on another user`)
      }

      const changes: Partial<NewUserRow> = profileColumns(body)
      if (body.username !== undefined && body.username !== target.username) changes.username = body.username
      const newEmail = body.email !== undefined && body.email.toLowerCase() !== target.email ? body.email : undefined
      // One's own new address waits for its confirmation link; an administrator's change applies at once.
      const ownEmailChange = self && newEmail !== undefined
      if (newEmail !== undefined && !self) {
        changes.email = newEmail
        // A new address has not been proven yet.
        changes.emailVerified = false
        changes.pendingEmail = null
      }
      // Sending the current address back withdraws a pending change.
      const cancelsPending = self && body.email !== undefined && newEmail === undefined && target.pendingEmail !== null
      if (body.is_active !== undefined) changes.isActive = body.is_active
      if (body.email_verified !== undefined) changes.emailVerified = body.email_verified
      if (body.phone_verified !== undefined) changes.phoneVerified = body.phone_verified
      if (body.phone_number !== undefined && body.phone_number !== target.phoneNumber && body.phone_verified === undefined) {
        changes.phoneVerified = false
      }
      await assertAvailable(changes.username, changes.email ?? newEmail, target.id)

      const deactivating = changes.isActive === false && target.isActive
      // Before the profile write, so a refused request (the mail cap) changes nothing at all.
      if (ownEmailChange) await deps.requestEmailChange(target, newEmail, ip)
      if (cancelsPending) await deps.cancelEmailChange(target.id, ip)
      try {
        let dropCachedKeys: (() => Promise<void>) | undefined
        const updated = await db.transaction(async (tx) => {
          if (deactivating) await assertNotLastSuperadmin(target, tx)
          const row = await users.patch(target.id, changes, tx)
          // A verification or reset link mailed to the old address must not vouch for the new one.
          if (changes.email !== undefined) await deps.oneTimeTokens.removeEmailLinks(target.id, tx)
          if (deactivating) {
            await users.revokeAccessTokens(target.id, tx)
            await deps.endSessions(target.id, 'deactivated', tx)
            dropCachedKeys = await deps.revokeApiKeys(target.id, 'deactivated', ip, tx)
          }
          await audit.record(
            {
              action: self ? 'user.update_self' : 'user.update',
              actorId: actor.id,
              targetId: target.id,
              ip,
              details: { fields: Object.keys(body).filter((field) => field !== 'password'), ...(changes.email !== undefined ? { email_changed: true } : {}) },
            },
            tx,
          )
          return row
        })
        await Promise.all([deps.invalidateUser(target.id), dropCachedKeys?.()])
        if (!updated) throw new Errors.NotFound('User not found')
        if (changes.email !== undefined) await deps.onEmailChangedByAdmin(updated, target.email, changes.email)
        return updated
      } catch (error) {
        if (isUniqueViolation(error)) throw new Errors.Conflict('Username or email already registered')
        throw error
      }
    },

    async changeRole(actor: Actor, userId: number, role: Role, ip: string): Promise<UserRow> {
      if (!hasPermission(actor.role, 'roles:write')) throw new Errors.InsufficientPermissions('Only a superadmin can change roles')
      const target = await loadTarget(actor, userId)
      if (target.role === role) return target
      const updated = await db.transaction(async (tx) => {
        if (role !== 'superadmin') await assertNotLastSuperadmin(target, tx)
        // No token revocation needed: every request re-reads the role, so the change applies at once.
        const row = await users.patch(target.id, { role }, tx)
        await audit.record({ action: 'user.role_change', actorId: actor.id, targetId: target.id, ip, details: { from: target.role, to: role } }, tx)
        return row
      })
      await deps.invalidateUser(target.id)
      return updated!
    },

    async delete(actor: Actor, userId: number, ip: string): Promise<void> {
      const target = await loadTarget(actor, userId)
      if (!canManage(actor, target)) throw new Errors.InsufficientPermissions('You cannot delete this user')
      await db.transaction(async (tx) => {
        await assertNotLastSuperadmin(target, tx)
        await audit.record({ action: 'user.delete', actorId: actor.id, targetId: target.id, ip, details: { username: target.username, role: target.role } }, tx)
        await users.delete(target.id, tx)
      })
      await deps.invalidateUser(target.id)
    },
  }
}

export type UsersService = ReturnType<typeof createUsersService>
