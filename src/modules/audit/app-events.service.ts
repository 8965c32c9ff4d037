import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { isDatabaseUnavailable, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { Subjects } from '../privacy/subjects.ts'
import { canonicalJson } from './audit.format.ts'
import type { NewAuditEventRow } from './audit.store.ts'
import type { AuditService } from './audit.service.ts'
import type { AuditEventView } from './audit.types.ts'
import * as store from './app-events.store.ts'
import {
  checkEvent,
  checkSchema,
  OPEN_SCHEMA,
  pointerToken,
  reservedFamily,
  type EventSchema,
  type Problem,
} from './app-events.schema.ts'

/**
 * The host application's own events in the org's audit log (issue 14 §1;
 * docs/application-events.md). An application event is written like any of Custodian's —
 * one row in `audit_events` and its place in the sequencer's queue, in the request's own
 * transaction — and chained, checkpointed, witnessed, exported, verified and watched by the
 * alert rules like them; it is marked `origin: application` and holds what the application
 * said (its event id, actor, targets, time, metadata) in `details`, with the Custodian
 * principal that recorded it as `details.recordedBy`.
 *
 * Idempotent by the application's event id, per org: the id is claimed (a primary key) in
 * the transaction that writes the event, so a retry, even one running at the same time as
 * the first attempt, answers the event the first one wrote; the same id with other content
 * is a 409 and writes nothing. A batch is one transaction: all of it or none.
 *
 * Personal fields (`personal`, with the data subject's id in `subject`) are sealed with the
 * subject's key by the privacy module, exactly as Custodian's own personal fields are: the
 * chained event holds their commitment, and erasing the subject leaves it verifiable.
 */
export interface AppEventInput {
  /** The application's own id for the event: what makes a retry a retry. */
  id: string
  action: string
  actor: { id: string; type: string; name?: string | undefined }
  targets?: { type: string; id: string; name?: string | undefined }[] | undefined
  outcome?: 'success' | 'denied' | 'failure' | undefined
  /** When it happened, as the application says (RFC 3339); the time of recording if absent. */
  occurredAt?: string | undefined
  ip?: string | undefined
  userAgent?: string | undefined
  metadata?: Record<string, unknown> | undefined
  /** The data subject whose key seals `personal`. */
  subject?: string | undefined
  personal?: Record<string, unknown> | undefined
}

export interface RecordedAppEvent {
  /** The application's id. */
  id: string
  /** Custodian's id of the event (receipts, the events page). */
  eventId: string
  /** `duplicate`: recorded before with the same content; this is that event. */
  status: 'recorded' | 'duplicate'
}

export interface EventSchemaView {
  schema: EventSchema
  /** 0 before the provider declares one (then every action and key is accepted). */
  version: number
  updatedAt: string | null
}

export interface AppEventsService {
  /**
   * Records a batch (all or nothing), answering each event in the order given. Throws
   * AppError: VALIDATION_FAILED naming each problem under `at` (`/body` for one event,
   * `/body/events` for a batch: `/body/events/3/action`); PAYLOAD_TOO_LARGE for an event
   * whose details would exceed {@link MAX_EVENT_DETAILS_BYTES}; APP_EVENT_CONFLICT for an id
   * recorded (or repeated in the batch) with other content; AUDIT_UNAVAILABLE if the events
   * cannot be written.
   */
  record(
    ctx: RequestContext,
    events: readonly AppEventInput[],
    at: '/body' | '/body/events',
  ): Promise<RecordedAppEvent[]>
  /** {@link record} of one event, answered with the event as the events page shows it. */
  recordOne(
    ctx: RequestContext,
    event: AppEventInput,
  ): Promise<{ status: RecordedAppEvent['status']; event: AuditEventView }>
  /** The provider's event schema, which applies to every org's application events. */
  schema(ctx: RequestContext): Promise<EventSchemaView>
  /** Replaces the provider's schema (provider org only), audited as `audit.event_schema.update`. */
  setSchema(ctx: RequestContext, schema: EventSchema): Promise<EventSchemaView>
}

/**
 * Bytes of an application event's details (JCS: its id, time, recorder, actor name, targets,
 * metadata, commitment) — well within the 60,000 bytes any audit event's details may take.
 */
export const MAX_EVENT_DETAILS_BYTES = 32_768

/** How far ahead of the server's clock `occurredAt` may be (clock skew), in ms. */
const FUTURE_SKEW_MS = 5 * 60_000

/** `,"personal":"sha256:<64 hex>"` in JCS: what the seal adds to the details. */
const COMMITMENT_BYTES = 85

/** One distinct event of a request: where it was (`i`), what it says, the id it claims. */
interface Claimed {
  i: number
  event: AppEventInput
  claim: store.AppEventClaim
}

export function createAppEventsService(deps: {
  db: Kysely<DB>
  hmacKey: Buffer
  audit: Pick<AuditService, 'append' | 'event'>
  /** The privacy module's subject keys (created after this module): seals personal fields. */
  subjects: () => Pick<Subjects, 'personal'>
}): AppEventsService {
  const { db, hmacKey, audit } = deps

  /** Keyed, so that the stored fingerprint reveals nothing of personal fields. */
  const fingerprintOf = (event: AppEventInput) =>
    createHmac('sha256', hmacKey).update('custodian application event\0').update(canonicalJson(event)).digest()

  /** What can be refused before the database is asked; `detailsOf` without the seal is sized here. */
  function precheck(ctx: RequestContext, event: AppEventInput, path: string, now: number): Problem[] {
    const problems: Problem[] = []
    const family = reservedFamily(event.action)
    if (family !== undefined)
      problems.push({
        path: `${path}/action`,
        message: `the ${family} family is Custodian’s own: an application event cannot take it`,
      })
    if (event.ip !== undefined && isIP(event.ip) === 0)
      problems.push({ path: `${path}/ip`, message: 'must be an IPv4 or IPv6 address' })
    if (event.occurredAt !== undefined && Date.parse(event.occurredAt) > now + FUTURE_SKEW_MS)
      problems.push({ path: `${path}/occurredAt`, message: 'lies more than 5 minutes in the future' })
    // JSON parses 1e400 as Infinity, which no canonical (JCS) form can hold: refused here, named.
    for (const part of ['metadata', 'personal'] as const) {
      const where = nonFinite(event[part], `${path}/${part}`)
      if (where !== undefined) problems.push({ path: where, message: 'must be a finite number' })
    }
    if ((event.personal === undefined) !== (event.subject === undefined))
      problems.push({
        path: `${path}/${event.personal === undefined ? 'personal' : 'subject'}`,
        message: 'personal and subject go together: the subject’s key seals the personal fields',
      })
    if (problems.length === 0) {
      const bytes = Buffer.byteLength(canonicalJson(detailsOf(ctx, event, new Date(now))), 'utf8') + COMMITMENT_BYTES
      if (bytes > MAX_EVENT_DETAILS_BYTES)
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `an application event’s targets, metadata and names may take at most ${MAX_EVENT_DETAILS_BYTES} bytes`,
          { errors: [{ path, message: `${bytes} bytes of details, more than ${MAX_EVENT_DETAILS_BYTES}` }] },
        )
    }
    return problems
  }

  function detailsOf(ctx: RequestContext, event: AppEventInput, at: Date): Record<string, unknown> {
    return {
      eventId: event.id,
      occurredAt: event.occurredAt === undefined ? at.toISOString() : new Date(event.occurredAt).toISOString(),
      recordedBy: actorOf(ctx.principal),
      ...(event.actor.name === undefined ? {} : { actorName: event.actor.name }),
      ...(event.targets === undefined || event.targets.length === 0 ? {} : { targets: event.targets }),
      ...(event.metadata === undefined ? {} : { metadata: event.metadata }),
    }
  }

  function rowOf(ctx: RequestContext, event: AppEventInput, eventId: string, commitment?: string): NewAuditEventRow {
    // Millisecond precision: the time is hashed as its ISO string and must read back equal.
    const time = new Date(Date.now())
    const target = event.targets?.[0]
    return {
      org_id: ctx.orgId,
      event_id: eventId,
      occurred_at: time,
      actor_type: event.actor.type,
      actor_id: event.actor.id,
      action: event.action,
      target_type: target?.type ?? null,
      target_id: target?.id ?? null,
      outcome: event.outcome ?? 'success',
      ip: event.ip ?? null,
      user_agent: event.userAgent ?? null,
      request_id: ctx.meta.requestId,
      details: canonicalJson({
        ...detailsOf(ctx, event, time),
        ...(commitment === undefined ? {} : { personal: commitment }),
      }),
      origin: 'application',
    }
  }

  async function loadSchema(trx: Trx): Promise<EventSchemaView> {
    const stored = await store.providerSchema(trx)
    if (stored === undefined) return { schema: OPEN_SCHEMA, version: 0, updatedAt: null }
    return {
      schema: stored.document as EventSchema,
      version: stored.version,
      updatedAt: stored.updatedAt.toISOString(),
    }
  }

  /**
   * The batch's events, one per id (a repeat with the same content is the same event),
   * each with its claim; a repeat with other content is a conflict.
   */
  function claimsOf(events: readonly AppEventInput[], pathOf: (i: number) => string): Claimed[] {
    const claimed = new Map<string, Claimed>()
    events.forEach((event, i) => {
      const fingerprint = fingerprintOf(event)
      const seen = claimed.get(event.id)
      if (seen === undefined)
        claimed.set(event.id, { i, event, claim: { appEventId: event.id, eventId: randomUUID(), fingerprint } })
      else if (!sameFingerprint(seen.claim.fingerprint, fingerprint))
        throw conflict(`${pathOf(i)}/id`, `${event.id} appears twice in this batch with different content`)
    })
    return [...claimed.values()]
  }

  /**
   * Writes the events whose ids are new (claimed by this transaction) and answers the others
   * with the events they became, refusing a known id with other content.
   */
  async function write(trx: Trx, ctx: RequestContext, claimed: Claimed[], pathOf: (i: number) => string) {
    const fresh = await store.claimAppEvents(
      trx,
      ctx.orgId,
      claimed.map((c) => c.claim),
    )
    const earlier = await store.recordedAppEvents(
      trx,
      ctx.orgId,
      claimed.filter((c) => !fresh.has(c.event.id)).map((c) => c.event.id),
    )
    const answers = new Map<string, RecordedAppEvent>()
    for (const { i, event, claim } of claimed) {
      if (fresh.has(event.id)) {
        answers.set(event.id, { id: event.id, eventId: claim.eventId, status: 'recorded' })
        continue
      }
      const recorded = earlier.get(event.id)
      if (recorded === undefined) throw new Error(`application event ${event.id}: claimed, yet not found`)
      if (!sameFingerprint(recorded.fingerprint, claim.fingerprint))
        throw conflict(`${pathOf(i)}/id`, `${event.id} was recorded before with other content`)
      answers.set(event.id, { id: event.id, eventId: recorded.eventId, status: 'duplicate' })
    }
    const written = claimed.filter((c) => fresh.has(c.event.id))
    // Sealed in the order of their subjects: a new subject's key is a row two batches may
    // both create, and taking those rows in one order keeps them from deadlocking.
    const commitments = new Map<string, string>()
    const personal: store.SealedFields[] = []
    for (const { event, claim } of written
      .filter((c) => c.event.subject !== undefined)
      .sort((x, y) => compare(x.event.subject as string, y.event.subject as string))) {
      const sealed = await deps
        .subjects()
        .personal(trx, ctx.orgId, event.subject as string, event.personal as Record<string, unknown>)
      commitments.set(claim.eventId, sealed.commitment)
      personal.push({ eventId: claim.eventId, orgId: ctx.orgId, subjectRef: sealed.subjectRef, sealed: sealed.sealed })
    }
    const rows = written.map(({ event, claim }) => rowOf(ctx, event, claim.eventId, commitments.get(claim.eventId)))
    try {
      await store.insertEvents(trx, rows, personal)
    } catch (error) {
      // Fail closed, as for any audit event: nothing of the request is kept. The database
      // gone meanwhile is its unavailability, not the audit log's (src/db/tenant.ts).
      if (isDatabaseUnavailable(error)) throw error
      throw new AppError('AUDIT_UNAVAILABLE', 'the audit log could not record these events', {}, { cause: error })
    }
    return answers
  }

  const service: AppEventsService = {
    async record(ctx, events, at) {
      const pathOf = (i: number) => (at === '/body' ? '/body' : `/body/events/${i}`)
      const now = Date.now()
      const problems = events.flatMap((event, i) => precheck(ctx, event, pathOf(i), now))
      if (problems.length > 0) throw invalid(problems)
      const claimed = claimsOf(events, pathOf)
      const answers = await withOrg(db, ctx.orgId, async (trx) => {
        const { schema } = await loadSchema(trx)
        const refused = claimed.flatMap(({ i, event }) =>
          checkEvent(schema, event).map((p) => ({ path: `${pathOf(i)}${p.path}`, message: p.message })),
        )
        if (refused.length > 0) throw invalid(refused)
        return write(trx, ctx, claimed, pathOf)
      })
      return events.map((event) => answers.get(event.id) as RecordedAppEvent)
    },

    async recordOne(ctx, event) {
      const [recorded] = await service.record(ctx, [event], '/body')
      const view = recorded === undefined ? undefined : await audit.event(ctx.orgId, recorded.eventId)
      if (recorded === undefined || view === undefined) throw new Error('an application event just recorded is missing')
      return { status: recorded.status, event: view }
    },

    async schema(ctx) {
      return withOrg(db, ctx.orgId, loadSchema)
    },

    async setSchema(ctx, schema) {
      if (ctx.principal.orgKind !== 'provider')
        throw new AppError('FORBIDDEN', 'only the provider org declares the application event schema', {
          permission: 'audit:schema',
        })
      const problems = checkSchema(schema).map((p) => ({ path: `/body${p.path}`, message: p.message }))
      if (problems.length > 0) throw invalid(problems)
      return withOrg(db, ctx.orgId, async (trx) => {
        const by = `${ctx.principal.kind}:${ctx.principal.id}`
        const version = await store.saveSchema(trx, ctx.orgId, schema, by)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'audit.event_schema.update',
          target: { type: 'event_schema', id: String(version) },
          outcome: 'success',
          details: {
            version,
            actions: Object.keys(schema.actions).length,
            unknownActions: schema.unknownActions,
            unknownKeys: schema.unknownKeys,
            // The document itself may be long; its digest names it exactly.
            sha256: createHash('sha256').update(canonicalJson(schema)).digest('hex'),
          },
          meta: ctx.meta,
        })
        return loadSchema(trx)
      })
    },
  }
  return service
}

/** The pointer of the first number JSON parsed to ±Infinity in `value`, if any. */
function nonFinite(value: unknown, path: string): string | undefined {
  const stack: [unknown, string][] = [[value, path]]
  while (stack.length > 0) {
    const [node, at] = stack.pop() as [unknown, string]
    if (typeof node === 'number' && !Number.isFinite(node)) return at
    if (node !== null && typeof node === 'object')
      for (const [key, child] of Object.entries(node)) stack.push([child, `${at}/${pointerToken(key)}`])
  }
  return undefined
}

/** Code-unit order, as the claims are sorted (never locale order, which may differ by host). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function sameFingerprint(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

function invalid(problems: Problem[]): AppError {
  return new AppError('VALIDATION_FAILED', problems[0]?.message ?? 'invalid application event', {
    errors: problems.slice(0, 20),
  })
}

function conflict(path: string, message: string): AppError {
  return new AppError('APP_EVENT_CONFLICT', message, { errors: [{ path, message }] })
}
