import { sql, type Insertable, type RawBuilder, type Selectable } from 'kysely'
import type { Trx } from '../../db/tenant.ts'
import type {
  ConsentEventsTable,
  ConsentNoticesTable,
  ConsentObjectionsTable,
  ConsentPurposesTable,
  ConsentStateTable,
} from './consent.tables.ts'

/** SQL of the consent module: the transaction first; rows or undefined. Every table is under RLS. */

export type PurposeRow = Selectable<ConsentPurposesTable>
export type NoticeRow = Selectable<ConsentNoticesTable>
export type EventRow = Selectable<ConsentEventsTable>
export type StateRow = Selectable<ConsentStateTable>
export type ObjectionRow = Selectable<ConsentObjectionsTable>

export async function purposeByKey(trx: Trx, key: string, lock = false): Promise<PurposeRow | undefined> {
  let q = trx.selectFrom('consent_purposes').selectAll().where('key', '=', key)
  if (lock) q = q.forUpdate()
  return q.executeTakeFirst()
}

export async function purposesByKeys(trx: Trx, keys: readonly string[]): Promise<PurposeRow[]> {
  if (keys.length === 0) return []
  return trx.selectFrom('consent_purposes').selectAll().where('key', 'in', keys).execute()
}

/** The purposes a GPC signal opts out of (few per org: the org's own catalogue). */
export async function gpcPurposes(trx: Trx): Promise<PurposeRow[]> {
  return trx.selectFrom('consent_purposes').selectAll().where('gpc_effect', '=', 'opt_out').orderBy('key').execute()
}

export async function insertPurpose(trx: Trx, row: Insertable<ConsentPurposesTable>): Promise<PurposeRow | undefined> {
  return trx
    .insertInto('consent_purposes')
    .values(row)
    .onConflict((oc) => oc.columns(['org_id', 'key']).doNothing())
    .returningAll()
    .executeTakeFirst()
}

export async function updatePurpose(
  trx: Trx,
  id: string,
  changes: Partial<Omit<Insertable<ConsentPurposesTable>, 'id' | 'org_id' | 'key' | 'lawful_basis'>>,
): Promise<PurposeRow> {
  return trx.updateTable('consent_purposes').set(changes).where('id', '=', id).returningAll().executeTakeFirstOrThrow()
}

export async function newestNoticeVersion(trx: Trx): Promise<number> {
  const row = await trx
    .selectFrom('consent_notices')
    .select('version')
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row?.version ?? 0
}

export async function noticeByVersion(trx: Trx, version: number): Promise<NoticeRow | undefined> {
  return trx.selectFrom('consent_notices').selectAll().where('version', '=', version).executeTakeFirst()
}

/** Inserts a notice version; undefined when another publication took the version first. */
export async function insertNotice(trx: Trx, row: Insertable<ConsentNoticesTable>): Promise<NoticeRow | undefined> {
  return trx
    .insertInto('consent_notices')
    .values(row)
    .onConflict((oc) => oc.columns(['org_id', 'version']).doNothing())
    .returningAll()
    .executeTakeFirst()
}

/**
 * Claims the event: inserted, or undefined when the org already has an event with this
 * host id (a concurrent first attempt makes this wait for its commit, then answer undefined).
 */
export async function insertEvent(trx: Trx, row: Insertable<ConsentEventsTable>): Promise<EventRow | undefined> {
  return trx
    .insertInto('consent_events')
    .values(row)
    .onConflict((oc) => oc.columns(['org_id', 'app_event_id']).doNothing())
    .returningAll()
    .executeTakeFirst()
}

export async function eventByAppId(trx: Trx, appEventId: string): Promise<EventRow | undefined> {
  return trx.selectFrom('consent_events').selectAll().where('app_event_id', '=', appEventId).executeTakeFirst()
}

/** When the event `id` was collected (the host app's time of the person's act), or undefined. */
export async function collectedAtOf(trx: Trx, id: string): Promise<Date | undefined> {
  const row = await trx.selectFrom('consent_events').select('collected_at').where('id', '=', id).executeTakeFirst()
  return row?.collected_at
}

/** Events a GPC signal recorded beside the event `sourceId`. */
export async function eventsFrom(trx: Trx, sourceId: string): Promise<EventRow[]> {
  return trx
    .selectFrom('consent_events')
    .selectAll()
    .where('source_event_id', '=', sourceId)
    .orderBy('received_at')
    .orderBy('id')
    .execute()
}

/** The current state of one subject for one purpose, locked: events of one subject and purpose apply in turn. */
export async function lockState(trx: Trx, subjectRef: Buffer, purposeId: string): Promise<StateRow | undefined> {
  return trx
    .selectFrom('consent_state')
    .selectAll()
    .where('subject_ref', '=', subjectRef)
    .where('purpose_id', '=', purposeId)
    .forUpdate()
    .executeTakeFirst()
}

export async function upsertState(trx: Trx, row: Insertable<ConsentStateTable>): Promise<void> {
  const { org_id: _org, subject_ref: _ref, purpose_id: _purpose, ...changes } = row
  await trx
    .insertInto('consent_state')
    .values(row)
    .onConflict((oc) => oc.columns(['org_id', 'subject_ref', 'purpose_id']).doUpdateSet(changes))
    .execute()
}

export async function insertObjection(trx: Trx, row: Insertable<ConsentObjectionsTable>): Promise<void> {
  await trx.insertInto('consent_objections').values(row).execute()
}

export async function objectionById(trx: Trx, id: string, lock = false): Promise<ObjectionRow | undefined> {
  let q = trx.selectFrom('consent_objections').selectAll().where('id', '=', id)
  if (lock) q = q.forUpdate()
  return q.executeTakeFirst()
}

export async function decideObjection(
  trx: Trx,
  id: string,
  decision: { status: 'upheld' | 'rejected'; at: Date; by: string; grounds: string; eventId: string },
): Promise<ObjectionRow> {
  return trx
    .updateTable('consent_objections')
    .set({
      status: decision.status,
      decided_at: decision.at,
      decided_by: decision.by,
      grounds: decision.grounds,
      decision_event_id: decision.eventId,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function purposeKeysByIds(trx: Trx, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map()
  const rows = await trx.selectFrom('consent_purposes').select(['id', 'key']).where('id', 'in', ids).execute()
  return new Map(rows.map((r) => [r.id, r.key]))
}

/** What a check reads for one subject and purpose: one statement, each table by its primary key. */
export interface CheckRow {
  purpose_id: string
  lawful_basis: ConsentPurposesTable['lawful_basis']
  reconsent_from_version: number | null
  reconsent_grace_until: Date | null
  reconsent_hard_version: number | null
  state: ConsentStateTable['state'] | null
  state_key_id: string | null
  event_id: string | null
  notice_version: number | null
  expires_at: Date | null
  subject_key_id: string | null
  restricted: boolean | null
  shredded: boolean | null
}

/**
 * The purpose, the subject's state for it, and the subject's key row, in one indexed read
 * (a check answers from here alone), for each of `items`, as one statement (one round trip,
 * one snapshot, whatever the batch's size) and the reader of its rows: in the order of
 * `items`, undefined where the purpose is unknown. The subject's key row belongs to the
 * privacy module: read, never written, for the two facts a check must not miss in the same
 * snapshot — restriction (Art. 18) and erasure (the key shredded, or renewed since the state
 * was written). A batch's subject references travel as hex text (`decode` in SQL) so that
 * both engines bind them the same way.
 *
 * Run with `queryInOrg` (src/db/tenant.ts): the transaction's opening, the statement and
 * COMMIT in one round trip.
 */
export function checkStatement(items: readonly { purposeKey: string; subjectRef: Buffer }[]): {
  query: RawBuilder<CheckRow & { n?: string }>
  rows: (result: readonly (CheckRow & { n?: string })[]) => (CheckRow | undefined)[]
} {
  if (items.length === 1) {
    const [{ purposeKey, subjectRef }] = items as [{ purposeKey: string; subjectRef: Buffer }]
    return {
      query: sql<CheckRow>`
    SELECT p.id AS purpose_id, p.lawful_basis, p.reconsent_from_version, p.reconsent_grace_until, p.reconsent_hard_version,
           s.state, s.subject_key_id AS state_key_id, s.event_id, s.notice_version, s.expires_at,
           k.key_id AS subject_key_id, k.restricted_at IS NOT NULL AS restricted, k.shredded_at IS NOT NULL AS shredded
      FROM consent_purposes p
      LEFT JOIN consent_state s ON s.org_id = p.org_id AND s.subject_ref = ${subjectRef} AND s.purpose_id = p.id
      LEFT JOIN subject_keys k ON k.org_id = p.org_id AND k.subject_ref = ${subjectRef}
     WHERE p.org_id = custodian_current_org() AND p.key = ${purposeKey}`,
      rows: (result) => [result[0]],
    }
  }
  const keys = items.map((item) => item.purposeKey)
  const refs = items.map((item) => item.subjectRef.toString('hex'))
  return {
    query: sql<Omit<CheckRow, 'purpose_id'> & { n: string; purpose_id: string }>`
    SELECT i.n, p.id AS purpose_id, p.lawful_basis, p.reconsent_from_version, p.reconsent_grace_until, p.reconsent_hard_version,
           s.state, s.subject_key_id AS state_key_id, s.event_id, s.notice_version, s.expires_at,
           k.key_id AS subject_key_id, k.restricted_at IS NOT NULL AS restricted, k.shredded_at IS NOT NULL AS shredded
      FROM unnest(${keys}::text[], ${refs}::text[]) WITH ORDINALITY AS i (purpose_key, subject_hex, n)
      -- Each table by its primary key, as the single check reads it (a nested loop of index
      -- lookups per item, checked with EXPLAIN on a generic plan).
      LEFT JOIN consent_purposes p ON p.org_id = custodian_current_org() AND p.key = i.purpose_key
      LEFT JOIN consent_state s ON s.org_id = p.org_id AND s.subject_ref = decode(i.subject_hex, 'hex') AND s.purpose_id = p.id
      LEFT JOIN subject_keys k ON k.org_id = p.org_id AND k.subject_ref = decode(i.subject_hex, 'hex')
     ORDER BY i.n`,
    rows: (result) => {
      const rows = Array.from<CheckRow | undefined>({ length: items.length })
      // purpose_id is null where the purpose is unknown (the LEFT JOIN found none).
      for (const { n, purpose_id, ...row } of result)
        if ((purpose_id as string | null) !== null) rows[Number(n) - 1] = { purpose_id, ...row }
      return rows
    },
  }
}
