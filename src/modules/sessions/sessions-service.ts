import type { Config } from '../../config/config.js'
import type { Db } from '../../db/database.js'
import type { SessionRow, UserRow } from '../../db/schema.js'
import { Errors } from '../../lib/errors.js'
import type { AuditRepository } from '../audit/audit-repository.js'
import { deviceLabel } from './device.js'
import type { EndReason, SessionsRepository } from './sessions-repository.js'

export interface SessionClient {
  ip: string
  userAgent?: string | undefined
}

export interface SessionsServiceDeps {
  db: Db
  config: Config
  sessions: SessionsRepository
  audit: AuditRepository
  now: () => Date
  /** Drops the cached principal, which carries the ids of recently ended sessions. */
  invalidateUser: (userId: number) => Promise<void>
  /** Mails the "new sign-in" notice; failures must not fail the sign-in. */
  notifyNewDevice: (user: UserRow, session: SessionRow) => Promise<void>
  onError: (error: unknown, message: string) => void
}

const NEW_DEVICE_WINDOW_MS = 30 * 24 * 60 * 60 * 1000
const TOUCH_INTERVAL_MS = 60_000

/**
 * Sessions as a first-class resource: one per completed sign-in, listed and ended by their owner.
 * Ending one revokes its refresh tokens and, through the principal cache, its access tokens at once.
 */
export function createSessionsService(deps: SessionsServiceDeps) {
  const { db, config, sessions, audit, now } = deps
  const lifetimeMs = config.sessionMaxLifetimeHours * 60 * 60 * 1000
  // The last use of each session as stored, known in this process: most requests then never reach the
  // database, and a write happens on the first use more than a minute after the stored one.
  const lastUse = new Map<string, number>()

  async function endWithAudit(userId: number, ids: string[], reason: EndReason, actorId: number | null, ip: string | undefined, tx: Db) {
    for (const id of ids) {
      await audit.record({ action: 'session.ended', actorId: actorId ?? userId, targetId: userId, ip, details: { session_id: id, reason } }, tx)
    }
  }

  return {
    /** Opens the session of a completed sign-in, inside the sign-in's transaction. */
    async start(user: UserRow, client: SessionClient, method: string, tx: Db): Promise<SessionRow> {
      const at = now()
      const session = await sessions.insert(
        {
          userId: user.id,
          createdAt: at,
          lastUsedAt: at,
          expiresAt: new Date(at.getTime() + lifetimeMs),
          authTime: at,
          authMethods: [method],
          ip: client.ip.slice(0, 64),
          userAgent: client.userAgent?.slice(0, 255) ?? null,
          device: deviceLabel(client.userAgent),
        },
        tx,
      )
      await audit.record({ action: 'session.created', actorId: user.id, targetId: user.id, ip: client.ip, details: { session_id: session.id, method, device: session.device } }, tx)
      return session
    },

    /** After a sign-in: tells the user when it came from a device and address not seen in 30 days. */
    async checkNewDevice(user: UserRow, session: SessionRow): Promise<void> {
      if (!config.newDeviceEmails || !session.device || !session.ip) return
      const since = new Date(now().getTime() - NEW_DEVICE_WINDOW_MS)
      if (await sessions.seenDevice(user.id, session.device, session.ip, since, session.id)) return
      await deps.notifyNewDevice(user, session)
    },

    /**
     * The session a refresh token belongs to, if it may still be used. A session past its absolute
     * end is ended here (audited), whatever its refresh tokens say.
     */
    async usable(sessionId: string, client: SessionClient): Promise<SessionRow | undefined> {
      const session = await sessions.findById(sessionId)
      if (!session || session.endedAt) return undefined
      if (session.expiresAt.getTime() <= now().getTime()) {
        await db.transaction(async (tx) => {
          if (await sessions.end(session.id, 'expired', now(), undefined, tx)) await endWithAudit(session.userId, [session.id], 'expired', null, client.ip, tx)
        })
        await deps.invalidateUser(session.userId)
        return undefined
      }
      return session
    },

    /** Records a use of the session (last use, IP, client), at most once a minute per session. */
    touch(sessionId: string, client: SessionClient): void {
      const at = now()
      const last = lastUse.get(sessionId)
      if (last !== undefined && at.getTime() - last < TOUCH_INTERVAL_MS) return
      if (lastUse.size > 50_000) lastUse.clear()
      // Until the answer comes, the attempt stands in for the stored value, so a burst writes once.
      lastUse.set(sessionId, at.getTime())
      sessions
        .touch(sessionId, at, client.ip.slice(0, 64), client.userAgent?.slice(0, 255) ?? null)
        .then((stored) => {
          if (stored) lastUse.set(sessionId, stored.getTime())
          else lastUse.delete(sessionId)
        })
        .catch((error: unknown) => {
          lastUse.delete(sessionId)
          deps.onError(error, 'session touch failed')
        })
    },

    async list(userId: number): Promise<SessionRow[]> {
      return sessions.listLive(userId, now())
    },

    /** Ends one session: the owner's own (others' ids answer 404, as if they did not exist). */
    async end(sessionId: string, reason: EndReason, options: { userId?: number; actorId?: number; ip?: string; tx?: Db } = {}): Promise<boolean> {
      const work = async (tx: Db) => {
        const ended = await sessions.end(sessionId, reason, now(), options.userId, tx)
        if (ended) await endWithAudit(ended.userId, [ended.id], reason, options.actorId ?? null, options.ip, tx)
        return ended
      }
      const ended = options.tx ? await work(options.tx) : await db.transaction(work)
      if (ended && !options.tx) await deps.invalidateUser(ended.userId)
      return ended !== undefined
    },

    /** Ends every session of a user, or every one but `keepId`. The caller invalidates the user after commit. */
    async endAll(userId: number, reason: EndReason, tx: Db, options: { keepId?: string | undefined; actorId?: number; ip?: string } = {}): Promise<string[]> {
      const ids = await sessions.endAllForUser(userId, reason, now(), options.keepId, tx)
      await endWithAudit(userId, ids, reason, options.actorId ?? userId, options.ip, tx)
      return ids
    },

    /** Records a new proof of identity on the session (re-authentication). */
    async recordProof(sessionId: string, method: string, tx: Db): Promise<Date> {
      const at = now()
      await sessions.recordProof(sessionId, at, method, tx)
      return at
    },

    async requireOwn(userId: number, sessionId: string): Promise<SessionRow> {
      const session = await sessions.findById(sessionId)
      if (!session || session.userId !== userId || session.endedAt) throw new Errors.NotFound('Session not found')
      return session
    },
  }
}

export type SessionsService = ReturnType<typeof createSessionsService>
