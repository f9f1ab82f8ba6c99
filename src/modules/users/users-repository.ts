import { and, count, eq, getTableColumns, ilike, or, sql, type SQL } from 'drizzle-orm'
import { createCrudRepository } from '../../db/crud.js'
import type { Db } from '../../db/database.js'
import { users, type NewUserRow, type Role, type UserRow } from '../../db/schema.js'

export interface UserFilters {
  search?: string | undefined
  role?: Role | undefined
  isActive?: boolean | undefined
}

/** Escapes LIKE wildcards so a search for "a_b" finds "a_b", not "axb". */
function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, '\\$&')}%`
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}

const { passwordHash: _hash, totpSecret: _totp, totpPendingSecret: _pending, totpLastStep: _step, tokenVersion: _version, ...LISTED_COLUMNS } =
  getTableColumns(users)

export function createUsersRepository(db: Db) {
  const crud = createCrudRepository(db, users)

  const pageQueries = new Map<string, ReturnType<typeof crud.preparePage<typeof LISTED_COLUMNS>>>()

  /** The filters a list was given, as SQL whose values are placeholders filled when the prepared query runs. */
  const filtersToSql = (filters: UserFilters): SQL | undefined => {
    const conditions: (SQL | undefined)[] = []
    if (filters.role) conditions.push(eq(users.role, sql.placeholder('role')))
    if (filters.isActive !== undefined) conditions.push(eq(users.isActive, sql.placeholder('isActive')))
    if (filters.search) {
      const pattern = sql.placeholder('pattern')
      conditions.push(
        or(ilike(users.username, pattern), ilike(users.email, pattern), ilike(users.firstName, pattern), ilike(users.lastName, pattern)),
      )
    }
    return conditions.length > 0 ? and(...conditions) : undefined
  }

  return {
    ...crud,
    table: users,

    async findByUsernameOrEmail(identifier: string, tx: Db = db): Promise<UserRow | undefined> {
      const value = identifier.trim().toLowerCase()
      const rows = await tx
        .select()
        .from(users)
        .where(or(sql`lower(${users.username}) = ${value}`, eq(users.email, value)))
        .limit(1)
      return rows[0]
    },

    async findByEmail(email: string, tx: Db = db): Promise<UserRow | undefined> {
      const rows = await tx.select().from(users).where(eq(users.email, normalizeEmail(email))).limit(1)
      return rows[0]
    },

    /** Which of username and email are already taken (case-insensitively), ignoring `exceptId`. */
    async findTaken(username: string | undefined, email: string | undefined, exceptId?: number, tx: Db = db) {
      const matches: SQL[] = []
      if (username) matches.push(sql`lower(${users.username}) = ${username.toLowerCase()}`)
      if (email) matches.push(eq(users.email, normalizeEmail(email)))
      if (matches.length === 0) return { username: false, email: false }
      const rows = await tx
        .select({ username: users.username, email: users.email, id: users.id })
        .from(users)
        .where(or(...matches))
      const others = rows.filter((row) => row.id !== exceptId)
      return {
        username: username !== undefined && others.some((row) => row.username.toLowerCase() === username.toLowerCase()),
        email: email !== undefined && others.some((row) => row.email === normalizeEmail(email)),
      }
    },

    async insert(values: NewUserRow, tx: Db = db): Promise<UserRow> {
      return crud.create({ ...values, email: normalizeEmail(values.email) }, tx)
    },

    async patch(id: number, values: Partial<NewUserRow>, tx: Db = db): Promise<UserRow | undefined> {
      const changes = { ...values, updatedAt: new Date() }
      if (changes.email !== undefined) changes.email = normalizeEmail(changes.email)
      if (typeof changes.pendingEmail === 'string') changes.pendingEmail = normalizeEmail(changes.pendingEmail)
      return crud.update(id, changes, tx)
    },

    /**
     * Locks the user's row for the rest of the transaction, as every change of the account does
     * (`for no key update`: other writers wait, foreign-key inserts do not). A transaction that will
     * also claim one of the user's one-time tokens takes this first, in the order the take-backs do
     * (the user's row, then the tokens), so the two cannot deadlock.
     */
    async lockRow(id: number, tx: Db): Promise<void> {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, id)).for('no key update')
    },

    /**
     * Turns on the authenticator whose setup was `pending`, only if that setup is still the pending one:
     * a take-back (the first proof of an address drops a squatter's setup) or a newer setup committed
     * since it was read leaves it off. Answers whether it was turned on.
     */
    async confirmPendingTotp(id: number, pending: string, tx: Db = db): Promise<boolean> {
      const rows = await tx
        .update(users)
        .set({ totpSecret: pending, totpPendingSecret: null, twoFaEnabled: true, twoFaMethod: 'totp', updatedAt: new Date() })
        .where(and(eq(users.id, id), eq(users.totpPendingSecret, pending)))
        .returning({ id: users.id })
      return rows.length === 1
    },

    /** Bumps the token version: every access token issued before this moment stops working. */
    async revokeAccessTokens(id: number, tx: Db = db): Promise<void> {
      await tx
        .update(users)
        .set({ tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: new Date() })
        .where(eq(users.id, id))
    },

    /**
     * A page of users without their secrets: a list shows public fields, so it never reads a hash.
     * The admin list is the busiest filtered query: one prepared query per combination of filters.
     */
    async search(filters: UserFilters, page: { skip: number; limit: number }) {
      const shape = `${filters.role ? 'r' : ''}${filters.isActive !== undefined ? 'a' : ''}${filters.search ? 's' : ''}`
      let run = pageQueries.get(shape)
      if (!run) {
        run = crud.preparePage(`users_${shape}`, LISTED_COLUMNS, filtersToSql(filters))
        pageQueries.set(shape, run)
      }
      return run({ ...page, role: filters.role, isActive: filters.isActive, pattern: filters.search && likePattern(filters.search) })
    },

    /**
     * Active superadmins, locked for the rest of the transaction so two concurrent demotions
     * cannot both see "there is another one left".
     */
    async countActiveSuperadminsForUpdate(tx: Db): Promise<number> {
      const rows = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.role, 'superadmin'), eq(users.isActive, true)))
        .for('no key update')
      return rows.length
    },

    async countAll(tx: Db = db): Promise<number> {
      const rows = await tx.select({ total: count() }).from(users)
      return rows[0]?.total ?? 0
    },
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
