import {
  browserSupportsWebAuthn,
  browserSupportsWebAuthnAutofill,
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/browser'
import type { Problem } from './api/errors.js'

/**
 * The browser half of passkeys: @simplewebauthn/browser turns the server's options into a WebAuthn
 * call and the credential into the JSON the server checks. The pages only deal with "options in,
 * answer out", and with the browser's refusals as a Problem a form can show.
 */

export const passkeysSupported = (): boolean => browserSupportsWebAuthn()
export const autofillSupported = (): Promise<boolean> => browserSupportsWebAuthnAutofill().catch(() => false)

/** What the browser says when the user closes its prompt, in words a form can show. */
export function ceremonyProblem(error: unknown): Problem | null {
  const name = error instanceof Error ? error.name : ''
  // A newer ceremony replaced this one (the button after autofill): nothing went wrong.
  if (name === 'AbortError') return null
  if (name === 'NotAllowedError') return { message: 'The passkey prompt was closed or timed out. Try again when you are ready.', fields: {} }
  if (name === 'InvalidStateError') return { message: 'This device already holds a passkey for your account.', fields: {} }
  const message = error instanceof Error && error.message ? error.message : 'The browser could not use a passkey.'
  return { message, fields: {} }
}

export type Ceremony<T> = { ok: true; data: T } | { ok: false; problem: Problem | null }

export async function createPasskey(options: unknown): Promise<Ceremony<unknown>> {
  try {
    return { ok: true, data: await startRegistration({ optionsJSON: options as PublicKeyCredentialCreationOptionsJSON }) }
  } catch (error) {
    return { ok: false, problem: ceremonyProblem(error) }
  }
}

export async function usePasskey(options: unknown, autofill = false): Promise<Ceremony<unknown>> {
  try {
    return { ok: true, data: await startAuthentication({ optionsJSON: options as PublicKeyCredentialRequestOptionsJSON, useBrowserAutofill: autofill }) }
  } catch (error) {
    return { ok: false, problem: ceremonyProblem(error) }
  }
}
