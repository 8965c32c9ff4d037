import type { RequestContext } from '../../context.ts'
import type { Trx } from '../../db/tenant.ts'

/**
 * What a data-subject request needs of consent (P7.7), wired in app.ts: the privacy module
 * imports nothing of the consent module. Every call runs in the request's org transaction.
 */
export interface ConsentPort {
  /**
   * Erasure: records a `withdraw` consent event for each purpose the subject holds a
   * current grant to, before the subject's key is shredded; answers how many it recorded.
   * Idempotent (once withdrawn, nothing is granted).
   */
  withdrawForErasure(trx: Trx, ctx: RequestContext, subjectId: string, requestId: string): Promise<number>
  /**
   * Restriction, its lift, rectification (GDPR Art. 19): tells every registered consent
   * recipient of the org's purposes, in the request's transaction (one signed message each,
   * with a stop-processing deadline and an acknowledgement); answers how many were told.
   */
  tellOfRequest(
    trx: Trx,
    ctx: RequestContext,
    subjectId: string,
    requestId: string,
    action: 'restrict' | 'lift_restriction' | 'rectify',
  ): Promise<number>
  /**
   * Access: the subject's consent events, oldest first, each also an audit event with the
   * same id (so its evidence is among the export's opened personal fields), and the signed
   * receipt of each (`receipt: null` while no signed checkpoint covers the event yet).
   */
  historyOf(
    trx: Trx,
    orgId: string,
    subjectRef: Buffer,
  ): Promise<{ events: { eventId: string }[]; receipts: unknown[] }>
}
