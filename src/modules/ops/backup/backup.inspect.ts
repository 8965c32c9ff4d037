import { sql, type Kysely } from 'kysely'
import type { Signer } from '../../../crypto/keys.ts'
import { retiredAuditKeys } from '../../../crypto/key-record.ts'
import type { RootKeyProvider } from '../../../crypto/providers/provider.ts'
import { MIGRATIONS } from '../../../db/migrate.ts'
import type { DB } from '../../../db/schema.ts'
import { withOwner } from '../../../db/tenant.ts'
import { createAuditService } from '../../audit/audit.service.ts'
import { createKeyring } from '../../vault/vault.keyring.ts'
import type { BackupManifest } from './backup.manifest.ts'
import { foreignOrgs } from '../residency.ts'

/** Data keys opened per check: a sample, so a large vault is checked in bounded time. */
export const DATA_KEY_SAMPLE = 25

/** What a restored copy holds and whether it is the one the manifest describes. */
export interface RestoredFigures {
  schemaVersion: string
  /** Migrations this version of Custodian would still apply to the copy (applied at its first start). */
  pendingMigrations: number
  orgs: number
  auditEvents: number
  checkpoints: number
  orgKeys: { checked: number; opened: number }
  dataKeys: { sampled: number; opened: number }
  /** Empty when the copy passed every check. */
  problems: string[]
}

/**
 * Checks a database restored from a backup (a scratch copy for `verify`, the new database
 * before the swap for `restore`): its migrations are known to this version and match the
 * manifest; every org's audit chain verifies (the audit module's own verification) and ends
 * at the head the manifest signed; every org key unwraps under the root key; a sample of
 * data keys opens under their org keys.
 */
export async function inspectRestored(
  db: Kysely<DB>,
  manifest: BackupManifest,
  keys: { signer: Signer; hmacKey: Buffer; rootKey: RootKeyProvider | undefined; region?: string | undefined },
): Promise<RestoredFigures> {
  const problems: string[] = []
  // P8.2: a backup of another region's deployment is never restored here — an org pinned to
  // another region, or whose id names one. (A copy made before regions existed has no region
  // column and untagged ids: its orgs are pinned to this region at the first start.)
  // Without a region here, a backup of any region's deployment is another region's.
  {
    const foreign = await foreignOrgs(db, keys.region, 5)
    if (foreign.length > 0)
      problems.push(
        `the backup holds orgs of another region (${foreign.map((o) => `${o.id}: ${o.region ?? 'its id names another region'}`).join(', ')}); this deployment serves ${keys.region ?? 'no region (CUSTODIAN_REGION is not set)'}: restore it into that region's deployment (P8.2)`,
      )
  }
  const applied = (
    await sql<{ name: string }>`SELECT name FROM custodian_migrations ORDER BY name`.execute(db)
  ).rows.map((r) => r.name)
  const known = Object.keys(MIGRATIONS)
  const unknown = applied.filter((name) => !known.includes(name))
  if (unknown.length > 0)
    problems.push(`the backup was made by a newer Custodian: migrations ${unknown.join(', ')} are unknown here`)
  const schemaVersion = applied.at(-1) ?? 'none'
  if (schemaVersion !== manifest.schemaVersion)
    problems.push(`the restored schema is at ${schemaVersion}, the manifest says ${manifest.schemaVersion}`)

  // Every chain, verified by the audit module, compared with the heads the manifest signed.
  const audit = createAuditService({
    db,
    signer: keys.signer,
    hmacKey: keys.hmacKey,
    // A copy made before retired keys were recorded has none.
    retiredKeys: applied.includes('0065_audit_signing_keys') ? await retiredAuditKeys(db, keys.signer) : [],
  })
  const results = new Map((await audit.verifyAll()).map((r) => [r.org, r]))
  let auditEvents = 0
  let checkpoints = 0
  for (const result of results.values()) {
    auditEvents += result.events
    checkpoints += result.checkpoints
    if (!result.ok)
      problems.push(
        `org ${result.org}: the audit chain does not verify (${result.problems
          .slice(0, 3)
          .map((p) => p.kind)
          .join(', ')})`,
      )
  }
  for (const org of manifest.orgs) {
    const result = results.get(org.orgId)
    const seq = result?.lastSeq ?? 0
    if (seq !== org.head.seq || (org.head.seq > 0 && result?.lastHash !== org.head.hash))
      problems.push(
        `org ${org.orgId}: the restored chain ends at ${seq}, the manifest signed a head at ${org.head.seq}`,
      )
  }
  const orgCount = await withOwner(db, async (trx) =>
    Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM orgs`.execute(trx)).rows[0]?.n ?? 0),
  )
  if (orgCount !== manifest.orgs.length)
    problems.push(`the restored copy has ${orgCount} orgs, the manifest lists ${manifest.orgs.length}`)

  const orgKeys = { checked: 0, opened: 0 }
  const dataKeys = { sampled: 0, opened: 0 }
  if (keys.rootKey === undefined || keys.rootKey.sealed()) {
    problems.push('the root key is not available (sealed or not configured): the org keys were not checked')
  } else {
    const keyring = createKeyring(keys.rootKey)
    await withOwner(db, async (trx) => {
      const rows = await trx
        .selectFrom('org_keys')
        .select(['org_id', 'version'])
        .where('wrapped_key', 'is not', null)
        .orderBy('org_id')
        .orderBy('version')
        .execute()
      for (const row of rows) {
        orgKeys.checked++
        try {
          await keyring.byVersion(trx, row.org_id, row.version)
          orgKeys.opened++
        } catch {
          problems.push(`org ${row.org_id}: org key version ${row.version} does not unwrap under the root key`)
        }
      }
      const sample = await sql<{
        org_id: string
        secret_id: string
        version: number
        kek_version: number
        wrapped_dek: Uint8Array
      }>`SELECT org_id, secret_id, version, kek_version, wrapped_dek FROM secret_versions
          WHERE wrapped_dek IS NOT NULL AND kek_version IS NOT NULL
          ORDER BY random() LIMIT ${DATA_KEY_SAMPLE}`.execute(trx)
      for (const row of sample.rows) {
        dataKeys.sampled++
        try {
          const dek = await keyring.openDataKey(
            trx,
            row.org_id,
            row.secret_id,
            row.version,
            row.kek_version,
            row.wrapped_dek,
          )
          dek.fill(0)
          dataKeys.opened++
        } catch {
          problems.push(`org ${row.org_id}: a data key of secret ${row.secret_id} does not open`)
        }
      }
    })
    keyring.forget()
  }
  return {
    schemaVersion,
    pendingMigrations: known.filter((name) => !applied.includes(name)).length,
    orgs: orgCount,
    auditEvents,
    checkpoints,
    orgKeys,
    dataKeys,
    problems,
  }
}
