import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import bcrypt from 'bcrypt'

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 128

/**
 * bcrypt reads only the first 72 bytes of its input. Pre-hashing with SHA-256 (base64, 44 bytes, no NUL)
 * makes every character of a long password count instead of being silently cut off.
 */
function prehash(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('base64')
}

/**
 * bcrypt's native binding hashes on libuv's thread pool, off the event loop. Hashing on every core at
 * once would still starve the event loop of CPU, so at most (cores - 1) hashes run together and the
 * rest wait their turn: a login flood slows logins, not every other request.
 */
const MAX_CONCURRENT_HASHES = Math.max(1, availableParallelism() - 1)
let running = 0
const waiting: (() => void)[] = []

async function withHashSlot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_HASHES) await new Promise<void>((resolve) => waiting.push(resolve))
  running += 1
  try {
    return await work()
  } finally {
    running -= 1
    waiting.shift()?.()
  }
}

export function hashPassword(password: string, rounds: number): Promise<string> {
  return withHashSlot(() => bcrypt.hash(prehash(password), rounds))
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return withHashSlot(() => bcrypt.compare(prehash(password), hash))
}

/** The most common passwords of at least eight characters: the first guesses of any attacker. */
const COMMON_PASSWORDS = new Set([
  'password', 'password1', 'password123', '12345678', '123456789', '1234567890', 'qwertyuiop', 'qwerty123',
  'iloveyou', 'sunshine', 'princess', 'football', 'baseball', 'welcome1', 'abc12345', 'admin123', 'letmein1',
  'changeme', 'passw0rd', '11111111', '00000000', '87654321', 'superman', 'trustno1',
])

/** Says why a password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string, context: { username?: string; email?: string } = {}): string | undefined {
  if (password.length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters`
  if (password.length > PASSWORD_MAX_LENGTH) return `Password must be at most ${PASSWORD_MAX_LENGTH} characters`
  if (/^(.)\1+$/.test(password)) return 'Password must not be a single repeated character'
  if (COMMON_PASSWORDS.has(password.toLowerCase())) return 'Password is too common; choose another'
  const lowered = password.toLowerCase()
  for (const value of [context.username, context.email?.split('@')[0]]) {
    if (value && value.length >= 3 && lowered === value.toLowerCase()) return 'Password must not be the same as the username or email'
  }
  return undefined
}
