import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createIdentitiesRepository } from '../modules/oauth/identities-repository.js'
import { createOAuthService, type OAuthService } from '../modules/oauth/oauth-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuthService
  }
}

/**
 * Sign-in providers, wired on the services tier. Discovery starts once the app is ready and retries in
 * the background, so a provider that is down at boot never stops the server.
 */
export default fp(
  async function oauthPlugin(app: FastifyInstance) {
    const oauth = createOAuthService({
      db: app.db,
      config: app.config,
      cache: app.cache,
      users: app.repositories.users,
      identities: createIdentitiesRepository(app.db),
      audit: app.repositories.audit,
      invalidateUser: app.invalidateUser,
      completeLogin: (user, client, method) => app.authService.completeLogin(user, client, method),
      startTwoFactor: (user, client, firstFactor) => app.twoFactor.startLoginChallenge(user, client, firstFactor),
      log: app.log,
      now: app.now,
    })
    app.decorate('oauth', oauth)
    app.addHook('onReady', async () => oauth.start())
    app.addHook('onClose', async () => oauth.stop())
  },
  { name: 'oauth', dependencies: ['services'] },
)
