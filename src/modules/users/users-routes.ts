import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ROLES, type Role } from '../../db/schema.js'
import { PageOf, pageOf } from '../../lib/pagination.js'
import { ErrorDetail } from '../../lib/schemas.js'
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
import { Errors } from '../../lib/errors.js'
import { isOwnEmailChange, touchesPendingEmail } from './users-service.js'

const UserPage = PageOf(UserPublic)
const client = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] })
/** The request as the fresh-proof check should see it when its body's `password` is not the caller's. */
const withoutBody = (request: FastifyRequest): FastifyRequest => Object.create(request, { body: { value: undefined } })

/** The spec's users API. Handlers only translate HTTP; the rules live in the users service. */
const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/me',
    { config: { access: 'session-or-key' }, schema: { operationId: 'getCurrentUser', tags: ['users'], summary: 'Current user', response: { 200: UserPublic } } },
    // Synchronous, like health: nothing to wait for once authentication has loaded the user.
    (request) => toUserPublic(request.user),
  )

  app.delete(
    '/me',
    {
      // Irreversible, so a recent proof: a stolen token alone cannot erase someone.
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'deleteCurrentUser',
        tags: ['users'],
        summary: 'Delete your account and everything that belongs to it (the last active superadmin cannot)',
        body: Type.Optional(Type.Union([Type.Object({ password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) }), Type.Null()])),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await app.accountData.deleteSelf(request.user.id, (user, tx) => app.usersService.assertNotLastSuperadmin(user, tx))
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/me/export',
    {
      // A copy of everything about someone is as sensitive as the account: a recent proof.
      config: { access: 'session', fresh: true },
      schema: {
        operationId: 'exportCurrentUser',
        tags: ['users'],
        summary: 'A JSON copy of everything stored about you (profile, sessions, API keys without secrets, audit events)',
        response: { 200: Type.Object({}, { additionalProperties: true }) },
      },
    },
    async (request, reply) => {
      const data = await app.accountData.export(request.user.id)
      reply.header('content-disposition', `attachment; filename="account-export-${request.user.id}.json"`)
      return data
    },
  )

  app.delete(
    '/me/pending-email',
    {
      config: { access: 'session' },
      schema: { operationId: 'cancelEmailChange', tags: ['users'], summary: 'Cancel a pending email change (its confirmation link stops working)', response: { 200: UserPublic } },
    },
    async (request) => toUserPublic(await app.accountService.cancelEmailChange(request.user.id, client(request))),
  )

  app.post(
    '/me/password',
    {
      config: { access: 'session' },
      schema: {
        operationId: 'changePassword',
        tags: ['users'],
        summary: 'Change your password (ends your other sessions and the API keys they created; this session gets new tokens)',
        body: ChangePasswordBody,
        response: {
          200: Type.Object({
            detail: Type.String(),
            access_token: Type.String(),
            refresh_token: Type.String({ description: "This session's new refresh token: the ones it held before stop working" }),
            token_type: Type.Literal('bearer'),
            expires_in: Type.Integer(),
          }),
          400: ErrorDetail,
          422: ErrorDetail,
        },
      },
    },
    async (request) => {
      const { current_password, new_password } = request.body
      const result = await app.authService.changePassword(request.user.id, request.auth.sessionId, current_password, new_password, client(request))
      return { detail: 'Password changed; other sessions were signed out', ...result }
    },
  )

  app.get(
    '/',
    {
      config: { access: 'session-or-key', permission: 'users:read' },
      schema: { operationId: 'listUsers', tags: ['users'], summary: 'List users (admin)', querystring: UserListQuery, response: { 200: UserPage, 422: ErrorDetail } },
    },
    async (request) => {
      const { search, role, is_active } = request.query
      const { skip, limit } = pageOf(request.query)
      const page = await app.usersService.list({ search, role, isActive: is_active }, { skip, limit })
      return { items: page.items.map(toUserPublic), total: page.total, skip, limit }
    },
  )

  app.post(
    '/',
    {
      config: { access: 'session-or-key', permission: 'users:write' },
      schema: {
        operationId: 'createUser',
        tags: ['users'],
        summary: 'Create a user (admin; elevated roles need a superadmin)',
        body: AdminCreateUserBody,
        response: { 201: UserPublic, 409: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request, reply) => {
      // A verified address is one nobody will have to prove again, so the credentials set up before it are
      // never ended (account pre-hijacking): vouching for one needs a session and a recent proof, like an
      // administrator's email change. The body's `password` is the new user's, so only the session's own
      // proof counts (`reauthenticate` first when it is stale).
      if (request.body.email_verified === true) await app.requireFreshProof(withoutBody(request))
      return reply.code(201).send(toUserPublic(await app.usersService.createByAdmin(request.user, request.body, request.ip)))
    },
  )

  app.get(
    '/role/:role',
    {
      config: { access: 'session-or-key', permission: 'users:read' },
      schema: {
        operationId: 'listUsersByRole',
        tags: ['users'],
        summary: 'List users by role (admin)',
        params: Type.Object({ role: Type.String({ pattern: `^(${[...ROLES, ...ROLES.map((role) => role.toUpperCase())].join('|')})$` }) }),
        querystring: Type.Object({ skip: UserListQuery.properties.skip, limit: UserListQuery.properties.limit }),
        response: { 200: UserPage, 422: ErrorDetail },
      },
    },
    async (request) => {
      const { skip, limit } = pageOf(request.query)
      const page = await app.usersService.list({ role: request.params.role.toLowerCase() as Role }, { skip, limit })
      return { items: page.items.map(toUserPublic), total: page.total, skip, limit }
    },
  )

  app.get(
    '/get/:user_id',
    {
      config: { access: 'session-or-key' },
      schema: { operationId: 'getUser', tags: ['users'], summary: 'Get a user (self or admin)', params: UserIdParams, response: { 200: UserPublic, 404: ErrorDetail, 422: ErrorDetail } },
    },
    async (request) => toUserPublic(await app.usersService.get(request.user, request.params.user_id)),
  )

  app.put(
    '/update/:user_id',
    {
      config: { access: 'session-or-key' },
      schema: {
        operationId: 'updateUser',
        tags: ['users'],
        summary: 'Update a user, partially (self: profile fields; admin: also account flags of lower roles)',
        params: UserIdParams,
        body: UpdateUserBody,
        response: { 200: UserPublic, 404: ErrorDetail, 409: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => {
      // Moving one's own account to another address is how a stolen token becomes a takeover; withdrawing
      // a pending move is a session's decision too, never an API key's.
      if (isOwnEmailChange(request.user, request.params.user_id, request.body)) await app.requireFreshProof(request)
      // An administrator moving someone else's account to another address decides where its password
      // resets go: a recent proof too, so a stolen admin token or an admin's API key cannot.
      else if (await app.usersService.changesAnotherUsersEmail(request.user, request.params.user_id, request.body)) await app.requireFreshProof(request)
      // Marking another user's address verified vouches for a mailbox nobody proved to read (see createUser): the same.
      else if (request.body.email_verified === true && request.params.user_id !== request.user.id) await app.requireFreshProof(request)
      else if (touchesPendingEmail(request.user, request.params.user_id, request.body) && request.auth.method !== 'jwt') throw new Errors.SessionRequired()
      // A deactivation revokes the user's API keys along with their sessions.
      return toUserPublic(await app.usersService.update(request.user, request.params.user_id, request.body, request.ip))
    },
  )

  app.put(
    '/update/:user_id/role',
    {
      config: { access: 'session-or-key', permission: 'roles:write' },
      schema: {
        operationId: 'updateUserRole',
        tags: ['users'],
        summary: 'Change a user role (superadmin)',
        params: UserIdParams,
        body: RoleBody,
        response: { 200: UserPublic, 404: ErrorDetail, 422: ErrorDetail },
      },
    },
    async (request) => toUserPublic(await app.usersService.changeRole(request.user, request.params.user_id, request.body.role, request.ip)),
  )

  app.delete(
    '/delete/:user_id',
    {
      config: { access: 'session-or-key', permission: 'users:delete' },
      schema: { operationId: 'deleteUser', tags: ['users'], summary: 'Delete a user (admin)', params: UserIdParams, response: { 204: Type.Null(), 404: ErrorDetail, 422: ErrorDetail } },
    },
    async (request, reply) => {
      await app.usersService.delete(request.user, request.params.user_id, request.ip)
      return reply.code(204).send(null)
    },
  )
}

export default usersRoutes
