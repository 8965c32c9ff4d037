import { onFirstUse } from '../on-first-use.ts'
import type { Signer } from './keys.ts'

/** jose, loaded by the first verification (src/on-first-use.ts). */
const loadJose = onFirstUse(() => import('jose'))

/**
 * Signed documents (erasure and offboarding certificates, P7.2, P7.4) as compact JWS
 * (RFC 7515) with EdDSA / Ed25519 (RFC 8037), signed by the same key that signs audit
 * checkpoints, whose public half is published at `GET /v1/audit/keys`. Any JOSE library
 * verifies them offline; `custodian verify-certificate` does it without the service.
 */
export function signJws(signer: Signer, type: string, payload: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: signer.keyId, typ: type })).toString('base64url')
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  const signature = signer.sign(Buffer.from(`${header}.${body}`, 'ascii')).toString('base64url')
  return `${header}.${body}.${signature}`
}

export interface VerifiedJws {
  header: { alg: string; kid?: string; typ?: string }
  payload: Record<string, unknown>
}

/**
 * Verifies a compact JWS against raw Ed25519 public keys (base64url) by key id; throws
 * on anything but a valid EdDSA signature by one of them, whatever byte was altered.
 */
export async function verifyJws(jws: string, keys: ReadonlyMap<string, string>): Promise<VerifiedJws> {
  const [encodedHeader] = jws.split('.')
  let kid: unknown
  try {
    kid = (JSON.parse(Buffer.from(encodedHeader ?? '', 'base64url').toString('utf8')) as { kid?: unknown }).kid
  } catch {
    throw new Error('not a compact JWS')
  }
  const x = typeof kid === 'string' ? keys.get(kid) : undefined
  if (x === undefined) throw new Error(`signed by an unknown key ${String(kid)}`)
  const { compactVerify, importJWK } = await loadJose()
  const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x }, 'EdDSA')
  const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ['EdDSA'] })
  return { header: protectedHeader, payload: JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown> }
}
