import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { newestFirst, type Page, type PageRequest, readPage } from '../../db/page.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import type { DataRecordsTable, PrivacyRequestsTable, RequestStatus } from './privacy.tables.ts'

/** SQL for the personal-data vault. Every function takes the transaction first; none decides a rule. */

export type RecordRow = Selectable<DataRecordsTable>

export async function insertRecord(trx: Trx, row: Insertable<DataRecordsTable>): Promise<RecordRow> {
  return trx.insertInto('data_records').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function findRecord(trx: Trx, id: string, forUpdate = false): Promise<RecordRow | undefined> {
  const query = trx.selectFrom('data_records').selectAll().where('id', '=', id)
  return (forUpdate ? query.forUpdate() : query).executeTakeFirst()
}

export async function recordsOf(trx: Trx, subjectRef: Buffer, dataClass?: string): Promise<RecordRow[]> {
  let query = trx.selectFrom('data_records').selectAll().where('subject_ref', '=', subjectRef)
  if (dataClass !== undefined) query = query.where('data_class', '=', dataClass)
  return query.orderBy('created_at').orderBy('id').limit(10_000).execute()
}

export async function updateRecord(
  trx: Trx,
  id: string,
  changes: Partial<Pick<RecordRow, 'ciphertext' | 'tags' | 'updated_at'>>,
): Promise<RecordRow> {
  return trx.updateTable('data_records').set(changes).where('id', '=', id).returningAll().executeTakeFirstOrThrow()
}

export async function deleteRecord(trx: Trx, id: string): Promise<void> {
  await trx.deleteFrom('data_records').where('id', '=', id).execute()
}

/** Deletes every record of a subject; returns how many, per data class. */
export async function deleteRecordsOf(trx: Trx, subjectRef: Buffer): Promise<Record<string, number>> {
  const rows = await sql<{ data_class: string; n: number }>`
    WITH gone AS (DELETE FROM data_records WHERE subject_ref = ${subjectRef} RETURNING data_class)
    SELECT data_class, count(*)::int AS n FROM gone GROUP BY data_class`.execute(trx)
  return Object.fromEntries(rows.rows.map((r) => [r.data_class, Number(r.n)]))
}

// ---- privacy requests ----

export type RequestRow = Selectable<PrivacyRequestsTable>

export async function insertRequest(trx: Trx, row: Insertable<PrivacyRequestsTable>): Promise<RequestRow> {
  return trx.insertInto('privacy_requests').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function findRequest(trx: Trx, id: string, forUpdate = false): Promise<RequestRow | undefined> {
  const query = trx.selectFrom('privacy_requests').selectAll().where('id', '=', id)
  return (forUpdate ? query.forUpdate() : query).executeTakeFirst()
}

/** Newest first (index `(org_id, received_at, id)`; of one status, `(org_id, status, received_at, id)`). */
const REQUESTS = newestFirst('received_at')

export async function listRequests(trx: Trx, page: PageRequest, status?: RequestStatus): Promise<Page<RequestRow>> {
  const all = trx.selectFrom('privacy_requests').selectAll()
  return readPage(trx, status === undefined ? all : all.where('status', '=', status), REQUESTS, page)
}

export async function updateRequest(
  trx: Trx,
  id: string,
  changes: Partial<Omit<Insertable<PrivacyRequestsTable>, 'id' | 'org_id'>>,
): Promise<RequestRow> {
  return trx.updateTable('privacy_requests').set(changes).where('id', '=', id).returningAll().executeTakeFirstOrThrow()
}

export async function addRequestEvent(
  trx: Trx,
  row: { id: string; request_id: string; org_id: string; at: Date; actor: string; event: string; details: string },
): Promise<void> {
  await trx.insertInto('privacy_request_events').values(row).execute()
}

export async function requestEvents(trx: Trx, requestId: string) {
  return trx
    .selectFrom('privacy_request_events')
    .selectAll()
    .where('request_id', '=', requestId)
    .orderBy('at')
    .orderBy('id')
    .execute()
}

/** Erasure: the sealed personal data of every request of the subject. */
/**
 * The erase request, other than `exceptId`, that erased the subject of `subjectRef` (or is
 * erasing it: `in_progress`), the latest if several; never one completed by naming another
 * (`result.alreadyErased`); undefined when none did.
 */
export async function erasureOfSubject(
  trx: Trx,
  subjectRef: Buffer,
  exceptId: string,
): Promise<Pick<RequestRow, 'id' | 'status' | 'result'> | undefined> {
  return (
    trx
      .selectFrom('privacy_requests')
      .select(['id', 'status', 'result'])
      .where('subject_ref', '=', subjectRef)
      .where('kind', '=', 'erase')
      .where('status', 'in', ['in_progress', 'completed'])
      .where('id', '<>', exceptId)
      // The erasure itself, not another request completed by naming it.
      .where(sql<boolean>`(result ->> 'alreadyErased') IS DISTINCT FROM 'true'`)
      .orderBy('received_at', 'desc')
      .limit(1)
      .executeTakeFirst()
  )
}

export async function erasePersonalOfRequests(trx: Trx, subjectRef: Buffer): Promise<void> {
  await trx.updateTable('privacy_requests').set({ sealed: null }).where('subject_ref', '=', subjectRef).execute()
}

export async function eraseExportsOf(trx: Trx, subjectRef: Buffer): Promise<number> {
  const result = await trx
    .updateTable('privacy_exports')
    .set({ sealed: null })
    .where('subject_ref', '=', subjectRef)
    .where('sealed', 'is not', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/** Open requests due before `before`, across orgs (owner connection). */
export async function requestsNearDue(
  trx: Trx,
  before: Date,
  refused: readonly string[],
): Promise<{ id: string; org_id: string }[]> {
  return trx
    .selectFrom('privacy_requests')
    .select(['id', 'org_id'])
    .where('status', 'in', ['open', 'in_progress'])
    .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
    .where('due_at', '<=', before)
    .limit(500)
    .execute()
}

/** Erases the content of expired exports, in each org's own transaction. */
export async function eraseExpiredExports(db: Kysely<DB>, now: Date): Promise<number> {
  const refused = orgsNotServed(db)
  const orgs = await withOwner(db, (trx) =>
    trx
      .selectFrom('privacy_exports')
      .select('org_id')
      .distinct()
      .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
      .where('sealed', 'is not', null)
      .where('expires_at', '<=', now)
      .execute(),
  )
  let erased = 0
  for (const { org_id: orgId } of orgs) {
    erased += await withOrg(db, orgId, async (trx) =>
      Number(
        (
          await trx
            .updateTable('privacy_exports')
            .set({ sealed: null })
            .where('sealed', 'is not', null)
            .where('expires_at', '<=', now)
            .executeTakeFirst()
        ).numUpdatedRows,
      ),
    )
  }
  return erased
}

export async function privacyPolicyOf(
  trx: Kysely<DB>,
  orgId: string,
): Promise<{ response_hours: number; export_hours: number }> {
  return (
    (await trx
      .selectFrom('org_privacy_policies')
      .select(['response_hours', 'export_hours'])
      .where('org_id', '=', orgId)
      .executeTakeFirst()) ?? { response_hours: 72, export_hours: 72 }
  )
}

export async function savePrivacyPolicy(
  trx: Trx,
  row: { org_id: string; response_hours: number; export_hours: number; updated_by: string },
): Promise<void> {
  await trx
    .insertInto('org_privacy_policies')
    .values(row)
    .onConflict((oc) =>
      oc.column('org_id').doUpdateSet({
        response_hours: row.response_hours,
        export_hours: row.export_hours,
        updated_by: row.updated_by,
        updated_at: new Date(),
      }),
    )
    .execute()
}
