import { ConfigError } from './config-error.js'

export type EnvSource = Readonly<Record<string, string | undefined>>

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on'])
const FALSE_WORDS = new Set(['false', '0', 'no', 'off'])
const EMAIL_PATTERN = /^[^\s@<>,;"\r\n]+@[^\s@<>,;"\r\n]+\.[^\s@<>,;"\r\n]+$/

/** Typed readers over a raw environment; every failure names the variable. */
export function parseEnv(source: EnvSource) {
  const raw = (name: string): string | undefined => {
    const value = source[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }
  const fail = (name: string, message: string): never => {
    throw new ConfigError(`${name} ${message}`)
  }

  return {
    string: (name: string, fallback: string): string => raw(name) ?? fallback,
    optionalString: (name: string): string | undefined => raw(name),
    bool(name: string, fallback: boolean): boolean {
      const value = raw(name)
      if (value === undefined) return fallback
      const lowered = value.toLowerCase()
      if (TRUE_WORDS.has(lowered)) return true
      if (FALSE_WORDS.has(lowered)) return false
      return fail(name, `must be true or false (got "${value}")`)
    },
    int(name: string, fallback: number, range: { min: number; max: number }): number {
      const value = raw(name)
      if (value === undefined) return fallback
      if (!/^-?\d+$/.test(value)) return fail(name, `must be a whole number (got "${value}")`)
      const parsed = Number(value)
      if (parsed < range.min || parsed > range.max) return fail(name, `must be between ${range.min} and ${range.max} (got ${parsed})`)
      return parsed
    },
    /** A duration or other amount that may have a fraction (`SESSION_MAX_LIFETIME_HOURS=0.5`). */
    number(name: string, fallback: number, range: { min: number; max: number }): number {
      const value = raw(name)
      if (value === undefined) return fallback
      if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(value)) return fail(name, `must be a number (got "${value}")`)
      const parsed = Number(value)
      if (parsed < range.min || parsed > range.max) return fail(name, `must be between ${range.min} and ${range.max} (got ${parsed})`)
      return parsed
    },
    oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
      const value = raw(name)
      if (value === undefined) return fallback
      const found = allowed.find((candidate) => candidate.toLowerCase() === value.toLowerCase())
      return found ?? fail(name, `must be one of ${allowed.join(', ')} (got "${value}")`)
    },
    email(name: string, fallback: string): string {
      const value = raw(name) ?? fallback
      return EMAIL_PATTERN.test(value) ? value : fail(name, `must be an email address (got "${value}")`)
    },
    optionalUrl(name: string, protocols: readonly string[]): string | undefined {
      const value = raw(name)
      if (value === undefined) return undefined
      let url: URL
      try {
        url = new URL(value)
      } catch {
        return fail(name, 'is not a valid URL')
      }
      if (!protocols.includes(url.protocol)) return fail(name, `must use ${protocols.join(' or ')} (got "${url.protocol}")`)
      return value.replace(/\/+$/, '')
    },
    /** A JSON array (`["a","b"]`, as in the spec's .env) or a comma-separated list. */
    list(name: string, fallback: readonly string[]): string[] {
      const value = raw(name)
      if (value === undefined) return [...fallback]
      if (value.startsWith('[')) {
        let parsed: unknown
        try {
          parsed = JSON.parse(value)
        } catch {
          return fail(name, 'looks like a JSON list but does not parse')
        }
        if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
          return fail(name, 'must be a JSON list of strings')
        }
        return parsed.map((item: string) => item.trim()).filter(Boolean)
      }
      return value.split(',').map((item) => item.trim()).filter(Boolean)
    },
  }
}
