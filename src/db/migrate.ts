import { sql, type Kysely } from 'kysely'
import type { DB } from './schema.ts'
import { Migrator, type Migration, type MigrationResultSet } from 'kysely/migration'
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
import * as orgTimeZone from './migrations/0020_org_time_zone.ts'
import * as authThrottle from './migrations/0019_auth_throttle.ts'
import * as auditWitness from './migrations/0021_audit_witness.ts'
import * as flatCosts from './migrations/0022_flat_costs.ts'
import * as auditChain from './migrations/0023_audit_chain.ts'
import * as listCosts from './migrations/0024_list_costs.ts'
import * as auditTree from './migrations/0025_audit_tree.ts'
import * as auditCosignatures from './migrations/0026_audit_cosignatures.ts'
import * as membershipCosts from './migrations/0027_membership_costs.ts'
import * as certificateReceipts from './migrations/0028_certificate_receipts.ts'
import * as passkeys from './migrations/0029_passkeys.ts'
import * as principalCounts from './migrations/0030_principal_counts.ts'
import * as accountOrgs from './migrations/0031_account_orgs.ts'
import * as managingCredential from './migrations/0032_managing_credential.ts'
import * as ssoReturnTo from './migrations/0033_sso_return_to.ts'
import * as privacyRequestsStatus from './migrations/0034_privacy_requests_status.ts'
import * as siemDestinations from './migrations/0035_siem_destinations.ts'
import * as reviewItemSubjects from './migrations/0036_review_item_subjects.ts'
import * as applicationEvents from './migrations/0037_application_events.ts'
import * as webhookDeadLetters from './migrations/0038_webhook_dead_letters.ts'
import * as auditViewerTokens from './migrations/0039_audit_viewer_tokens.ts'
import * as grantDecisionNotes from './migrations/0040_grant_decision_notes.ts'
import * as consent from './migrations/0041_consent.ts'
import * as consentJobs from './migrations/0044_consent_jobs.ts'
import * as consentPageLinks from './migrations/0045_consent_page_links.ts'
import * as consentRecipients from './migrations/0046_consent_recipients.ts'
import * as endedLinkPurge from './migrations/0047_ended_link_purge.ts'
import * as consentCounts from './migrations/0048_consent_counts.ts'
import * as membershipsByRole from './migrations/0049_memberships_by_role.ts'
import * as propagationActions from './migrations/0050_propagation_actions.ts'
import * as signingSecretOverlap from './migrations/0051_signing_secret_overlap.ts'
import * as privacyRequestsBySubject from './migrations/0052_privacy_requests_by_subject.ts'
import * as compliance from './migrations/0053_compliance.ts'
import * as complianceDemand from './migrations/0054_compliance_demand.ts'
import * as complianceKeep from './migrations/0055_compliance_keep.ts'
import * as signingSecretLookup from './migrations/0056_signing_secret_lookup.ts'
import * as auditRollback from './migrations/0057_audit_rollback.ts'
import * as backups from './migrations/0058_backups.ts'
import * as orgRegion from './migrations/0059_org_region.ts'
import * as secretVersionSoftDelete from './migrations/0060_secret_version_soft_delete.ts'
import * as secretPaths from './migrations/0061_secret_paths.ts'
import * as transitComplete from './migrations/0062_transit_complete.ts'
import * as credentialEpochs from './migrations/0063_credential_epochs.ts'
import * as serviceKeys from './migrations/0064_service_keys.ts'
import * as auditSigningKeys from './migrations/0065_audit_signing_keys.ts'

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
  '0019_auth_throttle': authThrottle,
  '0020_org_time_zone': orgTimeZone,
  '0021_audit_witness': auditWitness,
  '0022_flat_costs': flatCosts,
  '0023_audit_chain': auditChain,
  '0024_list_costs': listCosts,
  '0025_audit_tree': auditTree,
  '0026_audit_cosignatures': auditCosignatures,
  '0027_membership_costs': membershipCosts,
  '0028_certificate_receipts': certificateReceipts,
  '0029_passkeys': passkeys,
  '0030_principal_counts': principalCounts,
  '0031_account_orgs': accountOrgs,
  '0032_managing_credential': managingCredential,
  '0033_sso_return_to': ssoReturnTo,
  '0034_privacy_requests_status': privacyRequestsStatus,
  '0035_siem_destinations': siemDestinations,
  '0036_review_item_subjects': reviewItemSubjects,
  '0037_application_events': applicationEvents,
  '0038_webhook_dead_letters': webhookDeadLetters,
  '0039_audit_viewer_tokens': auditViewerTokens,
  '0040_grant_decision_notes': grantDecisionNotes,
  '0041_consent': consent,
  '0044_consent_jobs': consentJobs,
  '0045_consent_page_links': consentPageLinks,
  '0046_consent_recipients': consentRecipients,
  '0047_ended_link_purge': endedLinkPurge,
  '0048_consent_counts': consentCounts,
  '0049_memberships_by_role': membershipsByRole,
  '0050_propagation_actions': propagationActions,
  '0051_signing_secret_overlap': signingSecretOverlap,
  '0052_privacy_requests_by_subject': privacyRequestsBySubject,
  '0053_compliance': compliance,
  '0054_compliance_demand': complianceDemand,
  '0055_compliance_keep': complianceKeep,
  '0056_signing_secret_lookup': signingSecretLookup,
  '0057_audit_rollback': auditRollback,
  '0058_backups': backups,
  '0059_org_region': orgRegion,
  '0060_secret_version_soft_delete': secretVersionSoftDelete,
  '0061_secret_paths': secretPaths,
  '0062_transit_complete': transitComplete,
  '0063_credential_epochs': credentialEpochs,
  '0064_service_keys': serviceKeys,
  '0065_audit_signing_keys': auditSigningKeys,
}

/** What a migration run reports as it goes, so a long first start does not look like a hang. */
export type MigrationProgress =
  | { kind: 'creating'; where: string }
  | { kind: 'building-template'; where: string }
  | { kind: 'no-template'; reason: string }
  | { kind: 'copying'; where: string; from: string; migrations: number }
  | { kind: 'created'; ms: number }
  | { kind: 'start'; pending: string[] }
  | { kind: 'applied'; name: string; ms: number }
  | { kind: 'done'; applied: number; ms: number }

function migrator(db: Kysely<DB>, progress?: (event: MigrationProgress) => void): Migrator {
  // Each migration is timed as it runs (inside the one transaction Kysely applies them in).
  const timed = (name: string, migration: Migration): Migration => ({
    ...migration,
    async up(database) {
      const started = performance.now()
      await migration.up(database)
      progress?.({ kind: 'applied', name, ms: Math.round(performance.now() - started) })
    },
  })
  const migrations =
    progress === undefined
      ? MIGRATIONS
      : Object.fromEntries(Object.entries(MIGRATIONS).map(([name, m]) => [name, timed(name, m)]))
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'custodian_migrations',
    migrationLockTableName: 'custodian_migrations_lock',
  })
}

/**
 * Applies pending migrations; throws with the failing migration's name and cause.
 * `progress` hears the pending list, each migration as it is applied with its time, and
 * the end — nothing when the schema is current.
 */
export async function migrateToLatest(
  db: Kysely<DB>,
  progress?: (event: MigrationProgress) => void,
): Promise<string[]> {
  const started = performance.now()
  const applied = await appliedMigrations(db)
  const pending = pendingOf(applied)
  // Current (every migration of this build applied, none it does not know): nothing to do. The
  // migrator is not asked, as it would check its tables by listing every table and column of
  // the schema (Kysely's introspection) — 0.4 s of an embedded restart's 0.8 s database step.
  if (pending.length === 0 && applied?.every((name) => name in MIGRATIONS) === true) return []
  if (progress !== undefined) {
    if (pending.length === 0) progress = undefined
    else progress({ kind: 'start', pending })
  }
  const result: MigrationResultSet = await migrator(db, progress).migrateToLatest()
  if (result.error === undefined) {
    const applied = (result.results ?? []).filter((r) => r.status === 'Success').length
    if (applied > 0) progress?.({ kind: 'done', applied, ms: Math.round(performance.now() - started) })
  }
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new Error(
      `migration ${failed} failed: ${result.error instanceof Error ? result.error.message : JSON.stringify(result.error)}`,
      {
        cause: result.error,
      },
    )
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/** Names of this build's migrations not yet applied, in order (readiness: migrations current). */
export async function pendingMigrations(db: Kysely<DB>): Promise<string[]> {
  return pendingOf(await appliedMigrations(db))
}

function pendingOf(applied: readonly string[] | undefined): string[] {
  const done = new Set(applied ?? [])
  return Object.keys(MIGRATIONS).filter((name) => !done.has(name))
}

/**
 * Names of the migrations the database records as applied (Kysely's `custodian_migrations`
 * table, in the search path's first schema, where the migrator creates it); undefined when
 * the table does not exist yet (a database never migrated).
 */
async function appliedMigrations(db: Kysely<DB>): Promise<string[] | undefined> {
  const table = await sql<{
    present: boolean
  }>`SELECT to_regclass('custodian_migrations') IS NOT NULL AS present`.execute(db)
  if (table.rows[0]?.present !== true) return undefined
  const rows = await sql<{ name: string }>`SELECT name FROM custodian_migrations`.execute(db)
  return rows.rows.map((row) => row.name)
}

/** Progress as plain lines for a person watching a start: `write` gets one line at a time. */
export function printMigrationProgress(write: (line: string) => void): (event: MigrationProgress) => void {
  return (event) => {
    switch (event.kind) {
      case 'creating':
        write(`Database: creating the embedded database in ${event.where} (first start; this can take a minute)…`)
        break
      case 'building-template':
        write(
          `Database: building the migrated template of the embedded database in ${event.where} (once; this can take a minute)…`,
        )
        break
      case 'no-template':
        write(`Database: no template (${event.reason}); creating the database empty`)
        break
      case 'copying':
        write(
          `Database: creating the embedded database in ${event.where} from the migrated template ${event.from} (${event.migrations} migrations)…`,
        )
        break
      case 'created':
        write(`Database: created in ${(event.ms / 1000).toFixed(1)} s`)
        break
      case 'start':
        write(
          `Database: applying ${event.pending.length} migration${event.pending.length === 1 ? '' : 's'} (a first start takes a while)…`,
        )
        break
      case 'applied':
        write(`  migration ${event.name} applied in ${event.ms} ms`)
        break
      case 'done':
        write(
          `Database: ${event.applied} migration${event.applied === 1 ? '' : 's'} committed in ${(event.ms / 1000).toFixed(1)} s`,
        )
        break
    }
  }
}
