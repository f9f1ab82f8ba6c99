import { Type } from 'typebox'

export const ErrorDetail = Type.Object(
  {
    detail: Type.Union([Type.String(), Type.Array(Type.Unknown())]),
    code: Type.Optional(Type.String({ description: 'Stable machine-readable code, e.g. `reauthentication_required`' })),
  },
  { description: 'Error: `detail` says what was wrong' },
)

export const Message = Type.Object({ detail: Type.String() })
