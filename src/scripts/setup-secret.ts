/**
 * `npm run setup:secret`: prints a strong SECRET_KEY and, once confirmed (or with --yes), writes it
 * into .env, replacing an existing SECRET_KEY line and leaving every other line as it was.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline/promises'

export function generateSecret(): string {
  return randomBytes(48).toString('base64url')
}

export function withSecret(envText: string, secret: string): string {
  const line = `SECRET_KEY=${secret}`
  const lines = envText.length > 0 ? envText.split('\n') : []
  const index = lines.findIndex((candidate) => /^\s*(export\s+)?SECRET_KEY\s*=/.test(candidate))
  if (index >= 0) lines[index] = line
  else {
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
    lines.push(line, '')
  }
  return lines.join('\n')
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false
  const prompt = createInterface({ input: process.stdin, output: process.stdout })
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim())
  } finally {
    prompt.close()
  }
}

async function main(): Promise<void> {
  const secret = generateSecret()
  const envPath = resolve(process.cwd(), '.env')
  console.log(`SECRET_KEY=${secret}`)
  const yes = process.argv.includes('--yes') || process.argv.includes('-y')
  if (!yes && !(await confirm(`Write it to ${envPath}? [y/N] `))) {
    console.log('Not written. Put the line above in your environment or .env.')
    return
  }
  const current = existsSync(envPath) ? readFileSync(envPath, 'utf8') : ''
  writeFileSync(envPath, withSecret(current, secret), { mode: 0o600 })
  console.log(`SECRET_KEY written to ${envPath}`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
