import { Type, type Static } from '@sinclair/typebox'
import { Name, pageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'

/** Request and response schemas of the consent routes (docs/consent.md). */

export const LAWFUL_BASES = [
  'consent',
  'explicit_consent',
  'contract',
  'legal_obligation',
  'vital_interests',
  'public_task',
  'legitimate_interests',
] as const
/** Bases under which a subject's consent is what makes processing lawful (Art. 6(1)(a), 9(2)(a)). */
export const CONSENT_BASES: readonly string[] = ['consent', 'explicit_consent']
/** Bases a subject may object to (Art. 21(1)); direct marketing can be objected to whatever its basis (21(2)). */
export const OBJECTABLE_BASES: readonly string[] = ['public_task', 'legitimate_interests']

export const PurposeKey = Type.String({
  pattern: '^[a-z][a-z0-9_.-]{0,62}$',
  description: 'the purpose’s key: lower case, digits, `_`, `.`, `-`; 1–63 characters',
})
const Label = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' })
const Basis = Type.Union([
  Type.Literal('consent'),
  Type.Literal('explicit_consent'),
  Type.Literal('contract'),
  Type.Literal('legal_obligation'),
  Type.Literal('vital_interests'),
  Type.Literal('public_task'),
  Type.Literal('legitimate_interests'),
])
const GpcEffect = Type.Union([Type.Literal('none'), Type.Literal('opt_out')], {
  description:
    '`opt_out`: a Global Privacy Control signal withdraws (consent bases) or objects to (legitimate interests, public task) this purpose',
})

const ReconsentGraceDays = Type.Union([Type.Integer({ minimum: 0, maximum: 365 }), Type.Null()], {
  description:
    'days a grant under a notice version that a material change superseded still counts (null or 0: none); docs/consent.md#re-consent',
})

export const CreatePurposeBody = Type.Object(
  {
    key: PurposeKey,
    name: Name,
    description: Type.Optional(Type.String({ maxLength: 4000 })),
    dataCategories: Type.Optional(Type.Array(Label, { maxItems: 50, uniqueItems: true })),
    recipients: Type.Optional(
      Type.Array(Label, { maxItems: 50, uniqueItems: true, description: 'declared processors and recipients' }),
    ),
    lawfulBasis: Basis,
    directMarketing: Type.Optional(Type.Boolean()),
    gpcEffect: Type.Optional(GpcEffect),
    lifetimeDays: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 36500 }), Type.Null()], {
        description: 'days a grant lasts; null: until withdrawn',
      }),
    ),
    reconsentGraceDays: Type.Optional(ReconsentGraceDays),
  },
  Strict,
)
export type CreatePurposeInput = Static<typeof CreatePurposeBody>

export const UpdatePurposeBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Type.String({ maxLength: 4000 })),
    dataCategories: Type.Optional(Type.Array(Label, { maxItems: 50, uniqueItems: true })),
    recipients: Type.Optional(Type.Array(Label, { maxItems: 50, uniqueItems: true })),
    lawfulBasis: Type.Optional(Basis),
    directMarketing: Type.Optional(Type.Boolean()),
    gpcEffect: Type.Optional(GpcEffect),
    lifetimeDays: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 36500 }), Type.Null()])),
    reconsentGraceDays: Type.Optional(ReconsentGraceDays),
  },
  { ...Strict, minProperties: 1 },
)
export type UpdatePurposeInput = Static<typeof UpdatePurposeBody>

export const PurposeView = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  dataCategories: Type.Array(Type.String()),
  recipients: Type.Array(Type.String()),
  lawfulBasis: Basis,
  directMarketing: Type.Boolean(),
  gpcEffect: GpcEffect,
  lifetimeDays: Type.Union([Type.Integer(), Type.Null()]),
  reconsentFromVersion: Type.Union([Type.Integer(), Type.Null()], {
    description: 'grants under a notice version below this one no longer count (a material change)',
  }),
  reconsentGraceDays: Type.Union([Type.Integer(), Type.Null()]),
  reconsentSince: Type.Union([Timestamp, Type.Null()], {
    description: 'when the latest material change was published',
  }),
  reconsentGraceUntil: Type.Union([Timestamp, Type.Null()], {
    description: 'until when grants it superseded still count; null: no grace',
  }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export type PurposeViewT = Static<typeof PurposeView>
export const PurposeList = Type.Object({
  purposes: Type.Array(PurposeView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})

export const PublishNoticeBody = Type.Object(
  {
    language: Type.String({ pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$', description: 'BCP 47 language tag' }),
    text: Type.String({ minLength: 1, maxLength: 100_000, description: 'the exact text shown to the subject' }),
    purposes: Type.Array(PurposeKey, { minItems: 1, maxItems: 100, uniqueItems: true }),
    materialChange: Type.Boolean({
      description: 'grants under earlier versions of the purposes covered need re-consent',
    }),
  },
  Strict,
)
export type PublishNoticeInput = Static<typeof PublishNoticeBody>

export const NoticeView = Type.Object({
  version: Type.Integer(),
  language: Type.String(),
  text: Type.String(),
  sha256: Type.String({ description: 'hex SHA-256 of the text’s UTF-8 bytes' }),
  purposes: Type.Array(Type.String()),
  materialChange: Type.Boolean(),
  publishedAt: Timestamp,
})
export type NoticeViewT = Static<typeof NoticeView>
export const NoticeList = Type.Object({
  notices: Type.Array(Type.Omit(NoticeView, ['text'])),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})

export const SubjectId = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'the host application’s id of the data subject (never stored in clear)',
})
const HostEventId = Type.String({
  pattern: '^[\\x21-\\x7e]{1,200}$',
  description: 'the host application’s id of the event: a retry with the same id and body answers the first event',
})
const Evidence = Type.Object(
  {
    ip: Type.Optional(Type.String({ maxLength: 64 })),
    userAgent: Type.Optional(Type.String({ maxLength: 512 })),
    formId: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { ...Strict, description: 'sealed with the subject’s key; erasure makes it unreadable' },
)
const HostActor = Type.Object(
  {
    type: Type.Union([Type.Literal('subject'), Type.Literal('staff'), Type.Literal('system')]),
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  Strict,
)

export const RecordEventBody = Type.Object(
  {
    id: HostEventId,
    subject: SubjectId,
    purpose: PurposeKey,
    action: Type.Union([
      Type.Literal('grant'),
      Type.Literal('deny'),
      Type.Literal('withdraw'),
      Type.Literal('expire'),
      Type.Literal('object'),
    ]),
    method: Type.Union([
      Type.Literal('form'),
      Type.Literal('button'),
      Type.Literal('api'),
      Type.Literal('double_opt_in'),
      Type.Literal('import'),
      Type.Literal('staff'),
    ]),
    noticeVersion: Type.Optional(Type.Integer({ minimum: 1, description: 'required for a grant' })),
    collectedAt: Type.Optional(Timestamp),
    actor: Type.Optional(HostActor),
    evidence: Type.Optional(Evidence),
  },
  Strict,
)
export type RecordEventInput = Static<typeof RecordEventBody>

export const WithdrawBody = Type.Object(
  {
    id: Type.Optional(HostEventId),
    subject: SubjectId,
    purposes: Type.Array(PurposeKey, { minItems: 1, maxItems: 100, uniqueItems: true }),
    method: Type.Optional(
      Type.Union([
        Type.Literal('form'),
        Type.Literal('button'),
        Type.Literal('api'),
        Type.Literal('import'),
        Type.Literal('staff'),
      ]),
    ),
    actor: Type.Optional(HostActor),
    evidence: Type.Optional(Evidence),
  },
  Strict,
)
export type WithdrawInput = Static<typeof WithdrawBody>

export const ConsentEventView = Type.Object({
  id: Uuid,
  appEventId: Type.Union([Type.String(), Type.Null()]),
  purpose: Type.String(),
  action: Type.String(),
  lawfulBasis: Basis,
  noticeVersion: Type.Union([Type.Integer(), Type.Null()]),
  noticeSha256: Type.Union([Type.String(), Type.Null()]),
  method: Type.String(),
  collectedAt: Timestamp,
  receivedAt: Timestamp,
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  gpcConflict: Type.Boolean({ description: 'an explicit opt-in sent with a GPC signal that opts this purpose out' }),
  objectionId: Type.Union([Uuid, Type.Null()]),
})
export type ConsentEventViewT = Static<typeof ConsentEventView>

export const RecordResult = Type.Object({
  status: Type.Union([Type.Literal('recorded'), Type.Literal('duplicate')]),
  event: ConsentEventView,
  gpcEvents: Type.Array(ConsentEventView, { description: 'events the request’s Sec-GPC: 1 signal recorded' }),
})
export type RecordResultT = Static<typeof RecordResult>

export const WithdrawResult = Type.Object({
  status: Type.Union([Type.Literal('recorded'), Type.Literal('duplicate')]),
  events: Type.Array(ConsentEventView),
})
export type WithdrawResultT = Static<typeof WithdrawResult>

const OneCheck = Type.Object({ subject: SubjectId, purpose: PurposeKey }, Strict)
export const CheckBody = Type.Union(
  [OneCheck, Type.Object({ checks: Type.Array(OneCheck, { minItems: 1, maxItems: 100 }) }, Strict)],
  { minProperties: 1, description: 'one check, or `checks`: up to 100' },
)
export type CheckInput = Static<typeof OneCheck>

export const REASONS = [
  'granted',
  'lawful_basis',
  'unknown_purpose',
  'unknown_subject',
  'no_consent',
  'denied',
  'withdrawn',
  'expired',
  'objected',
  'objection_pending',
  'restricted',
  'erased',
  'reconsent_grace',
  'reconsent_required',
] as const
export type Reason = (typeof REASONS)[number]

export const Decision = Type.Object({
  purpose: Type.String(),
  allowed: Type.Boolean(),
  basis: Type.Union([Basis, Type.Null()]),
  reason: Type.String({ description: `why: ${REASONS.join(', ')}` }),
  eventId: Type.Union([Uuid, Type.Null()], { description: 'the consent event that decided, if one did' }),
  noticeVersion: Type.Union([Type.Integer(), Type.Null()]),
  expiresAt: Type.Union([Timestamp, Type.Null()], { description: 'when the deciding grant lapses' }),
  token: Type.String({ description: 'compact JWS (EdDSA) of the decision; docs/consent.md#decision-tokens' }),
  tokenExpiresAt: Timestamp,
})
export type DecisionT = Static<typeof Decision>
export const CheckResult = Type.Union([Decision, Type.Object({ decisions: Type.Array(Decision) })])

export const ObjectionView = Type.Object({
  id: Uuid,
  purpose: Type.String(),
  eventId: Uuid,
  openedAt: Timestamp,
  dueAt: Timestamp,
  status: Type.Union([Type.Literal('pending'), Type.Literal('upheld'), Type.Literal('rejected')]),
  decidedAt: Type.Union([Timestamp, Type.Null()]),
  grounds: Type.Union([Type.String(), Type.Null()]),
  decisionEventId: Type.Union([Uuid, Type.Null()]),
  overdue: Type.Boolean({ description: 'pending past its due date (Art. 12(3))' }),
})
export type ObjectionViewT = Static<typeof ObjectionView>
export const ObjectionList = Type.Object({
  objections: Type.Array(ObjectionView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})
export const DecideObjectionBody = Type.Object(
  {
    decision: Type.Union([Type.Literal('upheld'), Type.Literal('rejected')]),
    grounds: Type.String({
      minLength: 1,
      maxLength: 4000,
      pattern: '\\S',
      description: 'the controller’s recorded grounds (Art. 21(1)); kept in clear: no personal data',
    }),
  },
  Strict,
)
export type DecideObjectionInput = Static<typeof DecideObjectionBody>

/** Why a subject must consent again (docs/consent.md#re-consent). */
export const ReconsentReasonSchema = Type.Union([Type.Literal('material_change'), Type.Literal('lifetime_ended')], {
  description:
    '`material_change`: a notice version covering the purpose was a material change since the grant; `lifetime_ended`: the grant’s lifetime ended',
})
export type ReconsentReason = Static<typeof ReconsentReasonSchema>
export const ObjectionQuery = pageQuery({
  due: Type.Optional(
    Type.Union([Type.Literal('pending'), Type.Literal('overdue')], {
      description: '`pending`: the objections under review, soonest due first; `overdue`: those past their due date',
    }),
  ),
})
export const ReconsentQuery = pageQuery({ purpose: PurposeKey, reason: ReconsentReasonSchema })
export const ReconsentList = Type.Object({
  purpose: Type.String(),
  reason: ReconsentReasonSchema,
  subjects: Type.Array(
    Type.Object({
      subject: Type.String({ description: 'the subject’s keyed reference (base64url), as in decision tokens' }),
      eventId: Uuid,
      noticeVersion: Type.Union([Type.Integer(), Type.Null()], { description: 'the notice of the grant' }),
      since: Timestamp,
      allowedUntil: Timestamp,
    }),
  ),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})
export type ReconsentListT = Static<typeof ReconsentList>
