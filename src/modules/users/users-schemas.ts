import { Type, type Static } from 'typebox'
import type { UserRow } from '../../db/schema.js'
import { PaginationQuery } from '../../lib/pagination.js'
import { NullableString } from '../../lib/schemas.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../lib/passwords.js'

// Request bodies. Null first: with type coercion on, a string-first union would turn null into "" instead
// of clearing. Answers use NullableString, which the serializer writes faster.
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([Type.Null(), schema])

export const RoleSchema = Type.Union([Type.Literal('user'), Type.Literal('admin'), Type.Literal('superadmin')], {
  description: 'user < admin < superadmin',
})

// '@' is left out so a username can never be mistaken for an email at login.
export const Username = Type.String({ minLength: 3, maxLength: 50, pattern: '^[A-Za-z0-9_.-]+$', examples: ['johndoe'] })
export const Email = Type.String({ format: 'email', maxLength: 255, examples: ['john@example.com'] })
export const Password = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH, examples: ['securepass123'] })

/** The editable profile fields; shared by registration, self-update and admin create. */
export const profileFields = {
  first_name: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  last_name: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  phone_number: Type.Optional(Nullable(Type.String({ maxLength: 20, pattern: '^\\+?[0-9][0-9 ().-]{2,19}$', examples: ['+1234567890'] }))),
  avatar_url: Type.Optional(Nullable(Type.String({ maxLength: 500, pattern: '^https?://[^\\s]+$', examples: ['https://example.com/me.png'] }))),
  bio: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone', examples: ['America/New_York'] })),
  language: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$', maxLength: 16, examples: ['en', 'pt-BR'] })),
}

export const UserPublic = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  email: Type.String(),
  first_name: NullableString(),
  last_name: NullableString(),
  phone_number: NullableString(),
  phone_verified: Type.Boolean(),
  avatar_url: NullableString(),
  bio: NullableString(),
  timezone: Type.String(),
  language: Type.String(),
  role: RoleSchema,
  is_active: Type.Boolean(),
  two_fa_enabled: Type.Boolean(),
  two_fa_method: Type.Union([Type.Literal('email'), Type.Literal('totp')]),
  email_verified: Type.Boolean(),
  pending_email: NullableString({ description: 'A new address waiting for its confirmation link; `email` changes once it is used' }),
  last_login_at: NullableString({ format: 'date-time' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
})
export type UserPublic = Static<typeof UserPublic>

export const RegisterBody = Type.Object({
  username: Username,
  email: Email,
  password: Password,
  ...profileFields,
  role: Type.Optional(RoleSchema),
})
export type RegisterBody = Static<typeof RegisterBody>

const EmailVerified = Type.Boolean({
  description: 'true (another user) needs a session and a recent proof: 403 `session_required` for an API key, `reauthentication_required` when stale',
})

export const AdminCreateUserBody = Type.Object({
  ...RegisterBody.properties,
  is_active: Type.Optional(Type.Boolean()),
  email_verified: Type.Optional(EmailVerified),
  phone_verified: Type.Optional(Type.Boolean()),
})
export type AdminCreateUserBody = Static<typeof AdminCreateUserBody>

/**
 * Every field is optional (partial update). The privileged ones are in the schema so that a caller
 * who may not set them gets a clear 403 instead of a silent no-op.
 */
export const UpdateUserBody = Type.Object({
  username: Type.Optional(Username),
  email: Type.Optional(Email),
  ...profileFields,
  role: Type.Optional(RoleSchema),
  is_active: Type.Optional(Type.Boolean()),
  email_verified: Type.Optional(EmailVerified),
  phone_verified: Type.Optional(Type.Boolean()),
  two_fa_enabled: Type.Optional(Type.Boolean()),
  password: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 1024,
      description: "Your password, when your last sign-in is not recent, to change your own email, another user's email, or mark another user's email verified",
    }),
  ),
})
export type UpdateUserBody = Static<typeof UpdateUserBody>

export const RoleBody = Type.Object({ role: RoleSchema })

export const UserIdParams = Type.Object({ user_id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) })

export const ChangePasswordBody = Type.Object({ current_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: Password })

export const UserListQuery = Type.Object({
  ...PaginationQuery,
  search: Type.Optional(Type.String({ maxLength: 100 })),
  role: Type.Optional(RoleSchema),
  is_active: Type.Optional(Type.Boolean()),
})

/** Rows carry Dates; the cached principal, read back from JSON, already carries ISO strings. */
function isoDate(value: Date | string): string {
  return typeof value === 'string' ? value : value.toISOString()
}

/** Accepts a full row or the cached principal: only public columns are read. */
export function toUserPublic(user: Omit<UserRow, 'passwordHash' | 'totpSecret' | 'totpPendingSecret' | 'totpLastStep' | 'tokenVersion'>): UserPublic {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    first_name: user.firstName,
    last_name: user.lastName,
    phone_number: user.phoneNumber,
    phone_verified: user.phoneVerified,
    avatar_url: user.avatarUrl,
    bio: user.bio,
    timezone: user.timezone,
    language: user.language,
    role: user.role,
    is_active: user.isActive,
    two_fa_enabled: user.twoFaEnabled,
    two_fa_method: user.twoFaMethod,
    email_verified: user.emailVerified,
    pending_email: user.pendingEmail ?? null,
    last_login_at: user.lastLoginAt ? isoDate(user.lastLoginAt) : null,
    created_at: isoDate(user.createdAt),
    updated_at: isoDate(user.updatedAt),
  }
}
