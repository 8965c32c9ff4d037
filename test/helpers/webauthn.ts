import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { encodeCBOR, type CBORType } from '@levischuck/tiny-cbor'
import type { JsonBody } from './json.ts'

/**
 * A software authenticator for tests: real WebAuthn attestations ('none' format) and
 * assertions, ES256 on P-256 with node:crypto. authenticatorData is built byte by byte
 * (rpIdHash, flags UP/UV/AT, signCount, attested credential data with a COSE key), so the
 * server's verification (@simplewebauthn/server) runs on what a browser would send.
 */
export interface SoftPasskey {
  credentialId: Buffer
  userHandle: string
  privateKey: KeyObject
  signCount: number
}

const FLAG_UP = 0x01
const FLAG_UV = 0x04
const FLAG_AT = 0x40

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url')

function clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8')
}

function coseKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' })
  const cose = new Map<number, number | Uint8Array>([
    [1, 2], // kty: EC2
    [3, -7], // alg: ES256
    [-1, 1], // crv: P-256
    [-2, new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))],
    [-3, new Uint8Array(Buffer.from(jwk.y as string, 'base64url'))],
  ])
  return encodeCBOR(cose)
}

function authenticatorData(rpId: string, flags: number, signCount: number, attested?: Buffer): Buffer {
  const count = Buffer.alloc(4)
  count.writeUInt32BE(signCount)
  return Buffer.concat([
    createHash('sha256').update(rpId, 'utf8').digest(),
    Buffer.from([flags]),
    count,
    ...(attested === undefined ? [] : [attested]),
  ])
}

/**
 * `navigator.credentials.create()` answered by a new ES256 key: the passkey (to sign with
 * later) and the RegistrationResponseJSON to send. `rpId`/`origin` default to what the
 * options and the test app say; a test passes others to be refused.
 */
export function createCredential(
  options: JsonBody,
  origin: string,
  overrides: { rpId?: string; userVerified?: boolean } = {},
): { passkey: SoftPasskey; response: Record<string, unknown> } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const credentialId = randomBytes(32)
  const rpId: string = overrides.rpId ?? options.rp?.id ?? 'localhost'
  const idLength = Buffer.alloc(2)
  idLength.writeUInt16BE(credentialId.length)
  const attested = Buffer.concat([Buffer.alloc(16) /* AAGUID */, idLength, credentialId, coseKey(publicKey)])
  const flags = FLAG_UP | FLAG_AT | (overrides.userVerified === false ? 0 : FLAG_UV)
  const authData = authenticatorData(rpId, flags, 0, attested)
  const attestationObject = encodeCBOR(
    new Map<string, CBORType>([
      ['fmt', 'none'],
      ['attStmt', new Map<string, CBORType>()],
      ['authData', new Uint8Array(authData)],
    ]),
  )
  return {
    passkey: { credentialId, userHandle: String(options.user.id), privateKey, signCount: 0 },
    response: {
      id: b64(credentialId),
      rawId: b64(credentialId),
      type: 'public-key',
      response: {
        clientDataJSON: b64(clientData('webauthn.create', String(options.challenge), origin)),
        attestationObject: b64(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    },
  }
}

/**
 * `navigator.credentials.get()` answered by `passkey`: an AuthenticationResponseJSON over
 * `challenge`. The counter grows by one unless `signCount` says otherwise.
 */
export function getAssertion(
  passkey: SoftPasskey,
  options: JsonBody,
  origin: string,
  overrides: { rpId?: string; signCount?: number; userVerified?: boolean } = {},
): Record<string, unknown> {
  const challenge = String(options.challenge)
  const rpId: string = overrides.rpId ?? options.rpId ?? 'localhost'
  passkey.signCount = overrides.signCount ?? passkey.signCount + 1
  const flags = FLAG_UP | (overrides.userVerified === false ? 0 : FLAG_UV)
  const authData = authenticatorData(rpId, flags, passkey.signCount)
  const clientDataJSON = clientData('webauthn.get', challenge, origin)
  const signed = Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()])
  const signature = sign('sha256', signed, passkey.privateKey) // DER ECDSA, as authenticators give it
  return {
    id: b64(passkey.credentialId),
    rawId: b64(passkey.credentialId),
    type: 'public-key',
    response: {
      clientDataJSON: b64(clientDataJSON),
      authenticatorData: b64(authData),
      signature: b64(signature),
      userHandle: passkey.userHandle,
    },
    clientExtensionResults: {},
    authenticatorAttachment: 'platform',
  }
}
