import { sql } from 'kysely'
import type { Trx } from '../../db/tenant.ts'
import { KV_FORMAT } from './vault.types.ts'
import { inScope, type SecretPathLayers } from './secret-paths.ts'

/** SQL for the KV version 2 view of the vault (vault.kv.ts). Every function takes the org-scoped transaction first. */

/**
 * The entries directly under `prefix` (`""` or a path ending in `/`) among the org's KV
 * secrets, as Vault's LIST names them: a secret's last segment, or a folder's segment with
 * its trailing `/`. Sorted (byte order), at most `limit`. Only secrets in the caller's path
 * scope (`scope`, docs/secret-paths.md) are seen: a folder shows only when something in it is.
 */
export async function listKvEntriesUnder(
  trx: Trx,
  prefix: string,
  limit: number,
  scope: SecretPathLayers,
): Promise<string[]> {
  const rest = sql<string>`substr(name, ${prefix.length + 1})`
  const rows = await trx
    .selectFrom('secrets')
    .select(
      sql<string>`(CASE WHEN strpos(${rest}, '/') > 0 THEN split_part(${rest}, '/', 1) || '/' ELSE ${rest} END) COLLATE "C"`.as(
        'entry',
      ),
    )
    .distinct()
    .where(sql<boolean>`starts_with(name, ${prefix})`)
    .where(sql<boolean>`metadata->>'format' = ${KV_FORMAT}`)
    .where((eb) => inScope(eb, 'name', scope) ?? sql<boolean>`true`)
    .orderBy('entry')
    .limit(limit)
    .execute()
  return rows.map((r) => r.entry)
}

/**
 * Soft-deletes (`deleted: true`) or undeletes the listed versions that are not destroyed,
 * skipping those already in that state. Returns the versions changed.
 */
export async function setVersionsDeleted(
  trx: Trx,
  secretId: string,
  versions: readonly number[],
  deleted: boolean,
): Promise<number[]> {
  if (versions.length === 0) return []
  const rows = await trx
    .updateTable('secret_versions')
    .set({ deleted_at: deleted ? new Date() : null })
    .where('secret_id', '=', secretId)
    .where('version', 'in', versions)
    .where('destroyed_at', 'is', null)
    .where('deleted_at', deleted ? 'is' : 'is not', null)
    .returning('version')
    .execute()
  return rows.map((r) => r.version).sort((a, b) => a - b)
}

/** Replaces a secret's metadata (non-secret facts only). */
export async function setSecretMetadata(trx: Trx, id: string, metadata: Record<string, unknown>): Promise<void> {
  await trx
    .updateTable('secrets')
    .set({ metadata: JSON.stringify(metadata), updated_at: new Date() })
    .where('id', '=', id)
    .execute()
}
