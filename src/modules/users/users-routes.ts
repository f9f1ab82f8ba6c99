import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES, type Role } from '../../db/schema.js'
import { PageOf } from '../../lib/pagination.js'
import { ErrorDetail, ErrorResponses, SESSION_ONLY, SESSION_OR_API_KEY } from '../../lib/schemas.js'
import {
  AdminCreateUserBody,
  ChangePasswordBody,
  RoleBody,
  UpdateUserBody,
  UserIdParams,
  UserListQuery,
  UserPublic,
  toUserPublic,
} from './users-schemas.js'

const security = SESSION_OR_API_KEY
const UserPage = PageOf(UserPublic)

/** The spec's users API. Handlers only translate HTTP; the rules live in the users service. */
const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)

  app.get(
    '/me',
    { schema: { tags: ['users'], summary: 'Current user', security, response: { 200: UserPublic, 401: ErrorDetail } } },
    async (request) => toUserPublic(request.user),
  )

  app.post(
    '/me/password',
    {
      preHandler: app.requireSession,
      schema: {
        tags: ['users'],
        summary: 'Change your password (ends your other sessions)',
        security: SESSION_ONLY,
        body: ChangePasswordBody,
        response: {
          200: Type.Object({ detail: Type.String(), access_token: Type.String(), token_type: Type.Literal('bearer'), expires_in: Type.Integer() }),
          400: ErrorDetail,
          ...ErrorResponses,
        },
      },
    },
    async (request) => {
      const { current_password, new_password } = request.body
      const result = await app.authService.changePassword(request.user.id, request.auth.sessionId, current_password, new_password, {
        ip: request.ip,
        userAgent: request.headers['user-agent'],
      })
      return { detail: 'Password changed; other sessions were signed out', ...result }
    },
  )

  app.get(
    '/',
    {
      preHandler: app.requirePermission('users:read'),
      schema: { tags: ['users'], summary: 'List users (admin)', security, querystring: UserListQuery, response: { 200: UserPage, ...ErrorResponses } },
    },
    async (request) => {
      const { skip, limit, search, role, is_active } = request.query
      const page = await app.usersService.list({ search, role, isActive: is_active }, { skip, limit })
      return { items: page.items.map(toUserPublic), total: page.total, skip, limit }
    },
  )

  app.post(
    '/',
    {
      preHandler: app.requirePermission('users:write'),
      schema: {
        tags: ['users'],
        summary: 'Create a user (admin; elevated roles need a superadmin)',
        security,
        body: AdminCreateUserBody,
        response: { 201: UserPublic, 409: ErrorDetail, ...ErrorResponses },
      },
    },
    async (request, reply) => reply.code(201).send(toUserPublic(await app.usersService.createByAdmin(request.user, request.body, request.ip))),
  )

  app.get(
    '/role/:role',
    {
      preHandler: app.requirePermission('users:read'),
      schema: {
        tags: ['users'],
        summary: 'List users by role (admin)',
        security,
        params: Type.Object({ role: Type.String({ pattern: `^(${[...ROLES, ...ROLES.map((role) => role.toUpperCase())].join('|')})$` }) }),
        querystring: Type.Object({ skip: UserListQuery.properties.skip, limit: UserListQuery.properties.limit }),
        response: { 200: UserPage, ...ErrorResponses },
      },
    },
    async (request) => {
      const { skip, limit } = request.query
      const page = await app.usersService.list({ role: request.params.role.toLowerCase() as Role }, { skip, limit })
      return { items: page.items.map(toUserPublic), total: page.total, skip, limit }
    },
  )

  app.get(
    '/get/:user_id',
    {
      schema: { tags: ['users'], summary: 'Get a user (self or admin)', security, params: UserIdParams, response: { 200: UserPublic, 404: ErrorDetail, ...ErrorResponses } },
    },
    async (request) => toUserPublic(await app.usersService.get(request.user, request.params.user_id)),
  )

  app.put(
    '/update/:user_id',
    {
      schema: {
        tags: ['users'],
        summary: 'Update a user, partially (self: profile fields; admin: also account flags of lower roles)',
        security,
        params: UserIdParams,
        body: UpdateUserBody,
        response: { 200: UserPublic, 404: ErrorDetail, 409: ErrorDetail, ...ErrorResponses },
      },
    },
    async (request) => toUserPublic(await app.usersService.update(request.user, request.params.user_id, request.body, request.ip)),
  )

  app.put(
    '/update/:user_id/role',
    {
      preHandler: app.requirePermission('roles:write'),
      schema: {
        tags: ['users'],
        summary: 'Change a user role (superadmin)',
        security,
        params: UserIdParams,
        body: RoleBody,
        response: { 200: UserPublic, 404: ErrorDetail, ...ErrorResponses },
      },
    },
    async (request) => toUserPublic(await app.usersService.changeRole(request.user, request.params.user_id, request.body.role, request.ip)),
  )

  app.delete(
    '/delete/:user_id',
    {
      preHandler: app.requirePermission('users:delete'),
      schema: { tags: ['users'], summary: 'Delete a user (admin)', security, params: UserIdParams, response: { 204: Type.Null(), 404: ErrorDetail, ...ErrorResponses } },
    },
    async (request, reply) => {
      await app.usersService.delete(request.user, request.params.user_id, request.ip)
      return reply.code(204).send(null)
    },
  )
}

export default usersRoutes
