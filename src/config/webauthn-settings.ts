import { isIP } from 'node:net'
import { ConfigError } from './config-error.js'

/** The relying party passkeys are bound to, or why passkeys are off. */
export interface WebAuthnSettings {
  readonly enabled: boolean
  /** The RP ID: a host name that each origin's host equals or ends with (`example.com` for `https://app.example.com`). */
  readonly rpId: string
  readonly rpName: string
  /** Origins (scheme://host[:port]) a browser may use a passkey from. */
  readonly origins: readonly string[]
  /** Why passkeys are off (logged at boot, given in the 404 of their routes). */
  readonly disabledReason?: string
}

function originOf(name: string, raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${name}: "${raw}" is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${name}: "${raw}" must be an http(s) origin`)
  return url
}

/**
 * Reads WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and WEBAUTHN_ORIGINS (each defaulting from PUBLIC_URL and
 * PROJECT_NAME). A value that was set and is wrong stops the boot naming it; when nothing was set and
 * PUBLIC_URL's host is an IP address, which browsers refuse as an RP ID, passkeys are simply off.
 */
export function parseWebAuthn(input: { rpId?: string; rpName?: string; origins?: readonly string[]; publicUrl: string; projectName: string }): WebAuthnSettings {
  const publicUrl = new URL(input.publicUrl)
  const rpName = input.rpName?.trim() || input.projectName
  const explicitOrigins = input.origins !== undefined && input.origins.length > 0
  const origins = explicitOrigins ? input.origins!.map((raw) => originOf('WEBAUTHN_ORIGINS', raw.trim()).origin) : [publicUrl.origin]
  const rpIdSet = input.rpId !== undefined && input.rpId.trim() !== ''
  const rpId = rpIdSet ? input.rpId!.trim().toLowerCase() : publicUrl.hostname.toLowerCase()

  if (!rpIdSet && !explicitOrigins && isIP(rpId.replace(/^\[|\]$/g, '')) !== 0) {
    return {
      enabled: false,
      rpId,
      rpName,
      origins,
      disabledReason: `PUBLIC_URL's host (${rpId}) is an IP address, which cannot be a WebAuthn RP ID; set PUBLIC_URL to a host name, or WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS`,
    }
  }
  const where = rpIdSet ? 'WEBAUTHN_RP_ID' : explicitOrigins ? 'WEBAUTHN_ORIGINS' : 'PUBLIC_URL'
  if (isIP(rpId.replace(/^\[|\]$/g, '')) !== 0) throw new ConfigError(`${where}: "${rpId}" is an IP address; a WebAuthn RP ID must be a host name`)
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(rpId)) throw new ConfigError(`${where}: "${rpId}" is not a valid host name for WEBAUTHN_RP_ID`)
  for (const origin of origins) {
    const host = new URL(origin).hostname.toLowerCase()
    // The browser accepts an RP ID equal to the page's host or a suffix of it at a label boundary.
    if (host !== rpId && !host.endsWith(`.${rpId}`)) {
      throw new ConfigError(`${where}: the RP ID "${rpId}" is not the host of ${origin} nor a parent domain of it (WEBAUTHN_RP_ID must be a registrable suffix of every WEBAUTHN_ORIGINS host)`)
    }
  }
  return { enabled: true, rpId, rpName, origins }
}
