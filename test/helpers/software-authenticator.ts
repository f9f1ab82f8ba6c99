import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'

/**
 * A passkey authenticator in software, for API tests without a browser: ES256 keys from node:crypto,
 * responses shaped as a browser's `credential.toJSON()`. It answers whatever it is asked, including
 * things a real authenticator would refuse (another origin, an old counter), so tests can prove the
 * server refuses them.
 */

const b64url = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url')
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest()

export interface SoftCredential {
  id: Buffer
  privateKey: KeyObject
  cose: Uint8Array
  rpId: string
  userHandle: string | undefined
  counter: number
}

export interface AnswerOptions {
  origin?: string
  /** The RP ID whose hash goes into authenticatorData (defaults to the credential's). */
  rpId?: string
  /** User verified (PIN, biometrics); default true. */
  userVerified?: boolean
  /** Override the signature counter sent (to replay an old one). */
  counter?: number
  /** Answer another challenge than the one asked. */
  challenge?: string
  /** Leave the user handle out, as a non-discoverable sign-in may. */
  omitUserHandle?: boolean
}

interface CreationOptions {
  challenge: string
  rp: { id?: string; name: string }
  user: { id: string; name: string }
}

interface RequestOptions {
  challenge: string
  rpId?: string
  allowCredentials?: { id: string }[]
}

function coseKeyOf(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string }
  // COSE_Key (RFC 9053): kty EC2, alg ES256, crv P-256, x, y.
  const key = new Map<number, number | Uint8Array>([
    [1, 2],
    [3, -7],
    [-1, 1],
    [-2, Buffer.from(jwk.x, 'base64url')],
    [-3, Buffer.from(jwk.y, 'base64url')],
  ])
  return isoCBOR.encode(key)
}

function flagsOf(userVerified: boolean, attested: boolean): number {
  // UP | UV | BE | BS (a synced passkey) | AT
  return 0x01 | (userVerified ? 0x04 : 0) | 0x08 | 0x10 | (attested ? 0x40 : 0)
}

function counterBytes(counter: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32BE(counter >>> 0)
  return bytes
}

export class SoftwareAuthenticator {
  readonly credentials: SoftCredential[] = []

  constructor(readonly origin: string) {}

  /** Answers creation options (navigator.credentials.create) with a new ES256 credential. */
  register(options: CreationOptions, answer: AnswerOptions = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const rpId = options.rp.id ?? new URL(this.origin).hostname
    const credential: SoftCredential = { id: randomBytes(32), privateKey, cose: coseKeyOf(publicKey), rpId, userHandle: options.user.id, counter: 0 }
    this.credentials.push(credential)
    const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: answer.challenge ?? options.challenge, origin: answer.origin ?? this.origin, crossOrigin: false }))
    const idLength = Buffer.alloc(2)
    idLength.writeUInt16BE(credential.id.length)
    const authData = Buffer.concat([
      sha256(answer.rpId ?? rpId),
      Buffer.from([flagsOf(answer.userVerified ?? true, true)]),
      counterBytes(credential.counter),
      Buffer.alloc(16), // AAGUID: zeros, as for attestation "none"
      idLength,
      credential.id,
      Buffer.from(credential.cose),
    ])
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]) as never)
    return {
      credential,
      response: {
        id: b64url(credential.id),
        rawId: b64url(credential.id),
        type: 'public-key' as const,
        response: { clientDataJSON: b64url(clientData), attestationObject: b64url(attestationObject), transports: ['internal'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      },
    }
  }

  /** Answers request options (navigator.credentials.get) with `credential`, or the first allowed/known one. */
  authenticate(options: RequestOptions, answer: AnswerOptions & { credential?: SoftCredential } = {}) {
    const allowed = options.allowCredentials?.map((item) => item.id) ?? []
    const credential =
      answer.credential ?? this.credentials.find((item) => allowed.length === 0 || allowed.includes(b64url(item.id))) ?? this.credentials[0]
    if (!credential) throw new Error('the software authenticator has no credential')
    if (answer.counter === undefined) credential.counter += 1
    const counter = answer.counter ?? credential.counter
    const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: answer.challenge ?? options.challenge, origin: answer.origin ?? this.origin, crossOrigin: false }))
    const authData = Buffer.concat([sha256(answer.rpId ?? options.rpId ?? credential.rpId), Buffer.from([flagsOf(answer.userVerified ?? true, false)]), counterBytes(counter)])
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), credential.privateKey)
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64url(clientData),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(answer.omitUserHandle || !credential.userHandle ? {} : { userHandle: credential.userHandle }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    }
  }
}
