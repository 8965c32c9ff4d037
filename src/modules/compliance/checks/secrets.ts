import { statSync } from 'node:fs'
import { sql } from 'kysely'
import { check, count, fail, iso, notApplicable, pass, some, verdict, type CheckDefinition } from './check.ts'

/** Rows a check reads of what grows with the org's data: the newest, each run. */
const SAMPLE = 1000

/** P1 Secrets and encryption. */
export const SECRETS_CHECKS: readonly CheckDefinition[] = [
  check(
    'p1.1/root-key',
    'service',
    'The root key is loaded from its provider and every org key is wrapped by a root key the provider holds',
    async ({ trx, env }) => {
      const sealed = env.rootKey.sealed()
      const keyId = sealed ? null : env.rootKey.keyId()
      const rows = await sql<{ root_key_id: string; keys: string }>`
        SELECT root_key_id, count(*)::text AS keys FROM org_keys WHERE state <> 'retired' GROUP BY root_key_id`.execute(
        trx,
      )
      const wrappedBy = rows.rows.map((r) => r.root_key_id)
      const other = rows.rows.filter((r) => r.root_key_id !== keyId).reduce((n, r) => n + Number(r.keys), 0)
      const evidence = {
        provider: env.rootKey.kind,
        sealed,
        rootKeyId: keyId,
        orgKeys: rows.rows.reduce((n, r) => n + Number(r.keys), 0),
        wrappedByOtherRootKeys: other,
        rootKeyIds: some(wrappedBy),
      }
      if (sealed) return fail('the vault is sealed: the root key is not loaded', evidence)
      return verdict(
        other === 0,
        other === 0
          ? `every org key is wrapped by the ${env.rootKey.kind} root key ${keyId}`
          : `${count(other, 'org key')} wrapped by another root key than the one loaded`,
        evidence,
      )
    },
  ),
  check(
    'p1.1/org-key',
    'org',
    'The org has a current key of its own, wrapped by the root key',
    async ({ trx, orgId, env }) => {
      const keys = await sql<{ version: number; state: string; root_key_id: string; created_at: Date }>`
        SELECT version, state, root_key_id, created_at FROM org_keys WHERE org_id = ${orgId} AND state = 'active'
         ORDER BY version DESC LIMIT 1`.execute(trx)
      const key = keys.rows[0]
      if (key === undefined) {
        // The org's key is made with the first value it seals: none yet is fine, none with data is not.
        const sealed = await sql<{ any: boolean }>`
          SELECT EXISTS (SELECT 1 FROM secret_versions WHERE org_id = ${orgId})
              OR EXISTS (SELECT 1 FROM transit_keys WHERE org_id = ${orgId}) AS any`.execute(trx)
        return sealed.rows[0]?.any === true
          ? fail('the org stores secrets but has no active key')
          : notApplicable('the org has sealed nothing yet: its key is made with its first secret')
      }
      const loaded = env.rootKey.sealed() ? null : env.rootKey.keyId()
      return verdict(
        key.root_key_id === loaded,
        key.root_key_id === loaded
          ? `key version ${key.version} is active, wrapped by the root key ${loaded}`
          : `key version ${key.version} is wrapped by ${key.root_key_id}, not by the root key loaded`,
        { keyVersion: key.version, rootKeyId: key.root_key_id, createdAt: iso(key.created_at) },
      )
    },
  ),
  check(
    'p1.2/reveals-audited',
    'org',
    'Each secret revealed in the last 30 days has its reveal in the audit log',
    async ({ trx, orgId, now }) => {
      const since = new Date(now.getTime() - 30 * 86_400_000)
      // The 20 most recently revealed (index secrets by org), each looked up by its target.
      const rows = await sql<{ id: string; last_revealed_at: Date; audited: boolean }>`
        SELECT s.id, s.last_revealed_at, EXISTS (
          SELECT 1 FROM audit_events e WHERE e.org_id = s.org_id AND e.target_type = 'secret' AND e.target_id = s.id::text
             AND e.action = 'secret.reveal' AND e.occurred_at >= s.last_revealed_at - interval '5 seconds'
        ) AS audited
          FROM secrets s WHERE s.org_id = ${orgId} AND s.last_revealed_at >= ${since}
         ORDER BY s.last_revealed_at DESC LIMIT 20`.execute(trx)
      if (rows.rows.length === 0) return notApplicable('no secret was revealed in the last 30 days')
      const missing = rows.rows.filter((r) => !r.audited).map((r) => r.id)
      return verdict(
        missing.length === 0,
        missing.length === 0
          ? `the last reveal of each of ${count(rows.rows.length, 'secret')} revealed recently is in the audit log`
          : `${count(missing.length, 'secret')} revealed without a reveal event in the audit log`,
        {
          secretsRevealed: rows.rows.length,
          unaudited: missing.length,
          unauditedSecrets: some(missing),
          cipher: 'AES-256-GCM',
        },
      )
    },
  ),
  check(
    'p1.3/key-material-private',
    'service',
    'Key material is reachable only by the service: the root key (or its shares) is in a file only the service user can read, or in an HSM or key management service it never leaves',
    async ({ env }) => {
      const { config } = env
      const kind = env.rootKey.kind
      // A root key held outside the host (HSM, KMS) has no file here: only the audit key's is checked.
      const outside =
        kind === 'pkcs11'
          ? 'an HSM (PKCS#11)'
          : kind === 'local' || kind === 'shamir'
            ? undefined
            : `a key management service (${env.rootKey.keyId().split('#')[0]})`
      const files = [
        ...(outside === undefined
          ? [{ what: 'root key', file: kind === 'shamir' ? config.shamirFile : config.rootKeyFile }]
          : []),
        { what: 'audit signing key', file: config.auditKeyFile },
      ]
      const modes: string[] = []
      const open: string[] = []
      for (const f of files) {
        try {
          const mode = statSync(f.file).mode & 0o777
          modes.push(`${f.what}: ${mode.toString(8).padStart(3, '0')}`)
          if ((mode & 0o077) !== 0) open.push(f.what)
        } catch {
          modes.push(`${f.what}: absent`)
        }
      }
      const held =
        outside === undefined ? '' : `the root key is held outside the host by ${outside} and never leaves it; `
      return verdict(
        open.length === 0,
        open.length === 0
          ? `${held}the key files are readable by the service user only (mode 600)`
          : `${held}readable by group or others: ${open.join(', ')}`,
        { provider: kind, heldOutsideHost: outside !== undefined, modes },
      )
    },
  ),
  check(
    'p1.3/stored-sealed',
    'org',
    'Stored secret versions and data records are ciphertext under a wrapped data key (the newest 1,000 of each, every run)',
    async ({ trx, orgId }) => {
      // A sample that follows the writes, read through the org's indexes: a run's cost stays
      // bounded however much the org stores.
      const r = await sql<{ versions: string; bare: string; records: string; bare_records: string }>`
        SELECT count(v.*)::text AS versions,
               count(v.*) FILTER (WHERE v.wrapped_dek IS NULL OR length(v.wrapped_dek) = 0
                 OR v.ciphertext IS NULL OR length(v.ciphertext) = 0)::text AS bare,
               (SELECT count(*) FROM (SELECT 1 FROM data_records WHERE org_id = ${orgId} LIMIT ${SAMPLE}) d)::text AS records,
               (SELECT count(*) FROM (SELECT ciphertext FROM data_records WHERE org_id = ${orgId} LIMIT ${SAMPLE}) d
                 WHERE length(d.ciphertext) = 0)::text AS bare_records
          FROM (SELECT wrapped_dek, ciphertext FROM secret_versions WHERE org_id = ${orgId} AND destroyed_at IS NULL
                 ORDER BY kek_version DESC LIMIT ${SAMPLE}) v`.execute(trx)
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const bare = Number(row.bare) + Number(row.bare_records)
      const evidence = {
        secretVersionsRead: Number(row.versions),
        dataRecordsRead: Number(row.records),
        unsealed: bare,
      }
      if (Number(row.versions) + Number(row.records) === 0)
        return notApplicable('the org stores no secret and no record', evidence)
      return verdict(
        bare === 0,
        bare === 0
          ? `${count(Number(row.versions), 'secret version')} and ${count(Number(row.records), 'data record')} read, all sealed`
          : `${count(bare, 'stored value')} without ciphertext or wrapped key`,
        evidence,
      )
    },
  ),
  check(
    'p1.4/data-keys',
    'org',
    'Each secret version has its own data key, wrapped by a version of the org key that exists (the newest 1,000 versions, every run)',
    async ({ trx, orgId }) => {
      // The oldest and newest org-key versions in use are two index lookups (secret_versions_org_kek):
      // a version under a retired or missing key would be the oldest.
      const r = await sql<{ versions: string; distinct_keys: string; orphans: string }>`
        WITH used AS (
          SELECT (SELECT min(kek_version) FROM secret_versions WHERE org_id = ${orgId} AND destroyed_at IS NULL) AS oldest,
                 (SELECT max(kek_version) FROM secret_versions WHERE org_id = ${orgId} AND destroyed_at IS NULL) AS newest)
        SELECT count(v.*)::text AS versions, count(DISTINCT v.wrapped_dek)::text AS distinct_keys,
               (SELECT count(*) FROM used, unnest(ARRAY[used.oldest, used.newest]) AS kek(version)
                 WHERE kek.version IS NOT NULL AND NOT EXISTS (SELECT 1 FROM org_keys k WHERE k.org_id = ${orgId}
                   AND k.version = kek.version AND k.state <> 'retired'))::text AS orphans
          FROM (SELECT wrapped_dek, kek_version FROM secret_versions WHERE org_id = ${orgId} AND destroyed_at IS NULL
                 ORDER BY kek_version DESC LIMIT ${SAMPLE}) v`.execute(trx)
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const versions = Number(row.versions)
      if (versions === 0) return notApplicable('the org stores no secret')
      const shared = versions - Number(row.distinct_keys)
      const orphans = Number(row.orphans)
      return verdict(
        shared === 0 && orphans === 0,
        shared === 0 && orphans === 0
          ? `${count(versions, 'secret version')} read, each with its own data key under a live org key`
          : `${count(shared, 'data key')} shared between versions${orphans > 0 ? '; secret versions under an org key that is retired or missing' : ''}`,
        { secretVersionsRead: versions, sharedDataKeys: shared, orgKeyVersionsMissing: orphans },
      )
    },
  ),
  check(
    'p1.5/exposed-replaced',
    'org',
    'No secret reported exposed more than 24 hours ago is still waiting for its new version',
    async ({ trx, orgId, now }) => {
      const rows = await sql<{ id: string; exposed_at: Date }>`
        SELECT id, exposed_at FROM secrets WHERE org_id = ${orgId} AND exposed_at IS NOT NULL
         ORDER BY exposed_at LIMIT 100`.execute(trx)
      const late = rows.rows.filter((r) => now.getTime() - r.exposed_at.getTime() > 86_400_000)
      const evidence = {
        exposed: rows.rows.length,
        exposedOver24h: late.length,
        secrets: some(late.map((r) => r.id)),
        oldestExposedAt: iso(rows.rows[0]?.exposed_at),
      }
      if (rows.rows.length === 0)
        return pass('no secret is waiting for replacement after being reported exposed', evidence)
      return verdict(
        late.length === 0,
        late.length === 0
          ? `${count(rows.rows.length, 'exposed secret')} blocked, reported within the last 24 hours`
          : `${count(late.length, 'secret')} reported exposed over 24 hours ago and not yet replaced`,
        evidence,
      )
    },
  ),
  check(
    'p1.6/rotations-on-time',
    'org',
    'Scheduled credential rotations are not overdue (an hour of grace) and the last one succeeded',
    async ({ trx, orgId, now }) => {
      const rows = await sql<{
        secret_id: string
        next_due_at: Date | null
        last_status: string | null
        failures: number
      }>`
        SELECT secret_id, next_due_at, last_status, failures FROM secret_rotations WHERE org_id = ${orgId}
         ORDER BY next_due_at NULLS LAST LIMIT 200`.execute(trx)
      if (rows.rows.length === 0) return notApplicable('no credential has scheduled rotation')
      const overdue = rows.rows.filter(
        (r) => r.next_due_at !== null && now.getTime() - r.next_due_at.getTime() > 3_600_000,
      )
      const failing = rows.rows.filter((r) => r.failures > 0)
      return verdict(
        overdue.length === 0 && failing.length === 0,
        overdue.length === 0 && failing.length === 0
          ? `${count(rows.rows.length, 'scheduled rotation')}, none overdue or failing`
          : `${count(overdue.length, 'rotation')} overdue, ${count(failing.length, 'rotation')} failing`,
        {
          rotations: rows.rows.length,
          overdue: overdue.length,
          failing: failing.length,
          secrets: some([...overdue, ...failing].map((r) => r.secret_id)),
        },
      )
    },
  ),
  check(
    'p1.7/connectors-read-only',
    'org',
    'Under a read-only connector policy, no database credential was last found able to write',
    async ({ trx, orgId }) => {
      const policy = await sql<{ read_only_connectors: boolean }>`
        SELECT read_only_connectors FROM vault_policies WHERE org_id = ${orgId}`.execute(trx)
      const readOnly = policy.rows[0]?.read_only_connectors === true
      const rows = await sql<{ id: string; can_write: boolean | null; checked: boolean }>`
        SELECT id, (last_check->>'canWrite')::boolean AS can_write, last_checked_at IS NOT NULL AS checked
          FROM secrets WHERE org_id = ${orgId} AND type = 'database_credential' AND paused_at IS NULL LIMIT 500`.execute(
        trx,
      )
      const writers = rows.rows.filter((r) => r.can_write === true).map((r) => r.id)
      const unchecked = rows.rows.filter((r) => !r.checked).map((r) => r.id)
      const evidence = {
        readOnlyPolicy: readOnly,
        connectors: rows.rows.length,
        canWrite: writers.length,
        unchecked: unchecked.length,
        secrets: some(writers),
      }
      if (!readOnly) return notApplicable('the org has no read-only connector policy', evidence)
      if (rows.rows.length === 0) return notApplicable('the org has no active database connector', evidence)
      return verdict(
        writers.length === 0,
        writers.length === 0
          ? `${count(rows.rows.length, 'connector')}, none able to write (${unchecked.length} not checked yet)`
          : `${count(writers.length, 'connector')} able to write under the read-only policy`,
        evidence,
      )
    },
  ),
]
