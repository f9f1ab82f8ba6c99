import { asc, count, DrizzleQueryError, eq, fillPlaceholders, getTableColumns, sql, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable, TableConfig } from 'drizzle-orm/pg-core'
import type { Sql } from 'postgres'
import { coalesceReads } from './coalesce.js'
import type { Db } from './database.js'

/** The row a selection of columns reads: nullable columns may be null. */
type ColumnValues<TColumns extends Record<string, PgColumn>> = {
  [K in keyof TColumns]: TColumns[K]['_']['notNull'] extends true ? TColumns[K]['_']['data'] : TColumns[K]['_']['data'] | null
}

/** The page's rows carry the total under a name no column can have. */
const TOTAL = '__total'

/**
 * Maps a page's rows, read as arrays, to the selection's keys, and takes the total they carry.
 * Drizzle's own mapper checks every field's kind on every row (`is()` walks class chains): on the
 * admin list that was about 15% of the main thread's CPU, profiled. Columns are found by the names the
 * result reports, so the order Drizzle writes them in does not matter; each value is decoded by its
 * column, as Drizzle does (dates, numbers, custom types).
 */
function readPage<TItem>(columns: Record<string, PgColumn>) {
  const fields = Object.entries(columns).map(([key, column]) => ({ key, name: column.name, column }))
  const names = new Set(fields.map((field) => field.name))
  if (names.size !== fields.length || names.has(TOTAL)) throw new Error('a page selection needs distinct column names')
  // One statement, so one layout: found on the first answer, then reused.
  let layout: { at: (typeof fields[number] & { index: number })[]; total: number } | undefined
  const layoutOf = (reported: readonly { name: string }[]) => {
    const position = (name: string) => reported.findIndex((column) => column.name === name)
    const at = fields.map((field) => ({ ...field, index: position(field.name) }))
    const missing = at.find((field) => field.index === -1)
    if (missing) throw new Error(`the page query did not return column ${missing.name}`)
    return { at, total: position(TOTAL) }
  }
  return (rows: readonly unknown[][], reported: readonly { name: string }[]): { items: readonly Readonly<TItem>[]; total: number } => {
    if (rows.length === 0) return { items: [], total: 0 }
    layout ??= layoutOf(reported)
    const { at } = layout
    const items = rows.map((row) => {
      const item: Record<string, unknown> = {}
      for (const { key, index, column } of at) {
        const value = row[index]
        item[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value)
      }
      return item as TItem
    })
    return { items, total: Number(rows[0]?.[layout.total]) }
  }
}

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

  const pageSelection = (columns: Record<string, PgColumn>, where: SQL | undefined) => ({
    ...columns,
    // Aliased, so the result names it: preparePage's mapper finds every column by the name it reports.
    [TOTAL]: sql<number>`(select count(*) from ${anyTable} where ${where ?? sql`true`})`.mapWith(Number).as(TOTAL),
  })

  /**
   * The page's rows carry the total. A page past the end has no row to carry it, so only then a
   * second statement counts.
   */
  async function splitTotal<TItem>(rows: unknown[], skip: number, countAll: () => Promise<{ total: number }[]>) {
    if (rows.length === 0) {
      if (skip === 0) return { items: [] as TItem[], total: 0 }
      return { items: [] as TItem[], total: (await countAll())[0]?.total ?? 0 }
    }
    const total = (rows[0] as Record<string, unknown>)[TOTAL] as number
    const items = rows.map((row) => {
      const { [TOTAL]: _total, ...item } = row as Record<string, unknown>
      return item as TItem
    })
    return { items, total }
  }

  async function listColumns<TColumns extends Record<string, PgColumn>>(options: ListOptions, columns: TColumns | typeof anyTable, tx: Db) {
    const fields = (columns === anyTable ? getTableColumns(anyTable) : columns) as Record<string, PgColumn>
    const rows = await tx
      .select(pageSelection(fields, options.where))
      .from(anyTable)
      .where(options.where)
      .orderBy(options.orderBy ?? asc(anyTable.id))
      .offset(options.skip)
      .limit(options.limit)
    return splitTotal<ColumnValues<TColumns>>(rows, options.skip, () => tx.select({ total: count() }).from(anyTable).where(options.where))
  }

  return {
    async findById(id: number, tx: Db = db): Promise<Row | undefined> {
      const rows = await tx.select().from(anyTable).where(eq(anyTable.id, id)).limit(1)
      return rows[0] as Row | undefined
    },

    /**
     * A page and the total it is part of, in one round trip: the total is an uncounted scalar subquery
     * PostgreSQL evaluates once. A page past the end has no row to carry the total, so only then a
     * second statement counts.
     */
    async list(options: ListOptions, tx: Db = db): Promise<{ items: Row[]; total: number }> {
      return listColumns(options, anyTable as never, tx) as Promise<{ items: Row[]; total: number }>
    },

    /** As `list`, reading only `columns`: a list that shows public fields need not fetch secrets. */
    async listColumns<TColumns extends Record<string, PgColumn>>(columns: TColumns, options: ListOptions, tx: Db = db) {
      return listColumns(options, columns, tx)
    },

    /**
     * A page query built once and prepared, for a list on the hot path: `where` may hold
     * `sql.placeholder(name)`s, filled at each call together with `skip` and `limit`. Building a
     * Drizzle query costs more CPU than PostgreSQL spends running a small one. Identical calls that
     * overlap share one run (`coalesceReads`: each still gets an answer read after it asked), so the
     * page they share is read-only.
     */
    preparePage<TColumns extends Record<string, PgColumn>>(name: string, columns: TColumns, where: SQL | undefined, orderBy?: SQL | PgColumn) {
      // Drizzle writes the statement once; the driver runs it (prepared per connection, see
      // prepared-statements.ts) and readPage maps its rows.
      const page = db
        .select(pageSelection(columns, where))
        .from(anyTable)
        .where(where)
        .orderBy(orderBy ?? asc(anyTable.id))
        .offset(sql.placeholder('skip'))
        .limit(sql.placeholder('limit'))
        .toSQL()
      const read = readPage<ColumnValues<TColumns>>(columns)
      const total = db.select({ total: count() }).from(anyTable).where(where).prepare(`${name}_total`)
      const client = (db as unknown as { $client: Sql }).$client
      type Values = Record<string, unknown> & { skip: number; limit: number }
      return coalesceReads(
        (values: Values) => JSON.stringify(values),
        async (values: Values) => {
          const params = fillPlaceholders(page.params, values)
          const rows = await client
            .unsafe(page.sql, params as never[])
            .values()
            .catch((cause: Error) => {
              // Wrapped as Drizzle wraps its own, so the log's redaction (redactErrorText) finds the values.
              throw new DrizzleQueryError(page.sql, params, cause)
            })
          if (rows.length > 0 || values.skip === 0) return read(rows, rows.columns)
          return { items: [], total: (await total.execute(values))[0]?.total ?? 0 }
        },
      )
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
