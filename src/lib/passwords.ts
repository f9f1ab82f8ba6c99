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

/**
 * zxcvbn's list of the ~49,000 passwords most often found in breaches (lower-case), built once on the
 * first check (~50 ms). It leaves out what zxcvbn's own pattern matchers find (`123123123`,
 * `987654321`), so the two pattern checks below cover those. `securepass123`, the example in the README
 * and the API docs, is not in it, so the documented first steps keep working.
 */
let commonPasswords: Promise<ReadonlySet<string>> | undefined
// Loaded on the first check, not at start: the list and its decompression are about 16 MB.
const loadCommonPasswords = () => {
  // The package is CommonJS: its exports object is the import's default, from sources and from the bundle
  // alike (a bundled CommonJS module has no named exports).
  commonPasswords ??= import('@zxcvbn-ts/language-common').then(({ default: common }) => new Set(common.dictionary['passwords-common']))
  return commonPasswords
}

/** The whole password is one block shorter than the minimum length repeated (`123123123`, `abcabcabc`). */
function isRepeatedBlock(password: string): boolean {
  const match = /^(.+?)\1+$/su.exec(password)
  return match !== null && [...match[1]!].length < PASSWORD_MIN_LENGTH
}

/** Every character is the previous one plus the same small step (`12345678`, `987654321`, `acegikmo`). */
function isSequence(password: string): boolean {
  const codes = [...password].map((char) => char.codePointAt(0)!)
  const step = codes[1]! - codes[0]!
  if (step === 0 || Math.abs(step) > 5) return false
  return codes.every((code, index) => index === 0 || code - codes[index - 1]! === step)
}

/**
 * Names shorter than this are not looked for inside the password: a one- or two-letter name (`al`,
 * `jo`) turns up by chance in many strong passwords, and refusing those would add almost nothing an
 * attacker could not guess anyway.
 */
const MIN_NAME_LENGTH_CHECKED = 3

/** Says why a password is refused, or undefined when it is acceptable. */
export async function passwordProblem(password: string, context: { username?: string; email?: string } = {}): Promise<string | undefined> {
  if (password.length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters`
  if (password.length > PASSWORD_MAX_LENGTH) return `Password must be at most ${PASSWORD_MAX_LENGTH} characters`
  if (/^(.)\1+$/su.test(password)) return 'Password must not be a single repeated character'
  const lowered = password.toLowerCase()
  if ((await loadCommonPasswords()).has(lowered) || isRepeatedBlock(lowered) || isSequence(lowered)) return 'Password is too common; choose another'
  for (const value of [context.username, context.email?.split('@')[0]]) {
    if (value && value.length >= MIN_NAME_LENGTH_CHECKED && lowered.includes(value.toLowerCase())) {
      return 'Password must not contain the username or the email address'
    }
  }
  return undefined
}
