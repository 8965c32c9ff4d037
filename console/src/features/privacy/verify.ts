import { base64url, compactVerify, decodeProtectedHeader, errors, importJWK } from 'jose'

/**
 * Verifies a Custodian erasure certificate in the browser (P7.2, docs/privacy.md "Erasure
 * certificates"), from the documented format and nothing else: no call asks the server
 * whether a certificate is valid.
 *
 * - The signature: a compact JWS (RFC 7515), EdDSA / Ed25519 (RFC 8037), verified with
 *   `jose` (already the service's JOSE library, src/crypto/jws.ts, running here on
 *   WebCrypto) against the key whose id is the header's `kid`, among the keys the service
 *   publishes at `GET /v1/audit/keys` — fetched apart from the certificate, never taken
 *   from it, never embedded in the console.
 * - The subject: the payload names the data subject only by a salted commitment,
 *   `subject.commitment = "sha256:" + hex(SHA-256(base64url-decode(salt) || utf8(subjectId)))`
 *   — the construction of src/modules/privacy/requests.service.ts (`erase`, the
 *   `subjectCommitment` fact) and of `custodian verify-certificate --subject --salt`
 *   (src/cli/verify-certificate.ts). Recomputed here with WebCrypto's SHA-256 from the
 *   subject id and salt the person types; compared with the signed payload's.
 *
 * Each check answers a verdict with a sentence saying what matched or what did not.
 */

/** A key as GET /v1/audit/keys publishes it: its id and the raw Ed25519 public key (base64url). */
export interface PublishedKey {
  keyId: string
  publicKey: string
}

/** The JWS `typ` of an erasure certificate (src/modules/privacy/certificates.ts, CERTIFICATE_TYPE). */
export const CERTIFICATE_TYPE = 'custodian-erasure-certificate+jws'

/** The signed payload of an erasure certificate, as far as this page reads it. */
export interface CertificatePayload {
  v?: unknown
  type?: unknown
  id?: unknown
  org?: unknown
  request?: unknown
  subject?: { commitment?: unknown; scheme?: unknown }
  erasedAt?: unknown
  issuedAt?: unknown
  auditEvent?: { org?: unknown; id?: unknown } | null
  systems?: unknown
  [key: string]: unknown
}

export type SignatureVerdict =
  | { ok: true; keyId: string; payload: CertificatePayload; message: string }
  | { ok: false; message: string }

export type SubjectVerdict = { ok: boolean; message: string }

const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * The salt's length, in bytes, as the service draws it (src/modules/privacy/requests.service.ts,
 * `erase`). The commitment has no boundary between salt and subject id, so a salt of any
 * other length would let the first bytes of one subject id move into the salt: a certificate
 * for subject `142` would "name" subject `42` with the salt and `1`. Only this length is taken.
 */
export const SUBJECT_SALT_BYTES = 16

/**
 * Checks a compact JWS erasure certificate's signature under the published keys (its
 * header's `kid` picks one). Never throws: a certificate that does not verify is a verdict
 * whose message says why.
 */
export async function verifyCertificateSignature(
  jws: string,
  keys: readonly PublishedKey[],
): Promise<SignatureVerdict> {
  const text = jws.trim()
  if (!COMPACT.test(text))
    return { ok: false, message: 'This is not a compact JWS: three base64url parts separated by dots.' }
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(text)
  } catch {
    return { ok: false, message: 'The certificate’s header is not readable: it is not a JWS Custodian signed.' }
  }
  if (header.alg !== 'EdDSA')
    return {
      ok: false,
      message: `The certificate is signed with ${String(header.alg)}, not EdDSA (Ed25519) as Custodian signs certificates.`,
    }
  const published = keys.find((k) => k.keyId === header.kid)
  if (published === undefined)
    return {
      ok: false,
      message: `The certificate names the signing key ${String(header.kid)}, which the service does not publish (GET /v1/audit/keys).`,
    }
  let payloadBytes: Uint8Array
  try {
    const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: published.publicKey }, 'EdDSA')
    ;({ payload: payloadBytes } = await compactVerify(text, key, { algorithms: ['EdDSA'] }))
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed)
      return {
        ok: false,
        message: `The signature does not match the certificate’s content under the service’s key ${published.keyId}: its header or payload was changed after it was signed.`,
      }
    return { ok: false, message: `The certificate does not verify: ${(error as Error).message}.` }
  }
  let payload: unknown
  try {
    payload = JSON.parse(new TextDecoder().decode(payloadBytes))
  } catch {
    return { ok: false, message: 'The signature is valid, but the signed payload is not JSON.' }
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    return { ok: false, message: 'The signature is valid, but the signed payload is not a JSON object.' }
  const certificate = payload as CertificatePayload
  if (header.typ !== CERTIFICATE_TYPE || certificate.type !== 'erasure')
    return {
      ok: false,
      message: `The signature is valid, but this is a signed ${String(header.typ)} document, not an erasure certificate.`,
    }
  return {
    ok: true,
    keyId: published.keyId,
    payload: certificate,
    message: `The signature is valid: signed by the service’s published key ${published.keyId}, and not one byte of the certificate changed since.`,
  }
}

/**
 * The commitment to a data subject as the service computes it: `sha256:` and the hex
 * SHA-256 of the salt's bytes (base64url-decoded) followed by the subject id's UTF-8 bytes
 * (src/modules/privacy/requests.service.ts, `erase`). Undefined when the salt is not base64url
 * of exactly {@link SUBJECT_SALT_BYTES} bytes.
 */
export async function subjectCommitment(subjectId: string, salt: string): Promise<string | undefined> {
  const trimmed = salt.trim()
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) return undefined
  let saltBytes: Uint8Array
  try {
    saltBytes = base64url.decode(trimmed)
  } catch {
    return undefined
  }
  if (saltBytes.length !== SUBJECT_SALT_BYTES) return undefined
  const id = new TextEncoder().encode(subjectId)
  const message = new Uint8Array(saltBytes.length + id.length)
  message.set(saltBytes, 0)
  message.set(id, saltBytes.length)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', message))
  return `sha256:${Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')}`
}

/**
 * Whether a verified certificate names the subject with this id and salt: the commitment
 * recomputed here equals the signed one. The subject id is taken exactly as typed (the
 * service hashes the id as the application stored it, without trimming).
 */
export async function checkSubject(
  payload: CertificatePayload,
  subjectId: string,
  salt: string,
): Promise<SubjectVerdict> {
  const signed = payload.subject?.commitment
  if (typeof signed !== 'string')
    return { ok: false, message: 'The certificate holds no subject commitment to compare with.' }
  if (subjectId === '') return { ok: false, message: 'Type the data subject’s id to check the commitment.' }
  const recomputed = await subjectCommitment(subjectId, salt)
  if (recomputed === undefined)
    return {
      ok: false,
      message:
        'The salt is not base64url of 16 bytes (22 letters, digits, - and _), as the service hands it over: check it was copied whole, and nothing more.',
    }
  if (recomputed !== signed)
    return {
      ok: false,
      message: `The subject does not match: SHA-256 of this salt and subject id is ${recomputed}, the certificate’s commitment is ${signed}. Either the subject id or the salt is not the one this certificate was issued for.`,
    }
  return {
    ok: true,
    message: `The subject matches: SHA-256 of this salt and subject id is ${signed}, exactly the certificate’s commitment. The certificate names this data subject.`,
  }
}

/**
 * The compact JWS in a certificate file: the file itself (a `.jws`), or the `jws` (or
 * `certificate`) field of the JSON the API answers for one, as `custodian
 * verify-certificate --file` reads it. Undefined when neither.
 */
export function jwsOfFile(text: string): string | undefined {
  const trimmed = text.trim()
  if (!trimmed.startsWith('{')) return trimmed
  try {
    const document = JSON.parse(trimmed) as { jws?: unknown; certificate?: unknown }
    const field = document.jws ?? document.certificate
    return typeof field === 'string' ? field : undefined
  } catch {
    return undefined
  }
}

/**
 * The payload of a compact JWS as it reads, before (or without) checking its signature:
 * what the page shows of a certificate, marked as unverified until checked. Undefined
 * when it is not a JSON object.
 */
export function readPayload(jws: string): CertificatePayload | undefined {
  const part = jws.split('.')[1]
  if (part === undefined) return undefined
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(base64url.decode(part)))
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as CertificatePayload)
      : undefined
  } catch {
    return undefined
  }
}
