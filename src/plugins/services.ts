import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createAuditRepository, type AuditRepository } from '../modules/audit/audit-repository.js'
import { createApiKeysService, type ApiKeysService } from '../modules/api-keys/api-keys-service.js'
import { createAccountService, type AccountService } from '../modules/auth/account-service.js'
import { createAuthService, type AuthService } from '../modules/auth/auth-service.js'
import { createOneTimeTokensRepository } from '../modules/auth/one-time-tokens-repository.js'
import { createRefreshTokensRepository, type RefreshTokensRepository } from '../modules/auth/refresh-tokens-repository.js'
import { createTwoFactorService, type TwoFactorService } from '../modules/auth/two-factor-service.js'
import { createUsersRepository, type UsersRepository } from '../modules/users/users-repository.js'
import { createUsersService, type UsersService } from '../modules/users/users-service.js'
import authPlugin from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    repositories: { users: UsersRepository; audit: AuditRepository; refreshTokens: RefreshTokensRepository }
    usersService: UsersService
    authService: AuthService
    twoFactor: TwoFactorService
    accountService: AccountService
    apiKeys: ApiKeysService
  }
}

/**
 * The app's own tier: repositories over the database, services holding the rules, and the
 * authentication built on them. Routes reach everything through these decorations.
 */
export default fp(
  async function servicesPlugin(app: FastifyInstance) {
    const { db, config, cache, mailer } = app
    const now = app.now
    const logError = (error: unknown, message: string) => app.log.error({ err: error }, message)

    const users = createUsersRepository(db)
    const audit = createAuditRepository(db)
    const refreshTokens = createRefreshTokensRepository(db)
    const oneTimeTokens = createOneTimeTokensRepository(db)
    app.decorate('repositories', { users, audit, refreshTokens })

    const apiKeys = createApiKeysService({ db, cache, audit, now, onError: (error) => logError(error, 'api key touch failed') })
    app.decorate('apiKeys', apiKeys)
    await app.register(authPlugin, { verifyApiKey: (presented) => apiKeys.verify(presented) })
    const invalidateUser = app.invalidateUser

    // The two services call each other (login starts 2FA, 2FA completes login); late binding breaks the cycle.
    let twoFactor: TwoFactorService | undefined
    const notify = async (user: { email: string; username: string }, template: 'two-fa-enabled' | 'two-fa-disabled' | 'password-changed') => {
      await mailer.send({ to: user.email, template, data: { username: user.username } }).catch((error: unknown) => logError(error, `${template} notice not queued`))
    }
    const authService = createAuthService({
      db,
      config,
      users,
      refreshTokens,
      audit,
      tokens: app.accessTokens,
      now,
      invalidateUser,
      startTwoFactor: (user, client) => twoFactor!.startLoginChallenge(user, client),
      notifyPasswordChanged: (user) => notify(user, 'password-changed'),
    })
    twoFactor = createTwoFactorService({
      db,
      config,
      users,
      oneTimeTokens,
      audit,
      mailer,
      now,
      invalidateUser,
      completeLogin: authService.completeLogin,
      checkPassword: authService.checkPassword,
      notify,
    })
    const accountService = createAccountService({ db, config, users, oneTimeTokens, audit, mailer, authService, now, invalidateUser, onError: logError })
    const usersService = createUsersService({
      db,
      config,
      users,
      refreshTokens,
      oneTimeTokens,
      audit,
      now,
      invalidateUser,
      onRegistered: (user) => accountService.afterRegistration(user),
    })

    app.decorate('authService', authService)
    app.decorate('twoFactor', twoFactor)
    app.decorate('accountService', accountService)
    app.decorate('usersService', usersService)
  },
  { name: 'services', dependencies: ['database', 'cache', 'mail'] },
)
