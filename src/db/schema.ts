import type { ComplianceTables } from '../modules/compliance/compliance.tables.ts'
import type { AccessTables } from '../modules/access/access.tables.ts'
import type { AuditTables } from '../modules/audit/audit.tables.ts'
import type { IdentityTables } from '../modules/identity/identity.tables.ts'
import type { VaultTables } from '../modules/vault/vault.tables.ts'
import type { NotifyTables } from '../modules/notify/notify.tables.ts'
import type { GovernanceTables } from '../modules/governance/governance.tables.ts'
import type { PrivacyTables } from '../modules/privacy/privacy.tables.ts'
import type { ResponseTables } from '../modules/response/response.tables.ts'
import type { DisclosureTables } from '../modules/disclosure/disclosure.tables.ts'
import type { SiemTables } from '../modules/siem/siem.tables.ts'
import type { ConsentTables } from '../modules/consent/consent.tables.ts'
import type { ConsentPageTables } from '../modules/consent/page/page.tables.ts'
import type { BackupTables } from '../modules/ops/backup/backup.tables.ts'

/** The whole database as Kysely sees it: the union of each module's tables. */
export interface DB
  extends IdentityTables,
    AccessTables,
    AuditTables,
    VaultTables,
    NotifyTables,
    GovernanceTables,
    PrivacyTables,
    ResponseTables,
    DisclosureTables,
    SiemTables,
    ConsentTables,
    ConsentPageTables,
    ComplianceTables,
    BackupTables {}
