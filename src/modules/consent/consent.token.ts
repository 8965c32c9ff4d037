import { randomUUID } from 'node:crypto'
import type { Signer } from '../../crypto/keys.ts'
import { signJws } from '../../crypto/jws.ts'
import type { Verdict } from './consent.decide.ts'

/** The `typ` of a decision token's protected header. */
export const DECISION_TOKEN_TYPE = 'custodian-consent-decision+jws'

/**
 * A decision token (docs/consent.md#decision-tokens): a compact JWS (RFC 7515, EdDSA over
 * Ed25519, RFC 8037) signed by the key published at `GET /v1/audit/keys` — the same key as
 * the audit checkpoints and certificates — that a processor keeps as proof that it asked
 * before processing, and what it was told. Short-lived (`exp`): a processor that caches a
 * decision asks again once the token has expired.
 *
 * The subject is named by the privacy module's keyed reference (base64url), never by its
 * id: a token that leaks names nobody.
 */
export function decisionToken(
  signer: Signer,
  facts: { orgId: string; subjectRef: Buffer; purpose: string; verdict: Verdict; now: Date; ttlSeconds: number },
): { jws: string; expiresAt: Date } {
  const iat = Math.floor(facts.now.getTime() / 1000)
  const exp = iat + facts.ttlSeconds
  const { verdict } = facts
  const jws = signJws(signer, DECISION_TOKEN_TYPE, {
    v: 1,
    type: 'consent-decision',
    jti: randomUUID(),
    org: facts.orgId,
    subject: facts.subjectRef.toString('base64url'),
    purpose: facts.purpose,
    allowed: verdict.allowed,
    basis: verdict.basis,
    reason: verdict.reason,
    event: verdict.eventId,
    noticeVersion: verdict.noticeVersion,
    consentExpiresAt: verdict.expiresAt?.toISOString() ?? null,
    iat,
    exp,
  })
  return { jws, expiresAt: new Date(exp * 1000) }
}
