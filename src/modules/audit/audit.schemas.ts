import { Type } from '@sinclair/typebox'
import { Uuid } from '../../http/schemas.ts'
import { RECEIPT_TYPE } from './audit.receipt.ts'

/**
 * The receipt of one audit event (audit.receipt.ts, docs/transparency.md "Receipts") as
 * routes answer it: on its own (`GET …/audit/events/{eventId}/receipt`) and inside the
 * certificates that name their event (erasure and offboarding certificates).
 */
export const AuditReceiptSchema = Type.Object({
  type: Type.Literal(RECEIPT_TYPE),
  event: Type.Record(Type.String(), Type.Unknown(), {
    description: 'the event as chained (its JCS bytes are the leaf)',
  }),
  size: Type.Integer({ description: 'tree size of the checkpoint' }),
  proof: Type.Array(Type.String(), {
    description: 'RFC 9162 §2.1.3.1 inclusion proof, base64, leaf side first',
  }),
  checkpoint: Type.String({ description: 'the C2SP signed note of the checkpoint, with any cosignatures' }),
})

/** Where a certificate's own audit event is: the log (an org id) and the event's id. */
export const AuditEventRefSchema = Type.Object(
  { org: Uuid, id: Uuid },
  { description: 'the org whose log holds the event, and the event id' },
)
