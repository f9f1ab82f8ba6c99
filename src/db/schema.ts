import { sql } from 'drizzle-orm'
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core'

export const ROLES = ['user', 'admin', 'superadmin'] as const
export type Role = (typeof ROLES)[number]
export const userRole = pgEnum('user_role', ROLES)

export const TWO_FA_METHODS = ['email', 'totp'] as const
export type TwoFaMethod = (typeof TWO_FA_METHODS)[number]

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}

export const users = pgTable(
  'users',
  {
    id: serial('id').primaryKey(),
    username: varchar('username', { length: 50 }).notNull(),
    email: varchar('email', { length: 255 }).notNull(),
    passwordHash: varchar('password_hash', { length: 255 }).notNull(),
    firstName: varchar('first_name', { length: 100 }),
    lastName: varchar('last_name', { length: 100 }),
    phoneNumber: varchar('phone_number', { length: 20 }),
    phoneVerified: boolean('phone_verified').notNull().default(false),
    avatarUrl: varchar('avatar_url', { length: 500 }),
    bio: text('bio'),
    timezone: varchar('timezone', { length: 64 }).notNull().default('UTC'),
    language: varchar('language', { length: 16 }).notNull().default('en'),
    role: userRole('role').notNull().default('user'),
    isActive: boolean('is_active').notNull().default(true),
    twoFaEnabled: boolean('two_fa_enabled').notNull().default(false),
    twoFaMethod: varchar('two_fa_method', { length: 10 }).$type<TwoFaMethod>().notNull().default('email'),
    /** AES-GCM sealed with a key derived from SECRET_KEY: TOTP needs the secret back, so it cannot be hashed. */
    totpSecret: text('totp_secret'),
    totpPendingSecret: text('totp_pending_secret'),
    /** Last accepted TOTP time step, so one code cannot be replayed inside its window. */
    totpLastStep: bigint('totp_last_step', { mode: 'number' }),
    emailVerified: boolean('email_verified').notNull().default(false),
    /**
     * False for an account created by a sign-in provider (OIDC, GitHub) until its owner sets a password:
     * `password_hash` then holds a hash of random bytes that no password matches.
     */
    hasPassword: boolean('has_password').notNull().default(true),
    /** A new address the user asked for; it replaces `email` only once a link mailed to it is used. */
    pendingEmail: varchar('pending_email', { length: 255 }),
    /** Bumped to invalidate every access token at once (logout-all, password or role change, deactivation). */
    tokenVersion: integer('token_version').notNull().default(0),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('users_username_lower_key').on(sql`lower(${table.username})`),
    uniqueIndex('users_email_lower_key').on(sql`lower(${table.email})`),
    index('users_role_idx').on(table.role),
  ],
)

/**
 * One sign-in on one device. Its refresh tokens rotate under it (their `family_id` is the session id),
 * and its access tokens carry its id as `sid`, so ending the session ends them all.
 */
export const sessions = pgTable(
  'sessions',
  {
    /** Random (UUID v4): an opaque id that cannot be guessed from another. */
    id: uuid('id').primaryKey().defaultRandom(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Updated at most once a minute. */
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }).notNull().defaultNow(),
    /** The absolute end (SESSION_MAX_LIFETIME_HOURS after the sign-in), however often it refreshes. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    /** When the session last proved who it is (sign-in, 2FA, re-authentication); a refresh is not a proof. */
    authTime: timestamp('auth_time', { withTimezone: true }).notNull(),
    /** The proofs given, in order: `password`, `password+totp`, `password+email_code`, `password+recovery_code`, ... */
    authMethods: text('auth_methods').array().notNull(),
    /** IP and client of the last use. */
    ip: varchar('ip', { length: 64 }),
    userAgent: varchar('user_agent', { length: 255 }),
    /** A short label parsed from the user agent: "Firefox on Linux". */
    device: varchar('device', { length: 100 }),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /** logout, logout_all, revoked, reuse, expired, password_change, password_reset, deactivated */
    endReason: varchar('end_reason', { length: 32 }),
  },
  (table) => [index('sessions_user_idx').on(table.userId, table.endedAt)],
)

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The session (sessions.id) this token belongs to. */
    familyId: uuid('family_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    tokenHash: varchar('token_hash', { length: 64 }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
    /** The token this one was rotated into: a retry within the grace window checks it is still unused. */
    replacedBy: uuid('replaced_by'),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /**
     * Why it was revoked, when that matters later: `superseded` when a retry of its predecessor replaced
     * it before it was used. Such a token coming back is a copy's reuse, not a retry. Null otherwise.
     */
    revokedReason: varchar('revoked_reason', { length: 32 }),
    ip: varchar('ip', { length: 64 }),
    userAgent: varchar('user_agent', { length: 255 }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('refresh_tokens_hash_key').on(table.tokenHash),
    index('refresh_tokens_family_idx').on(table.familyId),
    index('refresh_tokens_user_idx').on(table.userId),
  ],
)

export const apiKeys = pgTable(
  'api_keys',
  {
    id: serial('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 100 }).notNull(),
    prefix: varchar('prefix', { length: 16 }).notNull(),
    keyHash: varchar('key_hash', { length: 64 }).notNull(),
    scopes: text('scopes').array().notNull(),
    /**
     * The session that created the key: revoking that session as compromised (signing it out from the
     * sessions list, a password change, a reused refresh token) revokes the key with it. Null for keys
     * made before it was recorded, and once the session row is deleted.
     */
    sessionId: uuid('session_id').references(() => sessions.id, { onDelete: 'set null' }),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex('api_keys_prefix_key').on(table.prefix), index('api_keys_user_idx').on(table.userId)],
)

export const auditLogs = pgTable(
  'audit_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    action: varchar('action', { length: 64 }).notNull(),
    actorId: integer('actor_id'),
    targetId: integer('target_id'),
    ip: varchar('ip', { length: 64 }),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('audit_logs_created_idx').on(table.createdAt),
    index('audit_logs_action_idx').on(table.action),
    index('audit_logs_actor_idx').on(table.actorId),
    index('audit_logs_target_idx').on(table.targetId),
  ],
)

export const ONE_TIME_PURPOSES = ['verify_email', 'password_reset', 'enable_2fa', 'change_email', 'email_login'] as const
export type OneTimePurpose = (typeof ONE_TIME_PURPOSES)[number]

/** Email verification, email change and password reset links, 2FA enable codes: hashed, expiring, single use. */
export const oneTimeTokens = pgTable(
  'one_time_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: varchar('purpose', { length: 32 }).$type<OneTimePurpose>().notNull(),
    tokenHash: varchar('token_hash', { length: 64 }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('one_time_tokens_hash_key').on(table.tokenHash),
    index('one_time_tokens_user_purpose_idx').on(table.userId, table.purpose),
  ],
)

/** A login that passed the password and waits for its second factor. */
export const twoFaChallenges = pgTable(
  'two_fa_challenges',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: varchar('token_hash', { length: 64 }).notNull(),
    method: varchar('method', { length: 10 }).$type<TwoFaMethod>().notNull(),
    codeHash: varchar('code_hash', { length: 64 }),
    attempts: integer('attempts').notNull().default(0),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    lastSentAt: timestamp('last_sent_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex('two_fa_challenges_hash_key').on(table.tokenHash), index('two_fa_challenges_user_idx').on(table.userId)],
)

export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: serial('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: varchar('code_hash', { length: 64 }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index('recovery_codes_user_idx').on(table.userId)],
)

/** A WebAuthn credential (passkey) registered by a user. The public key only: nothing here is secret. */
export const passkeys = pgTable(
  'passkeys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The authenticator's credential ID, base64url, as the browser reports it. */
    credentialId: text('credential_id').notNull(),
    /** COSE public key, base64url. */
    publicKey: text('public_key').notNull(),
    /** Signature counter; a value that goes backwards means a cloned authenticator. */
    counter: bigint('counter', { mode: 'number' }).notNull().default(0),
    transports: text('transports').array().notNull().default(sql`'{}'::text[]`),
    /** `singleDevice` or `multiDevice` (synced passkey). */
    deviceType: varchar('device_type', { length: 32 }).notNull(),
    backedUp: boolean('backed_up').notNull().default(false),
    aaguid: varchar('aaguid', { length: 36 }),
    name: varchar('name', { length: 100 }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  },
  (table) => [uniqueIndex('passkeys_credential_id_key').on(table.credentialId), index('passkeys_user_idx').on(table.userId)],
)

/** An account at a sign-in provider (OIDC or GitHub) linked to a user: provider + subject is the identity. */
export const userIdentities = pgTable(
  'user_identities',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The provider's name in OAUTH_PROVIDERS (`google`, `github`, ...). */
    provider: varchar('provider', { length: 64 }).notNull(),
    /** The provider's stable id for the account (`sub`, or GitHub's numeric id). */
    subject: varchar('subject', { length: 255 }).notNull(),
    /** The email the provider asserted when the identity was linked or last used. */
    email: varchar('email', { length: 255 }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('user_identities_provider_subject_key').on(table.provider, table.subject),
    index('user_identities_user_idx').on(table.userId),
  ],
)

export type UserRow = typeof users.$inferSelect
export type NewUserRow = typeof users.$inferInsert
export type ApiKeyRow = typeof apiKeys.$inferSelect
export type SessionRow = typeof sessions.$inferSelect
export type AuditLogRow = typeof auditLogs.$inferSelect
export type PasskeyRow = typeof passkeys.$inferSelect
export type UserIdentityRow = typeof userIdentities.$inferSelect
