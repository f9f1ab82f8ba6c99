import type { paths } from './schema.js'

/** Named shapes pulled out of the generated schema, so pages don't spell out the long paths. */

type Json<T> = T extends { content: { 'application/json': infer Body } } ? Body : never

export type User = Json<paths['/api/v1/users/me']['get']['responses'][200]>
export type Role = User['role']
export type UserPage = Json<paths['/api/v1/users']['get']['responses'][200]>
export type UserUpdate = NonNullable<paths['/api/v1/users/update/{user_id}']['put']['requestBody']>['content']['application/json']
export type UserCreate = NonNullable<paths['/api/v1/users']['post']['requestBody']>['content']['application/json']
export type AuditPage = Json<paths['/api/v1/audit']['get']['responses'][200]>
export type AuditEntry = AuditPage['items'][number]
export type ApiKey = Json<paths['/api/v1/api-keys']['get']['responses'][200]>[number]
export type NewApiKey = Json<paths['/api/v1/api-keys']['post']['responses'][201]>
export type Session = Json<paths['/api/v1/auth/sessions']['get']['responses'][200]>[number]
export type TwoFactorMethod = NonNullable<User['two_fa_method']>

export const ROLES: readonly Role[] = ['user', 'admin', 'superadmin']

/** Mirrors src/modules/auth/permissions.ts: the console hides what the server would refuse anyway. */
export function roleAtLeast(role: Role, minimum: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(minimum)
}

/** May `actor` update, deactivate or delete `target`? (docs/ROLES.md, "Managing other users") */
export function canManage(actor: User, target: User): boolean {
  if (actor.role === 'superadmin') return true
  return actor.role === 'admin' && actor.id !== target.id && target.role === 'user'
}
