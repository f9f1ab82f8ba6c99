import { asc, count, eq, getTableColumns, sql, type SQL } from 'drizzle-orm'
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
/** The window count's column: a name no table of ours uses. */
const TOTAL = '__total'

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

    /**
     * One page and the total in one statement (a window count), so a page costs one round trip and one
     * connection. A page past the end has no row to carry the total: then it is counted on its own.
     */
    async list(options: ListOptions, tx: Db = db): Promise<{ items: Row[]; total: number }> {
      const rows = await tx
        .select({ ...getTableColumns(anyTable), [TOTAL]: sql<number>`count(*) over ()`.mapWith(Number) })
        .from(anyTable)
        .where(options.where)
        .orderBy(options.orderBy ?? asc(anyTable.id))
        .offset(options.skip)
        .limit(options.limit)
      if (rows.length === 0) {
        const totals = await tx.select({ total: count() }).from(anyTable).where(options.where)
        return { items: [], total: totals[0]?.total ?? 0 }
      }
      const total = Number((rows[0] as Record<string, unknown>)[TOTAL])
      const items = rows.map((row) => {
        const { [TOTAL]: _total, ...item } = row as Record<string, unknown>
        return item as Row
      })
      return { items, total }
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
