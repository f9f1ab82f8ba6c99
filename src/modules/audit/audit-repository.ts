import { and, asc, desc, eq, gte, lte, or, type SQL } from 'drizzle-orm'
import { createCrudRepository } from '../../db/crud.js'
import type { Db } from '../../db/database.js'
import { auditLogs, type AuditLogRow } from '../../db/schema.js'

export interface AuditEvent {
  action: string
  actorId?: number | null | undefined
  targetId?: number | null | undefined
  ip?: string | undefined
  details?: Record<string, unknown>
}

export interface AuditFilters {
  action?: string | undefined
  actorId?: number | undefined
  targetId?: number | undefined
  since?: Date | undefined
  until?: Date | undefined
}

export function createAuditRepository(db: Db) {
  const crud = createCrudRepository(db, auditLogs)
  return {
    /** Events the user did or that were done to them, oldest first (a data export). */
    async listAbout(userId: number, limit: number, tx: Db = db): Promise<AuditLogRow[]> {
      return tx
        .select()
        .from(auditLogs)
        .where(or(eq(auditLogs.actorId, userId), eq(auditLogs.targetId, userId)))
        .orderBy(asc(auditLogs.id))
        .limit(limit)
    },
    async record(event: AuditEvent, tx: Db = db): Promise<void> {
      await tx.insert(auditLogs).values({
        action: event.action,
        actorId: event.actorId ?? null,
        targetId: event.targetId ?? null,
        ip: event.ip?.slice(0, 64) ?? null,
        details: event.details ?? {},
      })
    },
    async search(filters: AuditFilters, page: { skip: number; limit: number }): Promise<{ items: AuditLogRow[]; total: number }> {
      const conditions: SQL[] = []
      if (filters.action) conditions.push(eq(auditLogs.action, filters.action))
      if (filters.actorId !== undefined) conditions.push(eq(auditLogs.actorId, filters.actorId))
      if (filters.targetId !== undefined) conditions.push(eq(auditLogs.targetId, filters.targetId))
      if (filters.since) conditions.push(gte(auditLogs.createdAt, filters.since))
      if (filters.until) conditions.push(lte(auditLogs.createdAt, filters.until))
      return crud.list({ ...page, where: conditions.length ? and(...conditions) : undefined, orderBy: desc(auditLogs.id) })
    },
  }
}

export type AuditRepository = ReturnType<typeof createAuditRepository>
