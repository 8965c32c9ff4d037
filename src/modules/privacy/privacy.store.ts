import { sql, type Insertable, type Selectable } from 'kysely'
import type { Trx } from '../../db/tenant.ts'
import type { DataRecordsTable } from './privacy.tables.ts'

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

export async function updateRecord(trx: Trx, id: string, changes: Partial<Pick<RecordRow, 'ciphertext' | 'tags' | 'updated_at'>>): Promise<RecordRow> {
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
