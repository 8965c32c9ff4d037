import type { Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationResultSet } from 'kysely/migration'
import type { DB } from './schema.ts'
import * as foundation from './migrations/0001_foundation.ts'
import * as vault from './migrations/0002_vault.ts'
import * as connectors from './migrations/0003_connectors.ts'
import * as transit from './migrations/0004_transit.ts'
import * as dbRotation from './migrations/0005_db_rotation.ts'
import * as mfa from './migrations/0006_mfa.ts'
import * as ipAllowlist from './migrations/0007_ip_allowlist.ts'
import * as sso from './migrations/0008_sso.ts'
import * as governance from './migrations/0009_governance.ts'
import * as accessReviews from './migrations/0010_access_reviews.ts'
import * as privacy from './migrations/0011_privacy.ts'
import * as privacyRequests from './migrations/0012_privacy_requests.ts'
import * as shredRing from './migrations/0013_shred_ring.ts'
import * as offboarding from './migrations/0014_offboarding.ts'
import * as delivery from './migrations/0015_delivery.ts'
import * as alerts from './migrations/0016_alerts.ts'
import * as incidents from './migrations/0017_incidents.ts'
import * as disclosure from './migrations/0018_disclosure.ts'

/** Every migration, in order. Names sort lexically; never rename or edit a shipped one. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_foundation': foundation,
  '0002_vault': vault,
  '0003_connectors': connectors,
  '0004_transit': transit,
  '0005_db_rotation': dbRotation,
  '0006_mfa': mfa,
  '0007_ip_allowlist': ipAllowlist,
  '0008_sso': sso,
  '0009_governance': governance,
  '0010_access_reviews': accessReviews,
  '0011_privacy': privacy,
  '0012_privacy_requests': privacyRequests,
  '0013_shred_ring': shredRing,
  '0014_offboarding': offboarding,
  '0015_delivery': delivery,
  '0016_alerts': alerts,
  '0017_incidents': incidents,
  '0018_disclosure': disclosure,
}

function migrator(db: Kysely<DB>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => MIGRATIONS },
    migrationTableName: 'custodian_migrations',
    migrationLockTableName: 'custodian_migrations_lock',
  })
}

/** Applies pending migrations; throws with the failing migration's name and cause. */
export async function migrateToLatest(db: Kysely<DB>): Promise<string[]> {
  const result: MigrationResultSet = await migrator(db).migrateToLatest()
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new Error(`migration ${failed} failed: ${result.error instanceof Error ? result.error.message : JSON.stringify(result.error)}`, {
      cause: result.error,
    })
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/** Names of migrations not yet applied (readiness: migrations current). */
export async function pendingMigrations(db: Kysely<DB>): Promise<string[]> {
  const all = await migrator(db).getMigrations()
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name)
}
