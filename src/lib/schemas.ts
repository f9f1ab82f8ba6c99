import { Type } from 'typebox'

export const ErrorDetail = Type.Object(
  { detail: Type.Union([Type.String(), Type.Array(Type.Unknown())]) },
  { description: 'Error: `detail` says what was wrong' },
)

/** The error answers any authenticated route may give; listed so OpenAPI documents them. */
export const ErrorResponses = {
  401: ErrorDetail,
  403: ErrorDetail,
  422: ErrorDetail,
} as const

export const Message = Type.Object({ detail: Type.String() })

/** OpenAPI security requirements: which credentials a route accepts. */
export const SESSION_OR_API_KEY: { [scheme: string]: string[] }[] = [{ bearerAuth: [] }, { apiKeyAuth: [] }]
export const SESSION_ONLY: { [scheme: string]: string[] }[] = [{ bearerAuth: [] }]
