import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createAuditRepository, type AuditRepository } from '../modules/audit/audit-repository.js'
import { createApiKeysService, type ApiKeysService } from '../modules/api-keys/api-keys-service.js'
import { createAccountService, type AccountService } from '../modules/auth/account-service.js'
import { createAttemptLimits, SECOND_FACTOR_WINDOW_SECONDS, type AttemptLimits } from '../modules/auth/attempt-limits.js'
import { createAuthService, type AuthService } from '../modules/auth/auth-service.js'
import { createOneTimeTokensRepository } from '../modules/auth/one-time-tokens-repository.js'
import { createChallengeStore } from '../modules/passkeys/challenge-store.js'
import { createPasskeysRepository } from '../modules/passkeys/passkeys-repository.js'
import { createPasskeysService, type PasskeysService } from '../modules/passkeys/passkeys-service.js'
import { createEmailLoginRepository } from '../modules/email-login/email-login-repository.js'
import { createEmailLoginService, type EmailLoginService } from '../modules/email-login/email-login-service.js'
import { createRefreshTokensRepository, type RefreshTokensRepository } from '../modules/auth/refresh-tokens-repository.js'
import { createTwoFactorService, type TwoFactorService } from '../modules/auth/two-factor-service.js'
import { createSessionsRepository, type SessionsRepository } from '../modules/sessions/sessions-repository.js'
import { createSessionsService, type SessionsService } from '../modules/sessions/sessions-service.js'
import { createAccountDataService, type AccountDataService } from '../modules/users/account-data-service.js'
import { createUsersRepository, type UsersRepository } from '../modules/users/users-repository.js'
import { createUsersService, type UsersService } from '../modules/users/users-service.js'
import type { TemplateData, TemplateName } from '../mail/mail-templates.js'
import authPlugin from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    repositories: { users: UsersRepository; audit: AuditRepository; refreshTokens: RefreshTokensRepository; sessions: SessionsRepository }
    sessions: SessionsService
    accountData: AccountDataService
    usersService: UsersService
    authService: AuthService
    twoFactor: TwoFactorService
    accountService: AccountService
    apiKeys: ApiKeysService
    attemptLimits: AttemptLimits
    passkeys: PasskeysService
    emailLogin: EmailLoginService
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
    const sessionsRepository = createSessionsRepository(db)
    app.decorate('repositories', { users, audit, refreshTokens, sessions: sessionsRepository })

    const apiKeys = createApiKeysService({ db, cache, audit, now, onError: (error) => logError(error, 'api key touch failed') })
    app.decorate('apiKeys', apiKeys)

    // The services call each other (login starts 2FA, 2FA completes login, the auth plugin checks
    // passwords); late binding breaks the cycles.
    let twoFactor: TwoFactorService | undefined
    let authService: AuthService | undefined
    let sessions: SessionsService | undefined
    let passkeys: PasskeysService | undefined
    await app.register(authPlugin, {
      verifyApiKey: (presented) => apiKeys.verify(presented),
      provePassword: (userId, password, client) => authService!.provePassword(userId, password, client),
      onSessionUse: (sessionId, client) => sessions!.touch(sessionId, client),
    })
    const invalidateUser = app.invalidateUser
    sessions = createSessionsService({
      db,
      config,
      sessions: sessionsRepository,
      audit,
      now,
      invalidateUser,
      onError: logError,
      notifyNewDevice: async (user, session) => {
        await sendNotice(user, 'new-sign-in', {
          username: user.username,
          time: `${session.createdAt.toISOString().replace('T', ' ').slice(0, 16)} UTC`,
          device: session.device ?? 'Unknown device',
          ip: session.ip ?? 'unknown',
          link: `${config.publicUrl}/security`,
        })
      },
    })

    type Notice = 'two-fa-enabled' | 'two-fa-disabled' | 'password-changed' | 'signed-out-everywhere'
    // Security notices go out unasked, so anyone who opens an account on a stranger's address could
    // aim them at it: they count in the per-recipient cap, and over it they are dropped silently. But
    // the first of each kind in a window always goes (takeNotice), so nobody can silence the notice
    // of a change by filling the cap first (with password-reset requests, say).
    // In the recipient's own language, so the user row travels with the address.
    const sendNotice = async (recipient: { email: string; language: string }, template: TemplateName, data: TemplateData) => {
      const to = recipient.email
      if ((await limits.takeNotice(to, template).catch(() => undefined)) !== undefined) return
      await mailer.send({ to, template, data, language: recipient.language }).catch((error: unknown) => logError(error, `${template} notice not queued`))
    }
    const notify = (user: { email: string; username: string; language: string }, template: Notice) => sendNotice(user, template, { username: user.username })
    const limits = createAttemptLimits(app.limitCounters, config, {
      // Audited on every refusal; the owner is mailed once per window, not once per refused guess.
      onSecondFactorLocked: async (userId) => {
        await audit.record({ action: 'auth.2fa_locked', actorId: userId, targetId: userId }).catch((error: unknown) => logError(error, 'audit failed'))
        if (!(await limits.firstSecondFactorLock(userId))) return
        const user = await users.findById(userId)
        if (!user) return
        await sendNotice(user, 'two-fa-locked', { username: user.username, minutes: SECOND_FACTOR_WINDOW_SECONDS / 60 })
      },
    })
    authService = createAuthService({
      db,
      config,
      users,
      refreshTokens,
      audit,
      tokens: app.accessTokens,
      apiKeys,
      sessions,
      limits,
      now,
      invalidateUser,
      onError: logError,
      verifySecondFactor: (user, code, client) => twoFactor!.verifyForUser(user, code, client),
      startTwoFactor: (user, client) => twoFactor!.startLoginChallenge(user, client),
      verifyPasskeyProof: async (user, response, client) => {
        await passkeys!.verifyAssertion(response as never, 'reauthenticate', client, { userId: user.id, requireUserVerification: true })
      },
      notify,
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
      limits,
      notify,
      verifyPasskey: async (userId, twoFaTokenHash, response, client) => {
        await passkeys!.verifyAssertion(response as never, 'second_factor', client, { userId, twoFaTokenHash })
      },
    })
    passkeys = createPasskeysService({
      db,
      config,
      passkeys: createPasskeysRepository(db),
      users,
      audit,
      challenges: createChallengeStore(cache, now),
      now,
      completeLogin: authService.completeLogin,
      startTwoFactor: (user, client, firstFactor) => twoFactor!.startLoginChallenge(user, client, firstFactor),
    })
    if (!config.webauthn.enabled) app.log.warn(`passkeys are off: ${config.webauthn.disabledReason}`)
    app.decorate('passkeys', passkeys)
    app.decorate(
      'emailLogin',
      createEmailLoginService({
        db,
        config,
        users,
        emailLogins: createEmailLoginRepository(db),
        audit,
        mailer,
        limits,
        now,
        invalidateUser,
        completeLogin: authService.completeLogin,
        startTwoFactor: (user, client, firstFactor) => twoFactor!.startLoginChallenge(user, client, firstFactor),
        onError: logError,
      }),
    )
    const accountService = createAccountService({ db, config, users, oneTimeTokens, audit, mailer, authService, limits, now, invalidateUser, onError: logError })
    const usersService = createUsersService({
      db,
      config,
      users,
      oneTimeTokens,
      audit,
      now,
      invalidateUser,
      endSessions: (userId, reason, tx) => sessions!.endAll(userId, reason, tx),
      onRegistered: (user) => accountService.afterRegistration(user),
      requestEmailChange: (user, newEmail, ip) => accountService.requestEmailChange(user, newEmail, { ip }),
      cancelEmailChange: (userId, ip) => accountService.cancelEmailChange(userId, { ip }),
      onEmailChangedByAdmin: (user, oldEmail, newEmail) => accountService.notifyEmailChangedByAdmin(user, oldEmail, newEmail),
      revokeApiKeys: (userId, reason, ip, tx) => apiKeys.revokeAllForUser(userId, reason, ip, tx),
    })

    app.decorate('authService', authService)
    app.decorate('twoFactor', twoFactor)
    app.decorate('accountService', accountService)
    app.decorate('usersService', usersService)
    app.decorate('attemptLimits', limits)
    app.decorate('sessions', sessions)
    app.decorate(
      'accountData',
      createAccountDataService({
        db,
        users,
        sessions: sessionsRepository,
        apiKeys,
        audit,
        now,
        invalidateUser,
        // The address is gone from the database by now; this one mail is the user's receipt.
        notifyDeleted: (user) => sendNotice(user, 'account-deleted', { username: user.username }),
      }),
    )
  },
  { name: 'services', dependencies: ['database', 'cache', 'mail'] },
)
