import { randomUUID } from 'node:crypto'
import type { Signer } from '../../crypto/keys.ts'
import { signJws } from '../../crypto/jws.ts'
import type { Trx } from '../../db/tenant.ts'

/**
 * Erasure certificates (P7.2): the written confirmation of an erasure, a compact JWS
 * signed with Ed25519 by the key published at `GET /v1/audit/keys`, verifiable offline
 * (`custodian verify-certificate`, docs/privacy.md).
 *
 * The subject is named by a salted SHA-256 commitment; the salt is given once, to whoever
 * completed the erasure, to hand to the data subject with the certificate — Custodian
 * keeps neither the subject id nor the salt.
 *
 * The payload names the audit event that records the issuance (`auditEvent`); once a
 * signed checkpoint covers that event, its receipt is served with the certificate
 * (`GET …/erasure-certificates/{id}`), proving offline that the issuance is in the org's
 * tamper-evident log (`custodian verify-certificate --log-key`).
 */
export const CERTIFICATE_TYPE = 'custodian-erasure-certificate+jws'

export interface ErasureFacts {
  org: string
  request: string
  subjectCommitment: string
  erasedAt: string
  records: Record<string, number>
  auditPersonalFields: number
  exports: number
  /** When the shred-ring key that sealed the subject's key in earlier database copies was destroyed (null: no key existed). */
  backupsUnreadableSince: string | null
  /**
   * The audit event that records this certificate's issuance (the org's log and the event
   * id, chosen before the event is written): the certificate names it, and its receipt
   * proves the issuance is in the org's tamper-evident log.
   */
  auditEvent: { org: string; id: string }
  webhooks: {
    name: string
    destination: string
    status: 'confirmed' | 'failed'
    attempts: number
    confirmedAt: string | null
  }[]
  /**
   * The consent recipients told of the erasure (GDPR Art. 19; docs/consent.md): each
   * recipient's name, whether its endpoint took the message, and when.
   */
  recipients: { name: string; status: 'told' | 'failed'; attempts: number; toldAt: string | null }[]
}

export async function issueErasureCertificate(
  trx: Trx,
  signer: Signer,
  facts: ErasureFacts,
  issuedAt: Date,
): Promise<{ id: string; jws: string }> {
  const id = randomUUID()
  const recordCount = Object.values(facts.records).reduce((a, b) => a + b, 0)
  const payload = {
    v: 1,
    type: 'erasure',
    id,
    org: facts.org,
    request: facts.request,
    subject: { commitment: facts.subjectCommitment, scheme: 'sha256(salt || utf8(subjectId)), hex' },
    erasedAt: facts.erasedAt,
    issuedAt: issuedAt.toISOString(),
    auditEvent: facts.auditEvent,
    systems: [
      { system: 'custodian:records', action: 'deleted', count: recordCount, dataClasses: facts.records },
      {
        system: 'custodian:subject-key',
        action: 'crypto-shredded',
        note: 'the subject’s data key was erased from the database',
      },
      ...(facts.backupsUnreadableSince === null
        ? []
        : [
            {
              system: 'custodian:backups',
              action: 'unreadable',
              since: facts.backupsUnreadableSince,
              note: 'the shred-ring key that sealed the subject’s key in every earlier copy of the database was destroyed',
            },
          ]),
      {
        system: 'custodian:audit-personal-fields',
        action: 'deleted',
        count: facts.auditPersonalFields,
        note: 'the audit chain keeps only salted commitments and still verifies',
      },
      { system: 'custodian:exports', action: 'erased', count: facts.exports },
      ...facts.webhooks.map((w) => ({
        system: `webhook:${w.name}`,
        destination: w.destination,
        action: w.status === 'confirmed' ? 'confirmed' : 'not-confirmed',
        attempts: w.attempts,
        confirmedAt: w.confirmedAt,
      })),
      ...facts.recipients.map((r) => ({
        system: `consent-recipient:${r.name}`,
        action: r.status === 'told' ? 'told' : 'not-told',
        attempts: r.attempts,
        toldAt: r.toldAt,
      })),
    ],
  }
  const jws = signJws(signer, CERTIFICATE_TYPE, payload)
  await trx
    .insertInto('erasure_certificates')
    .values({
      id,
      org_id: facts.org,
      request_id: facts.request,
      jws,
      issued_at: issuedAt,
      audit_event_id: facts.auditEvent.id,
    })
    .execute()
  return { id, jws }
}
