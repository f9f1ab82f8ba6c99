import createClient from 'openapi-fetch'
import type { paths } from './schema.js'

export const api = createClient<paths>({ baseUrl: '' })
