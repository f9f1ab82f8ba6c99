import { Type } from 'typebox'
import { OneLineName } from '../../lib/schemas.js'

/**
 * The WebAuthn JSON shapes (W3C WebAuthn Level 3 `toJSON()` forms) as far as the API needs to name
 * them. They stay open (`additionalProperties`): browsers add fields (extensions, hints) that must
 * reach @simplewebauthn/server untouched, which does the real checking.
 */
const open = { additionalProperties: true } as const
const Base64Url = Type.String({ minLength: 1, maxLength: 65_536, pattern: '^[A-Za-z0-9_-]*={0,2}$' })
const Transports = Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })
const CredentialDescriptor = Type.Object({ id: Type.String(), type: Type.String(), transports: Type.Optional(Transports) }, open)

export const RegistrationResponse = Type.Object(
  {
    id: Base64Url,
    rawId: Base64Url,
    type: Type.Literal('public-key'),
    response: Type.Object({ clientDataJSON: Base64Url, attestationObject: Base64Url, transports: Type.Optional(Transports) }, open),
    clientExtensionResults: Type.Object({}, open),
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { ...open, description: 'RegistrationResponseJSON: what `startRegistration()` of @simplewebauthn/browser (or `credential.toJSON()`) returns' },
)

export const AuthenticationResponse = Type.Object(
  {
    id: Base64Url,
    rawId: Base64Url,
    type: Type.Literal('public-key'),
    response: Type.Object(
      { clientDataJSON: Base64Url, authenticatorData: Base64Url, signature: Base64Url, userHandle: Type.Optional(Type.String({ maxLength: 1024 })) },
      open,
    ),
    clientExtensionResults: Type.Object({}, open),
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { ...open, description: 'AuthenticationResponseJSON: what `startAuthentication()` of @simplewebauthn/browser (or `credential.toJSON()`) returns' },
)

export const CreationOptions = Type.Object(
  {
    rp: Type.Object({ id: Type.Optional(Type.String()), name: Type.String() }, open),
    user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }, open),
    challenge: Type.String(),
    pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Integer(), type: Type.String() }, open)),
    timeout: Type.Optional(Type.Integer()),
    excludeCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
    authenticatorSelection: Type.Optional(Type.Object({}, open)),
    attestation: Type.Optional(Type.String()),
    extensions: Type.Optional(Type.Object({}, open)),
    hints: Type.Optional(Type.Array(Type.String())),
  },
  { ...open, description: 'PublicKeyCredentialCreationOptionsJSON: pass it to `startRegistration({ optionsJSON })`' },
)

const requestOptionFields = {
  challenge: Type.String(),
  timeout: Type.Optional(Type.Integer()),
  rpId: Type.Optional(Type.String()),
  allowCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
  userVerification: Type.Optional(Type.String()),
  extensions: Type.Optional(Type.Object({}, open)),
  hints: Type.Optional(Type.Array(Type.String())),
}

export const RequestOptions = Type.Object(requestOptionFields, {
  ...open,
  description: 'PublicKeyCredentialRequestOptionsJSON: pass it to `startAuthentication({ optionsJSON })`',
})

export const LoginOptions = Type.Object(
  { ...requestOptionFields, challenge_id: Type.String({ description: 'Send it back with the answer (it is the challenge itself)' }) },
  { ...open, description: 'PublicKeyCredentialRequestOptionsJSON plus `challenge_id`' },
)

/** Mailed back to the owner in the passkey-added notice: one line, so it cannot add lines of its own. */
export const PasskeyName = OneLineName({ maxLength: 100 })

export const PasskeyPublicSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  backed_up: Type.Boolean({ description: 'A synced passkey (iCloud Keychain, Google Password Manager, ...)' }),
  transports: Type.Array(Type.String()),
})
