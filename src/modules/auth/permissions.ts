import type { Role } from '../../db/schema.js'

export const PERMISSIONS = ['users:read', 'users:write', 'users:delete', 'roles:write', 'audit:read', 'realtime:broadcast'] as const
export type Permission = (typeof PERMISSIONS)[number]

const ADMIN: Permission[] = ['users:read', 'users:write', 'users:delete', 'audit:read', 'realtime:broadcast']

/** The whole role matrix (docs/ROLES.md explains it). Everyone may read and edit their own profile. */
export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  user: new Set<Permission>(),
  admin: new Set<Permission>(ADMIN),
  superadmin: new Set<Permission>([...ADMIN, 'roles:write']),
}

export const ROLE_RANK: Readonly<Record<Role, number>> = { user: 0, admin: 1, superadmin: 2 }

export function hasPermission(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission)
}

export function roleAtLeast(role: Role, minimum: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[minimum]
}

/**
 * Whether `actor` may manage (update others' privileged fields, deactivate, delete) `target`:
 * admins manage only roles below their own; a superadmin manages everyone.
 */
export function canManage(actor: { role: Role }, target: { role: Role }): boolean {
  if (actor.role === 'superadmin') return true
  return hasPermission(actor.role, 'users:write') && ROLE_RANK[target.role] < ROLE_RANK[actor.role]
}
