import { createHash, randomUUID } from 'node:crypto'
import canonicalize from 'canonicalize'
import { signJws } from '../../crypto/jws.ts'
import type { Signer } from '../../crypto/keys.ts'
import { PROMISES } from './catalogue.ts'
import type { CheckResult, ComplianceReport, PromiseStanding, PromiseVerdict } from './compliance.types.ts'

/** The JWS `typ` of a document's detached signature (`custodian verify-report` checks it). */
export const SIGNATURE_TYPE = 'custodian-document+jws'

/** What a detached signature signs: the document's bytes by their SHA-256, and what the document is. */
export interface SignedDocument {
  /** `compliance-report` or `security-policy` (or `evidence-manifest`). */
  document: string
  /** `json`, `html` or `pdf`. */
  format: string
  /** Hex SHA-256 of the document's bytes exactly as served. */
  sha256: string
  /** The report's id (or the policy's generation id). */
  id: string
  orgId: string
  /** RFC 3339. */
  generatedAt: string
}

/**
 * A promise's standing from its checks' results: `not_met` when one fails, `met` when the
 * rest pass (at least one), `not_applicable` when none applies — or when it has no result yet.
 */
export function promiseVerdict(checks: readonly CheckResult[]): PromiseVerdict {
  if (checks.some((c) => c.verdict === 'fail')) return 'not_met'
  if (checks.some((c) => c.verdict === 'pass')) return 'met'
  return 'not_applicable'
}

/** Every promise of the catalogue with its checks' latest results (an empty list: not evaluated yet). */
export function standings(results: readonly CheckResult[]): PromiseStanding[] {
  return PROMISES.map((p) => {
    const checks = results.filter((r) => r.promise === p.id)
    return { ...p, verdict: promiseVerdict(checks), checks }
  })
}

/**
 * The compliance report (`custodian-compliance-report/v1`) of an org's latest results.
 * Pure: the caller reads the results and the time.
 */
export function buildReport(input: {
  scope: 'org' | 'service'
  org: { id: string; name: string }
  results: readonly CheckResult[]
  generatedAt: Date
  service: { publicUrl: string; version: string }
}): ComplianceReport {
  const promises = standings(input.results)
  const n = (v: PromiseVerdict) => promises.filter((p) => p.verdict === v).length
  const c = (v: CheckResult['verdict']) => input.results.filter((r) => r.verdict === v).length
  return {
    format: 'custodian-compliance-report/v1',
    reportId: randomUUID(),
    scope: input.scope,
    org: input.org,
    generatedAt: input.generatedAt.toISOString(),
    service: input.service,
    summary: {
      promises: { met: n('met'), notMet: n('not_met'), notApplicable: n('not_applicable') },
      checks: { pass: c('pass'), fail: c('fail'), notApplicable: c('not_applicable') },
    },
    promises,
  }
}

/** A document's JSON bytes: RFC 8785 canonical JSON, so the same document always hashes the same. */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(canonicalize(value) ?? 'null', 'utf8')
}

/**
 * Signs a document's bytes: a compact JWS (RFC 7515, EdDSA/Ed25519 per RFC 8037) by the
 * service's signing key (published at `GET /v1/audit/keys`) whose payload is
 * {@link SignedDocument}. Served beside the document (the `Custodian-Signature` header, or a
 * `.jws` file in an evidence bundle); `custodian verify-report` checks both offline.
 */
export function signDocument(signer: Signer, bytes: Buffer, about: Omit<SignedDocument, 'sha256'>): string {
  const payload: SignedDocument = { ...about, sha256: createHash('sha256').update(bytes).digest('hex') }
  return signJws(signer, SIGNATURE_TYPE, { ...payload })
}
