import { AppError, type ErrorCode } from '../../errors.ts'

/*
 * Translations between HashiCorp Vault's shapes and Custodian's own (docs/vault-compat.md):
 * pure functions, and the envelope and error shape every Vault route answers with. The
 * routes (vault-compat.routes.ts, vault-compat.kv.routes.ts) call the services with what
 * these return, so nothing here decides who may do what.
 */

/** Transit key types Custodian has: AES-256-GCM with a 96-bit nonce, Ed25519 and ECDSA P-256. */
export const VAULT_KEY_TYPES = ['aes256-gcm96', 'ed25519', 'ecdsa-p256'] as const

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const VAULT_CIPHERTEXT = /^vault:v([1-9]\d{0,8}):([A-Za-z0-9+/]+={0,2})$/
const CUSTODIAN_CIPHERTEXT = /^cst:v(\d{1,9}):([A-Za-z0-9_-]+)$/

/**
 * Decodes a field Vault carries as standard base64 (Go's `base64.StdEncoding`: padded, no
 * URL alphabet, no whitespace). Anything else is a 400 naming the field, never a lenient
 * decode that would encrypt or bind other bytes than the caller meant.
 */
export function decodeVaultBase64(value: string, field: string): Buffer {
  if (!STD_BASE64.test(value))
    throw new AppError('VALIDATION_FAILED', `${field} is not standard base64`, {
      errors: [{ path: `/body/${field}`, message: 'must be standard base64' }],
    })
  return Buffer.from(value, 'base64')
}

/**
 * Vault's `associated_data` as the transit service's `context`: its standard base64 text,
 * so the bytes are bound as AAD and a decrypt with other associated data fails. Absent or
 * empty: no context, as Vault treats an empty value.
 */
export function contextOfAssociatedData(associatedData: string | undefined): string | undefined {
  if (associatedData === undefined || associatedData === '') return undefined
  return decodeVaultBase64(associatedData, 'associated_data').toString('base64')
}

/** `cst:vN:<base64url>` → `vault:vN:<standard base64>` (the same bytes). */
export function toVaultCiphertext(ciphertext: string): string {
  const match = CUSTODIAN_CIPHERTEXT.exec(ciphertext)
  if (match === null) throw new Error('the transit service returned a ciphertext of another shape')
  return `vault:v${match[1]}:${Buffer.from(match[2] as string, 'base64url').toString('base64')}`
}

/** `vault:vN:<standard base64>` → `cst:vN:<base64url>`; a 400 for anything else. */
export function toCustodianCiphertext(ciphertext: string): string {
  const match = VAULT_CIPHERTEXT.exec(ciphertext)
  if (match === null || !STD_BASE64.test(match[2] as string))
    throw new AppError('VALIDATION_FAILED', 'invalid ciphertext: expected vault:v<version>:<base64>', {
      errors: [{ path: '/body/ciphertext', message: 'must be vault:v<version>:<base64>' }],
    })
  return `cst:v${match[1]}:${Buffer.from(match[2] as string, 'base64').toString('base64url')}`
}

const VAULT_MARKED = /^vault:v([1-9]\d{0,8}):([A-Za-z0-9+/_-]+={0,2})$/
const URL_BASE64 = /^[A-Za-z0-9_-]+$/

/**
 * An HMAC or signature as Vault writes it: `vault:v<version>:` and standard base64, or
 * unpadded base64url for a JWS-marshaled ECDSA signature (`urlSafe`).
 */
export function toVaultMarked(version: number, value: Buffer, urlSafe = false): string {
  return `vault:v${version}:${value.toString(urlSafe ? 'base64url' : 'base64')}`
}

/** Reads `vault:v<version>:<base64>` (base64url when `urlSafe`); a 400 naming the field for anything else. */
export function fromVaultMarked(value: string, field: string, urlSafe = false): { version: number; value: Buffer } {
  const match = VAULT_MARKED.exec(value)
  const data = match?.[2]
  if (match === null || data === undefined || !(urlSafe ? URL_BASE64 : STD_BASE64).test(data))
    throw new AppError('VALIDATION_FAILED', `invalid ${field}: expected vault:v<version>:<base64>`, {
      errors: [{ path: `/body/${field}`, message: 'must be vault:v<version>:<base64>' }],
    })
  return { version: Number(match[1]), value: Buffer.from(data, urlSafe ? 'base64url' : 'base64') }
}

/** Seconds since the epoch, as Vault writes a key version's creation time. */
export function unixSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000)
}

/** What `/v1/sys/health` reports about this service. */
export interface HealthState {
  /** Bootstrapped: the provider org exists. */
  initialized: boolean
  /** The root key is not loaded (a Shamir vault not unsealed, a KMS out of reach). */
  sealed: boolean
}

/**
 * `/v1/sys/health`'s status: Vault's defaults (200 active, 501 not initialized, 503
 * sealed), each overridable by the caller's `activecode`, `uninitcode`, `sealedcode`.
 * Custodian has no standby nodes: every node that answers is active.
 */
export function healthStatus(
  state: HealthState,
  codes: { activecode?: number; uninitcode?: number; sealedcode?: number },
): number {
  if (!state.initialized) return codes.uninitcode ?? 501
  if (state.sealed) return codes.sealedcode ?? 503
  return codes.activecode ?? 200
}

/** Where Vault answers differently from our own status: a missing or refused credential is 403, as Vault answers it. */
const VAULT_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 403,
  CONFLICT: 400,
}

/** Vault's status for an error of ours (otherwise the same: 400, 403, 404, 503 sealed). */
export function vaultStatusOf(error: AppError): number {
  return VAULT_STATUS[error.code] ?? error.status
}

/** Vault's error body: `{"errors": [...]}`; a 403 leads with Vault's own words. */
export function vaultErrorsOf(error: AppError, status: number): string[] {
  if (status >= 500 && error.status >= 500 && error.code === 'INTERNAL') return ['internal error']
  const detail = error.extras.errors?.slice(0, 5).map((e) => `${e.path} ${e.message}`)
  const message = detail === undefined || detail.length === 0 ? error.message : `${error.message}: ${detail.join('; ')}`
  if (status === 403) return ['permission denied', message]
  if (error.code === 'VAULT_SEALED') return ['Vault is sealed', message]
  // The native API's `context` is this API's `associated_data`: name the field the caller sent.
  if (error.code === 'DECRYPTION_FAILED')
    return [
      'cipher: message authentication failed: the ciphertext does not decrypt with this key and associated_data (altered, or another key, org or associated_data)',
    ]
  return [message]
}
