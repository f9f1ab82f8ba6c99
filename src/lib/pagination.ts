import { Type, type TSchema } from 'typebox'

export const PaginationQuery = {
  skip: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'How many items to skip' }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'How many items to return (1-100)' }),
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
