import { asc, count, eq, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable, TableConfig } from 'drizzle-orm/pg-core'
import type { Db } from './database.js'

type TableWithId = PgTable<TableConfig> & { id: PgColumn }

export interface ListOptions {
  skip: number
  limit: number
  where?: SQL | undefined
  orderBy?: SQL | PgColumn | undefined
}

/**
 * The generic create/read/update/delete every table repository starts from. Each method takes an
 * optional transaction, so a service can group several writes into one all-or-nothing unit.
 */
export function createCrudRepository<TTable extends TableWithId>(db: Db, table: TTable) {
  type Row = TTable['$inferSelect']
  type Insert = TTable['$inferInsert']
  // Drizzle's builders are typed per concrete table; the generic table needs these narrow casts.
  const anyTable = table as unknown as PgTable<TableConfig> & { id: PgColumn }

  return {
    async findById(id: number, tx: Db = db): Promise<Row | undefined> {
      const rows = await tx.select().from(anyTable).where(eq(anyTable.id, id)).limit(1)
      return rows[0] as Row | undefined
    },

    async list(options: ListOptions, tx: Db = db): Promise<{ items: Row[]; total: number }> {
      const [items, totals] = await Promise.all([
        tx
          .select()
          .from(anyTable)
          .where(options.where)
          .orderBy(options.orderBy ?? asc(anyTable.id))
          .offset(options.skip)
          .limit(options.limit),
        tx.select({ total: count() }).from(anyTable).where(options.where),
      ])
      return { items: items as Row[], total: totals[0]?.total ?? 0 }
    },

    async create(values: Insert, tx: Db = db): Promise<Row> {
      const rows = (await tx.insert(anyTable).values(values as never).returning()) as Row[]
      return rows[0] as Row
    },

    async update(id: number, values: Partial<Insert>, tx: Db = db): Promise<Row | undefined> {
      const rows = (await tx.update(anyTable).set(values as never).where(eq(anyTable.id, id)).returning()) as Row[]
      return rows[0]
    },

    async delete(id: number, tx: Db = db): Promise<boolean> {
      const rows = (await tx.delete(anyTable).where(eq(anyTable.id, id)).returning({ id: anyTable.id })) as unknown[]
      return rows.length > 0
    },
  }
}

export type CrudRepository<TTable extends TableWithId> = ReturnType<typeof createCrudRepository<TTable>>
