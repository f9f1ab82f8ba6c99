import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** A fixed-length decimal code from the CSPRNG (leading zeros kept). */
export function randomDigits(length: number): string {
  let code = ''
  for (let index = 0; index < length; index += 1) code += String(randomInt(0, 10))
  return code
}

/** For high-entropy secrets (tokens, API keys) a plain SHA-256 is enough: they cannot be guessed. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

/** For low-entropy secrets (6-digit codes) a keyed hash, so a leaked table cannot be brute-forced offline. */
export function keyedHash(key: string, value: string): string {
  return createHmac('sha256', key).update(value).digest('hex')
}

/** Constant-time comparison of two hex digests, so response time says nothing about how much matched. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
