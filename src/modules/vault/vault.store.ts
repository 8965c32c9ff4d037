import { sql, type Insertable, type Selectable, type SqlBool } from 'kysely'
import { inScope, type SecretPathLayers } from './secret-paths.ts'
import type { Trx } from '../../db/tenant.ts'
import { BY_NAME, type Page, type PageRequest, readPage, inIndexOrder } from '../../db/page.ts'
import type { SecretRotationsTable, SecretsTable, SecretType, SecretVersionsTable } from './vault.tables.ts'

/** SQL for the vault. Every function takes the (org-scoped) transaction first. */

export type SecretRow = Selectable<SecretsTable>
export type VersionRow = Selectable<SecretVersionsTable>
export type RotationRow = Selectable<SecretRotationsTable>

export async function insertSecret(trx: Trx, row: Insertable<SecretsTable>): Promise<SecretRow> {
  return trx.insertInto('secrets').values(row).returningAll().executeTakeFirstOrThrow()
}

/**
 * A page of the org's secrets by name: only those in `paths` (the caller's path scope, in
 * SQL, so neither a page nor its cursor ever carries a hidden one), only names starting
 * with `prefix` (literally) when given, only database credentials when `type` says so.
 */
export async function listSecrets(
  trx: Trx,
  page: PageRequest,
  filter: { paths: SecretPathLayers; prefix?: string | undefined; type?: SecretType | undefined },
): Promise<Page<SecretRow>> {
  const { paths, prefix, type } = filter
  const query = trx
    .selectFrom('secrets')
    .selectAll()
    .$if(type !== undefined, (q) => q.where('type', '=', type as SecretType))
    // The lower bound lets the (org_id, name) index start at the prefix.
    .$if(prefix !== undefined && prefix !== '', (q) =>
      q.where('name', '>=', prefix as string).where(sql<SqlBool>`starts_with(name, ${prefix})`),
    )
    .where((eb) => inScope(eb, 'name', paths) ?? eb.lit(true))
  return readPage(trx, query, BY_NAME, page)
}

/** The id of the secret named `name` in the transaction's org, if any. */
export async function secretIdByName(trx: Trx, name: string): Promise<string | undefined> {
  return (await trx.selectFrom('secrets').select('id').where('name', '=', name).executeTakeFirst())?.id
}

export async function findSecret(trx: Trx, id: string): Promise<SecretRow | undefined> {
  return secretQuery(trx, id).executeTakeFirst()
}

/** The secret's row, as a statement to run (`queryInOrg`: a read of one round trip). */
export function secretQuery(trx: Trx, id: string) {
  return trx.selectFrom('secrets').selectAll().where('id', '=', id)
}

/** The org's secret named `name` (names are unique in an org). */
export async function findSecretByName(trx: Trx, name: string): Promise<SecretRow | undefined> {
  return trx.selectFrom('secrets').selectAll().where('name', '=', name).executeTakeFirst()
}

/** The ids among `ids` that are secrets of the transaction's org (row-level security hides the rest). */
export async function secretIdsAmong(trx: Trx, ids: readonly string[]): Promise<string[]> {
  return (await trx.selectFrom('secrets').select('id').where('id', 'in', ids).execute()).map((r) => r.id)
}

/** The names of the secrets among `ids` in the transaction's org. */
export async function secretNamesAmong(trx: Trx, ids: readonly string[]): Promise<string[]> {
  return (await trx.selectFrom('secrets').select('name').where('id', 'in', ids).execute()).map((r) => r.name)
}

/** A secret and one of its versions (the current one by default) in one round trip. */
export async function findSecretWithVersion(
  trx: Trx,
  id: string,
  version: number | undefined,
): Promise<{ secret: SecretRow; version: VersionRow | undefined; signs: boolean } | undefined> {
  const secret = await trx
    .selectFrom('secrets as s')
    .leftJoin('secret_versions as v', (join) =>
      join
        .onRef('v.secret_id', '=', 's.id')
        .on('v.version', '=', version === undefined ? sql<number>`s.current_version` : sql<number>`${version}::int`),
    )
    .selectAll('s')
    .select([
      'v.version as v_version',
      'v.kek_version as v_kek_version',
      'v.wrapped_dek as v_wrapped_dek',
      'v.ciphertext as v_ciphertext',
      'v.created_by as v_created_by',
      'v.created_at as v_created_at',
      'v.destroyed_at as v_destroyed_at',
      'v.deleted_at as v_deleted_at',
      'v.org_id as v_org_id',
      // A feature's signing secret (a webhook's, a consent recipient's): in the same
      // statement, through the (org_id, secret_id) indexes of migration 0056.
      sql<boolean>`EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = s.org_id AND w.secret_id = s.id)
        OR EXISTS (SELECT 1 FROM consent_recipients r WHERE r.org_id = s.org_id AND r.secret_id = s.id)`.as('signs'),
    ])
    .where('s.id', '=', id)
    .executeTakeFirst()
  if (secret === undefined) return undefined
  const {
    signs,
    v_version,
    v_kek_version,
    v_wrapped_dek,
    v_ciphertext,
    v_created_by,
    v_created_at,
    v_destroyed_at,
    v_deleted_at,
    v_org_id,
    ...row
  } = secret
  const versionRow =
    v_version === null
      ? undefined
      : {
          org_id: v_org_id as string,
          secret_id: id,
          version: v_version,
          kek_version: v_kek_version,
          wrapped_dek: v_wrapped_dek,
          ciphertext: v_ciphertext,
          created_by: v_created_by as string,
          created_at: v_created_at as Date,
          destroyed_at: v_destroyed_at,
          deleted_at: v_deleted_at,
        }
  return { secret: row, version: versionRow, signs }
}

/** Locks the secret row: versions of one secret are added one at a time. */
export async function lockSecret(trx: Trx, id: string): Promise<SecretRow | undefined> {
  return trx.selectFrom('secrets').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
}

export async function setCurrentVersion(trx: Trx, id: string, version: number, metadata: string): Promise<SecretRow> {
  return trx
    .updateTable('secrets')
    .set({ current_version: version, metadata, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function markRevealed(trx: Trx, id: string): Promise<void> {
  await sql`UPDATE secrets SET last_revealed_at = now() WHERE id = ${id} AND (last_revealed_at IS NULL OR last_revealed_at < now() - interval '1 minute')`.execute(
    trx,
  )
}

export async function recordCheck(trx: Trx, id: string, check: { checkedAt: string }): Promise<SecretRow> {
  return trx
    .updateTable('secrets')
    .set({ last_check: JSON.stringify(check), last_checked_at: new Date(check.checkedAt) })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** Lifts the block on the secret; `exposed_version` stays, so the versions it covers stay refused. */
export async function clearExposure(trx: Trx, id: string): Promise<SecretRow> {
  return trx
    .updateTable('secrets')
    .set({ exposed_at: null })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** Blocks the secret and raises (never lowers) the highest version reported exposed. */
export async function markExposed(trx: Trx, id: string, version: number): Promise<SecretRow> {
  return trx
    .updateTable('secrets')
    .set({ exposed_at: new Date(), exposed_version: sql<number>`greatest(coalesce(exposed_version, 0), ${version})` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function setPaused(trx: Trx, id: string, paused: boolean): Promise<SecretRow> {
  return trx
    .updateTable('secrets')
    .set({ paused_at: paused ? new Date() : null })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function deleteSecret(trx: Trx, id: string): Promise<void> {
  await trx.deleteFrom('secrets').where('id', '=', id).execute()
}

export async function insertVersion(trx: Trx, row: Insertable<SecretVersionsTable>): Promise<void> {
  await trx.insertInto('secret_versions').values(row).execute()
}

export async function findVersion(trx: Trx, secretId: string, version: number): Promise<VersionRow | undefined> {
  return trx
    .selectFrom('secret_versions')
    .selectAll()
    .where('secret_id', '=', secretId)
    .where('version', '=', version)
    .executeTakeFirst()
}

export async function maxVersion(trx: Trx, secretId: string): Promise<number> {
  const row = await trx
    .selectFrom('secret_versions')
    .select((eb) => eb.fn.max('version').as('v'))
    .where('secret_id', '=', secretId)
    .executeTakeFirst()
  return Number(row?.v ?? 0)
}

/** A page of a secret's versions, newest first, older than `before` (the primary key's order). */
export async function listVersions(
  trx: Trx,
  secretId: string,
  page: { limit: number; before?: number | undefined },
): Promise<VersionRow[]> {
  let query = trx.selectFrom('secret_versions').selectAll().where('secret_id', '=', secretId)
  if (page.before !== undefined) query = query.where('version', '<', page.before)
  return inIndexOrder(trx, () => query.orderBy('version', 'desc').limit(page.limit).execute())
}

/** Crypto-erasure: the data key and the ciphertext are removed; only the fact remains. */
export async function destroyVersions(trx: Trx, secretId: string, version?: number): Promise<number> {
  let query = trx
    .updateTable('secret_versions')
    .set({ wrapped_dek: null, ciphertext: null, kek_version: null, destroyed_at: new Date() })
    .where('secret_id', '=', secretId)
    .where('destroyed_at', 'is', null)
  if (version !== undefined) query = query.where('version', '=', version)
  const result = await query.executeTakeFirst()
  return Number(result.numUpdatedRows)
}
