import { Type } from '@sinclair/typebox'
import { Timestamp, Uuid } from '../../http/schemas.ts'
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

const Ref = Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) })
/** An event as the events page shows it (`GET …/audit/events`), and as recording one answers it. */
export const AuditEventViewSchema = Type.Object({
  id: Uuid,
  seq: Type.Union([Type.Integer(), Type.Null()], {
    description: 'null until the sequencer chains it (within about a second)',
  }),
  time: Timestamp,
  origin: Type.Union([Type.Literal('custodian'), Type.Literal('application')], {
    description:
      'application: recorded by the host application (POST …/audit/events; docs/application-events.md); custodian: Custodian’s own',
  }),
  actor: Ref,
  action: Type.String(),
  target: Type.Union([Ref, Type.Null()]),
  outcome: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
  hash: Type.Union([Type.String(), Type.Null()]),
  prevHash: Type.Union([Type.String(), Type.Null()]),
})

/**
 * An event as the org's own events page answers it (`GET /v1/orgs/{orgId}/audit/events`):
 * the event and the actor's email when the actor is a member of the org. Not the embedded
 * viewer's schema: the viewer serves the host application's end users, who are not told
 * who in the org acted.
 */
export const NamedAuditEventViewSchema = Type.Composite([
  AuditEventViewSchema,
  Type.Object({
    actorEmail: Type.Union([Type.String(), Type.Null()], {
      description:
        'the actor’s email when the actor is a user who is a member of this org; null otherwise (a service account, the system, a former member, a provider’s operator acting under a grant — see details.grant)',
    }),
  }),
])

/** The audit log's event filters (query parameters), shared by the org's query and the embedded viewer's. */
export const AuditEventFilters = {
  origin: Type.Optional(
    Type.Union([Type.Literal('custodian'), Type.Literal('application')], {
      description: 'only Custodian’s own events, or only the host application’s',
    }),
  ),
  actor: Type.Optional(Type.String({ maxLength: 200 })),
  action: Type.Optional(Type.String({ maxLength: 100, pattern: '^[a-z0-9_.]+(\\.\\*)?$' })),
  target: Type.Optional(Type.String({ maxLength: 200 })),
  outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('denied'), Type.Literal('failure')])),
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
}
