import { Type, type TSchema } from 'typebox'

/**
 * Optional for callers (the defaults fill them in during validation), so OpenAPI and generated
 * clients do not demand them; handlers still read numbers, as the defaults are always applied.
 */
export const PaginationQuery = {
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'How many items to skip' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'How many items to return (1-100)' })),
}

/** The page a validated query asks for (the schema's defaults were applied, so both are set). */
export function pageOf(query: { skip?: number | undefined; limit?: number | undefined }): { skip: number; limit: number } {
  return { skip: query.skip ?? 0, limit: query.limit ?? 20 }
}

export interface Page<T> {
  items: T[]
  total: number
  skip: number
  limit: number
}

/** The paged list shape every list endpoint answers with. */
export const PageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), total: Type.Integer(), skip: Type.Integer(), limit: Type.Integer() })
