/**
 * Every path the console answers. History-API routing means a reload or a mailed link
 * (/verify-email, /reset-password) asks the server for one of these paths: the build writes this
 * list to routes.json and the server serves the page at exactly these paths
 * (src/plugins/web-console.ts); any other path stays a JSON 404. Links outside it are a type error.
 */
export const ROUTES = [
  '/',
  '/login',
  '/register',
  '/two-factor',
  '/forgot-password',
  '/reset-password',
  '/verify-email',
  '/oauth/callback',
  '/email-login',
  '/profile',
  '/security',
  '/admin/users',
  '/admin/audit',
  '/live',
  '/status',
] as const
