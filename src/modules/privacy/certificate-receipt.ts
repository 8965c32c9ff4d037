import { verifyReceipt, type ReceiptCheck } from '../audit/audit.receipt.ts'

/** The audit action that records each certificate type's issuance, and what its target must be. */
const ISSUANCE: Record<string, { action: string; target: (payload: Record<string, unknown>) => unknown }> = {
  // The erasure certificate's own event, in the org's log: its target is the certificate.
  erasure: { action: 'privacy.erasure.certificate', target: (payload) => payload.id },
  // The deletion's completion, in the provider's log: its target is the deleted org.
  offboarding: { action: 'org.offboarding.complete', target: (payload) => payload.org },
}

export interface CertificateReceiptCheck extends ReceiptCheck {
  /** The log (org id) and event the certificate names, when it names one. */
  auditEvent?: { org: string; id: string } | undefined
}

/**
 * Checks, offline, that the receipt handed out with a certificate proves the certificate's
 * issuance is in a tamper-evident audit log (issue 21). `payload` is the certificate's
 * verified JWS payload (check the signature first); `receipt` the receipt served with it;
 * `logKey`, `witnessKeys` and `quorum` as for {@link verifyReceipt}.
 *
 * On top of the receipt's own checks (signed checkpoint, inclusion proof, witness quorum):
 * the certificate names an audit event (`auditEvent`: the log's org and the event id); the
 * receipt is of that very event, in that log; the event is the issuance of this
 * certificate's type (`privacy.erasure.certificate` whose target is the certificate, or
 * `org.offboarding.complete` whose target is the deleted org). Never throws: problems are
 * reported in words.
 */
export function checkCertificateReceipt(
  payload: Record<string, unknown>,
  receipt: unknown,
  logKey: string,
  witnessKeys: readonly string[] = [],
  quorum = witnessKeys.length,
): CertificateReceiptCheck {
  const named = payload.auditEvent as { org?: unknown; id?: unknown } | null | undefined
  if (typeof named !== 'object' || named === null || typeof named.org !== 'string' || typeof named.id !== 'string')
    return { ok: false, problems: ['the certificate names no audit event (issued before receipts)'], cosignedBy: [] }
  const auditEvent = { org: named.org, id: named.id }
  const type = String(payload.type)
  const issuance = Object.hasOwn(ISSUANCE, type) ? ISSUANCE[type] : undefined
  if (issuance === undefined)
    return {
      ok: false,
      problems: [`unknown certificate type ${JSON.stringify(payload.type)}`],
      cosignedBy: [],
      auditEvent,
    }
  const check = verifyReceipt(receipt, logKey, witnessKeys, quorum)
  const event = (receipt as { event?: Record<string, unknown> } | null)?.event ?? {}
  const problems = [...check.problems]
  if (event.org !== auditEvent.org)
    problems.push(`the receipt is of the log of org ${String(event.org)}, the certificate names ${auditEvent.org}`)
  if (event.id !== auditEvent.id)
    problems.push(`the receipt is of event ${String(event.id)}, the certificate names ${auditEvent.id}`)
  if (event.action !== issuance.action)
    problems.push(`the receipt's event is ${JSON.stringify(event.action)}, not ${issuance.action}`)
  const target = (event.target as { id?: unknown } | null | undefined)?.id
  if (target !== issuance.target(payload))
    problems.push(
      `the receipt's event is about ${String(target)}, not this certificate's ${String(issuance.target(payload))}`,
    )
  return { ...check, ok: check.ok && problems.length === 0, problems, auditEvent }
}
