import { verifyAuditReceipt } from './audit-receipt.ts'
import { bytesOfBase64, canonicalJson, type PublishedKey } from './audit-verify.ts'

/**
 * Verifies a consent receipt (docs/consent.md "Receipts") in the browser, with WebCrypto
 * only and the keys of GET /v1/audit/keys — never by asking the server. The same checks as
 * `custodian consent verify-receipt`: the compact JWS is an EdDSA signature (RFC 8037) by
 * a published key, of type `custodian-consent-receipt+jws`; the audit receipt carried
 * beside it proves its event into a signed checkpoint (verifyAuditReceipt); and the logged
 * event is the receipt's — org, id, action `consent.<action>`, purpose, lawful basis,
 * method, collection time and notice.
 */
export interface ConsentReceiptVerdict {
  ok: boolean
  /** Why not, in words (empty when ok). */
  problem: string
  /** The signed payload, once its signature verified. */
  payload: Record<string, unknown> | null
}

const TYPE = 'custodian-consent-receipt+jws'

function decodeJson(segment: string): Record<string, unknown> | null {
  const bytes = bytesOfBase64(segment, true)
  if (bytes === undefined) return null
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes))
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}

/** Verifies one consent receipt (`{jws, receipt}` as the API answers it) against the published keys. Never throws. */
export async function verifyConsentReceipt(
  input: unknown,
  publishedKeys: readonly PublishedKey[],
): Promise<ConsentReceiptVerdict> {
  const fail = (problem: string, payload: Record<string, unknown> | null = null): ConsentReceiptVerdict => ({
    ok: false,
    problem,
    payload,
  })
  if (input === null || typeof input !== 'object') return fail('not a consent receipt')
  const { jws, receipt } = input as { jws?: unknown; receipt?: unknown }
  if (typeof jws !== 'string') return fail('not a consent receipt')
  const [h = '', p = '', s = '', extra] = jws.split('.')
  const header = decodeJson(h)
  const payload = decodeJson(p)
  const signature = bytesOfBase64(s, true)
  if (extra !== undefined || header === null || payload === null || signature?.length !== 64)
    return fail('the receipt is not a compact JWS')
  if (header.alg !== 'EdDSA' || header.typ !== TYPE) return fail(`the JWS is not a ${TYPE}`)
  const published = publishedKeys.find((k) => k.keyId === header.kid)
  const raw = published === undefined ? undefined : bytesOfBase64(published.publicKey, true)
  if (raw?.length !== 32) return fail('no published key signed this receipt')
  let valid: boolean
  try {
    const key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify'])
    valid = await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, new TextEncoder().encode(`${h}.${p}`))
  } catch {
    valid = false
  }
  if (!valid) return fail('the receipt’s signature does not verify')
  const audit = await verifyAuditReceipt(receipt, publishedKeys)
  if (!audit.ok) return fail(`the audit receipt does not verify: ${audit.problem}`, payload)
  const event = (receipt as { event: Record<string, unknown> }).event
  const details = (event.details ?? {}) as Record<string, unknown>
  const named = (payload.event ?? {}) as Record<string, unknown>
  const [purpose] = Array.isArray(payload.purposes) ? (payload.purposes as Record<string, unknown>[]) : []
  const pairs: [string, unknown, unknown][] = [
    ['org', event.org, named.org],
    ['event', event.id, named.id],
    ['receipt id', event.id, payload.consentReceiptID],
    ['action', event.action, `consent.${String(payload.action)}`],
    ['purpose', details.purpose, purpose?.purpose],
    ['lawful basis', details.lawfulBasis, purpose?.lawfulBasis],
    ['notice', details.notice ?? null, payload.notice],
  ]
  if (details.method !== undefined) pairs.push(['method', details.method, payload.collectionMethod])
  if (details.collectedAt !== undefined) pairs.push(['collection time', details.collectedAt, payload.collectedAt])
  for (const [what, logged, signed] of pairs)
    if (canonicalJson(logged ?? null) !== canonicalJson(signed ?? null))
      return fail(`the logged event’s ${what} is not the receipt’s`, payload)
  return { ok: true, problem: '', payload }
}
