import { sql } from 'kysely'
import type { Trx } from '../../db/tenant.ts'
import type { NewAuditEventRow } from './audit.store.ts'

/** SQL for the host application's events. Every function takes the transaction first. */

export interface AppEventClaim {
  appEventId: string
  /** The Custodian event id it becomes if it is new. */
  eventId: string
  fingerprint: Buffer
}

/**
 * Claims application event ids: inserts those not seen before and returns them. An id
 * another transaction holds uncommitted makes this one wait for it (the primary key), then
 * count as seen; so two requests with one id at once give one event. Ids are claimed in
 * sorted order, so two batches sharing ids wait for each other instead of deadlocking.
 */
export async function claimAppEvents(trx: Trx, orgId: string, claims: readonly AppEventClaim[]): Promise<Set<string>> {
  if (claims.length === 0) return new Set()
  const sorted = [...claims].sort((a, b) => (a.appEventId < b.appEventId ? -1 : a.appEventId > b.appEventId ? 1 : 0))
  const { rows } = await sql<{ app_event_id: string }>`
    INSERT INTO audit_app_events (org_id, app_event_id, event_id, fingerprint)
    SELECT ${orgId}::uuid, c.app_event_id, c.event_id, decode(c.fingerprint, 'hex')
      FROM unnest(${sorted.map((c) => c.appEventId)}::text[], ${sorted.map((c) => c.eventId)}::uuid[],
                  ${sorted.map((c) => c.fingerprint.toString('hex'))}::text[]) WITH ORDINALITY AS c(app_event_id, event_id, fingerprint, n)
     ORDER BY c.n
    ON CONFLICT (org_id, app_event_id) DO NOTHING
    RETURNING app_event_id`.execute(trx)
  return new Set(rows.map((r) => r.app_event_id))
}

/** Application event ids already recorded in the org: the event each became and its fingerprint. */
export async function recordedAppEvents(
  trx: Trx,
  orgId: string,
  appEventIds: readonly string[],
): Promise<Map<string, { eventId: string; fingerprint: Buffer }>> {
  if (appEventIds.length === 0) return new Map()
  const rows = await trx
    .selectFrom('audit_app_events')
    .select(['app_event_id', 'event_id', 'fingerprint'])
    .where('org_id', '=', orgId)
    .where('app_event_id', 'in', appEventIds)
    .execute()
  return new Map(rows.map((r) => [r.app_event_id, { eventId: r.event_id, fingerprint: Buffer.from(r.fingerprint) }]))
}

/**
 * Writes events and their places in the sequencer's queue in one statement, and their
 * sealed personal fields in a second.
 */
/** An event's personal fields as the privacy module sealed them. */
export interface SealedFields {
  eventId: string
  orgId: string
  subjectRef: Buffer
  sealed: Buffer
}

export async function insertEvents(
  trx: Trx,
  rows: readonly NewAuditEventRow[],
  personal: readonly SealedFields[],
): Promise<void> {
  if (rows.length === 0) return
  await trx
    .with('event', (db) =>
      db
        .insertInto('audit_events')
        .values([...rows])
        .returning(['org_id', 'id']),
    )
    .insertInto('audit_unchained')
    .columns(['org_id', 'id'])
    .expression((db) => db.selectFrom('event').select(['org_id', 'id']))
    .execute()
  if (personal.length > 0)
    await trx
      .insertInto('audit_personal')
      .values(
        personal.map((p) => ({ event_id: p.eventId, org_id: p.orgId, subject_ref: p.subjectRef, sealed: p.sealed })),
      )
      .execute()
}

/** The provider's event schema as any org's request reads it; undefined before one is declared. */
export async function providerSchema(
  trx: Trx,
): Promise<{ document: unknown; version: number; updatedAt: Date } | undefined> {
  const { rows } = await sql<{
    document: unknown
    version: number
    updated_at: Date
  }>`SELECT document, version, updated_at FROM custodian_provider_event_schema()`.execute(trx)
  const row = rows[0]
  return row === undefined ? undefined : { document: row.document, version: row.version, updatedAt: row.updated_at }
}

/** Stores the org's (the provider's) schema at the next version; returns that version. */
export async function saveSchema(trx: Trx, orgId: string, document: unknown, by: string): Promise<number> {
  const row = await trx
    .insertInto('audit_event_schemas')
    .values({ org_id: orgId, document: JSON.stringify(document), version: 1, updated_by: by })
    .onConflict((oc) =>
      oc.column('org_id').doUpdateSet((eb) => ({
        document: eb.ref('excluded.document'),
        version: sql<number>`audit_event_schemas.version + 1`,
        updated_at: sql<Date>`now()`,
        updated_by: eb.ref('excluded.updated_by'),
      })),
    )
    .returning('version')
    .executeTakeFirstOrThrow()
  return row.version
}
