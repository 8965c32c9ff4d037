import { type Kysely, sql } from 'kysely'
import canonicalize from 'canonicalize'
import type { DB } from '../db/schema.ts'
import { type Signer, verifyEd25519 } from './keys.ts'
import type { RootKeyProvider } from './providers/provider.ts'
import { RootKeyError } from './root-key.ts'

/**
 * The keys a database is used with, recorded in it (table `service_keys`, migration 0064), so
 * that a node started with another key is refused before it writes anything.
 *
 * Every node on one PostgreSQL database must hold the same two keys: the audit key (its
 * checkpoints' signatures and the chain's HMAC) and the root key (it wraps every org key).
 * A node with another audit key would sign checkpoints and chain events no other node, and no
 * `custodian audit verify`, accepts; a node with another root key would wrap new org keys no
 * other node can open. Either breaks the log or the vault for good, and neither shows until
 * later — for example two nodes first started together on an empty database, each creating
 * its own key files. The first start records each key's identifier (never key material: the
 * audit key's Ed25519 key id, the root key's {@link RootKeyProvider.keyName}); every start
 * after, of the service or of a CLI command, compares.
 */

export type KeyPurpose = 'audit' | 'root'

/** What a start holds: the audit signing key's id and the root key (either undefined: not checked). */
export interface HeldKeys {
  audit: string | undefined
  root: RootKeyProvider | undefined
}

/**
 * Whether an org key stored with `rootKeyId` was wrapped by the root key named `keyName`:
 * the same id, or (a KMS) a version of the same key, `<keyName>#<version>`.
 */
export function wrappedUnder(keyName: string, rootKeyId: string): boolean {
  return rootKeyId === keyName || rootKeyId.startsWith(`${keyName}#`)
}

/**
 * Confirms the keys a start holds are the ones the database was used with, recording each on
 * the database's first start (and on the first start after the upgrade that added the
 * record, when what the database holds was made with it: an active org key wrapped by this
 * root key, a checkpoint signed by this audit key). Two nodes starting together on an empty
 * database race for the record; the one that loses is refused.
 *
 * @param db the database (owner connection; the table has no policy for the app's role)
 * @throws RootKeyError naming both identifiers when a key differs (both keys' when both do);
 *   the start must stop
 */
export async function confirmServiceKeys(db: Kysely<DB>, held: HeldKeys): Promise<void> {
  const refusals: string[] = []
  const audit = held.audit
  if (audit !== undefined) {
    const refused = await confirm(db, 'audit', audit, true, async () => {
      const signed = await sql<{ key_id: string }>`SELECT key_id FROM audit_checkpoints LIMIT 1`.execute(db)
      const other = signed.rows[0]?.key_id
      return other === undefined || other === audit ? undefined : other
    })
    if (refused !== undefined) refusals.push(refused)
  }
  const root = held.root
  if (root !== undefined) {
    // After a refusal only compared, never recorded: two nodes first started together must
    // not each win one of the two records (each would then be refused for the other's).
    const refused = await confirm(db, 'root', root.keyName(), refusals.length === 0, async () => {
      const wrapped = await sql<{ root_key_id: string }>`
        SELECT root_key_id FROM org_keys WHERE state = 'active' LIMIT 1`.execute(db)
      const other = wrapped.rows[0]?.root_key_id
      return other === undefined || wrappedUnder(root.keyName(), other) ? undefined : other
    })
    if (refused !== undefined) refusals.push(refused)
  }
  if (refusals.length > 0) throw new RootKeyError(refusals.join('; and '))
}

/** Undefined when `held` is (or, `mayRecord`, becomes) the database's; else the refusal. */
async function confirm(
  db: Kysely<DB>,
  purpose: KeyPurpose,
  held: string,
  mayRecord: boolean,
  usedBefore: () => Promise<string | undefined>,
): Promise<string | undefined> {
  let recorded = await recordedServiceKey(db, purpose)
  if (recorded === undefined) {
    const other = await usedBefore()
    if (other !== undefined) return mismatch(purpose, other, held)
    if (!mayRecord) return undefined
    await sql`INSERT INTO service_keys (purpose, key_id) VALUES (${purpose}, ${held})
              ON CONFLICT (purpose) DO NOTHING`.execute(db)
    // Another node may have recorded its key first: compare with what is there now.
    recorded = await recordedServiceKey(db, purpose)
  }
  return recorded === held ? undefined : mismatch(purpose, recorded ?? '(none)', held)
}

/** The identifier the database records for `purpose`; undefined before its first start. */
export async function recordedServiceKey(db: Kysely<DB>, purpose: KeyPurpose): Promise<string | undefined> {
  const row = await sql<{ key_id: string }>`SELECT key_id FROM service_keys WHERE purpose = ${purpose}`.execute(db)
  return row.rows[0]?.key_id
}

function mismatch(purpose: KeyPurpose, used: string, held: string): string {
  return purpose === 'audit'
    ? `the audit key is not the one this database's audit log is kept with (it uses ${used}; this start holds ${held}): start every node with the same audit key file (CUSTODIAN_AUDIT_KEY_FILE, copied from the first node), or restore the one this database was started with; only if it is lost for every node, stop them all and run \`custodian keys replace-audit-key --confirm-lost\``
    : `the root key is not the one this database's org keys are wrapped by (they use ${used}; this start holds ${held}): start every node with the same root key (CUSTODIAN_ROOT_KEY_FILE for the local provider, copied from the first node; the same Shamir file, HSM key or KMS key otherwise), or restore the one this database was started with; change it only with \`custodian keys rotate-root\` or \`keys migrate-root\``
}

/**
 * Records the root key that now wraps every org key, in the transaction that rewrapped them
 * (`custodian keys rotate-root`, `keys migrate-root`): the next start must hold it.
 *
 * @param from the name of the root key the org keys were wrapped by (the source)
 * @param to the name of the root key that wraps them now
 * @throws RootKeyError when the database records another key than `from` (nothing changes)
 */
export async function recordRootKeyChange(db: Kysely<DB>, from: string, to: string): Promise<void> {
  const row = await sql<{ key_id: string }>`
    SELECT key_id FROM service_keys WHERE purpose = 'root' FOR UPDATE`.execute(db)
  const recorded = row.rows[0]?.key_id
  if (recorded !== undefined && recorded !== from)
    throw new RootKeyError(
      `the org keys are wrapped by root key ${recorded}, not by ${from}, the key this change starts from: nothing changed; give the change the key they are under (\`keys migrate-root --from\` its provider, with its settings)`,
    )
  await sql`INSERT INTO service_keys (purpose, key_id) VALUES ('root', ${to})
            ON CONFLICT (purpose) DO UPDATE SET key_id = EXCLUDED.key_id, recorded_at = now()`.execute(db)
}

/**
 * Records `held` as the database's audit key (`custodian keys replace-audit-key`, after the
 * old one was lost), in the caller's transaction, and retires the old one when a start
 * recorded its public key: `held` signs the retirement (the old key's id and public key, the
 * time, and per org the highest checkpoint seq it signed), so the old key goes on verifying
 * those checkpoints and none after them ({@link retiredAuditKeys}).
 *
 * @param held the new key (its signer: it signs the retirement)
 * @returns the audit key id recorded before, or undefined when `held` already was the database's
 * @throws RootKeyError when `held` is a key retired before: a retired key may be in other
 *   hands and is never made current again (nothing changes)
 */
export async function recordAuditKeyChange(db: Kysely<DB>, held: Signer): Promise<string | undefined> {
  const row = await sql<{ key_id: string }>`
    SELECT key_id FROM service_keys WHERE purpose = 'audit' FOR UPDATE`.execute(db)
  const recorded = row.rows[0]?.key_id
  if (recorded === held.keyId) return undefined
  const wasRetired = await sql<{ retired_at: Date }>`
    SELECT retired_at FROM audit_signing_keys WHERE key_id = ${held.keyId} AND retired_at IS NOT NULL`.execute(db)
  if (wasRetired.rows.length > 0)
    throw new RootKeyError(
      `the audit key ${held.keyId} was retired on ${new Date(wasRetired.rows[0]?.retired_at as Date).toISOString()} (replaced after a loss): a retired key may be in other hands and is never made current again; start with a new audit key file`,
    )
  await sql`INSERT INTO service_keys (purpose, key_id) VALUES ('audit', ${held.keyId})
            ON CONFLICT (purpose) DO UPDATE SET key_id = EXCLUDED.key_id, recorded_at = now()`.execute(db)
  const old = await sql<{ key_id: string; public_key: string }>`
    SELECT key_id, public_key FROM audit_signing_keys
    WHERE key_id <> ${held.keyId} AND retired_at IS NULL FOR UPDATE`.execute(db)
  for (const { key_id: keyId, public_key: publicKey } of old.rows) {
    const bounds = await sql<{ org_id: string; seq: string }>`
      SELECT org_id, max(seq)::text AS seq FROM audit_checkpoints WHERE key_id = ${keyId} GROUP BY org_id`.execute(db)
    const signedUpTo = Object.fromEntries(bounds.rows.map((b) => [b.org_id, Number(b.seq)]))
    const retirement = { keyId, publicKey, retiredAt: new Date().toISOString(), signedUpTo, successorKeyId: held.keyId }
    const signature = held.sign(retirementMessage(retirement)).toString('base64url')
    await sql`UPDATE audit_signing_keys
              SET retired_at = ${retirement.retiredAt}::timestamptz, signed_up_to = ${JSON.stringify(signedUpTo)}::jsonb,
                  successor_key_id = ${held.keyId}, retirement_signature = ${signature}
              WHERE key_id = ${keyId}`.execute(db)
  }
  await recordAuditSigningKey(db, held)
  return recorded ?? '(none recorded)'
}

/**
 * Records the audit signing key a start holds, once its id is confirmed as the database's
 * ({@link confirmServiceKeys}): its public key is what verifies its checkpoints once it is
 * retired. A key recorded before (this node's, or another node's with the same key) stays.
 *
 * @param held the key id (`ed25519:` + 16 hex digits) and raw Ed25519 public key (base64url)
 */
export async function recordAuditSigningKey(db: Kysely<DB>, held: { keyId: string; publicKey: string }): Promise<void> {
  await sql`INSERT INTO audit_signing_keys (key_id, public_key) VALUES (${held.keyId}, ${held.publicKey})
            ON CONFLICT (key_id) DO NOTHING`.execute(db)
}

/** An audit signing key replaced after a loss: it verifies only checkpoints up to `signedUpTo`. */
export interface RetiredAuditKey {
  /** `ed25519:` + the first 16 hex digits of SHA-256 of the raw public key. */
  keyId: string
  /** Raw Ed25519 public key, base64url. */
  publicKey: string
  /** When `custodian keys replace-audit-key` retired it (RFC 3339, UTC). */
  retiredAt: string
  /** Per org id, the highest checkpoint seq it signed before its retirement (an org absent: none). */
  signedUpTo: Readonly<Record<string, number>>
  /** The key that signed this retirement (the one that replaced it). */
  successorKeyId: string
}

/** The bytes a retirement's signature covers: JCS (RFC 8785) of the record, `v: 1`. */
function retirementMessage(r: RetiredAuditKey): Buffer {
  const record = {
    v: 1,
    purpose: 'custodian audit key retirement',
    keyId: r.keyId,
    publicKey: r.publicKey,
    retiredAt: r.retiredAt,
    signedUpTo: r.signedUpTo,
    successorKeyId: r.successorKeyId,
  }
  return Buffer.from(canonicalize(record) as string, 'utf8')
}

/**
 * The retired audit signing keys this database holds whose retirement is signed by a chain
 * of successors from `current` (the key the caller holds): the one it replaced, signed by it,
 * the one that one replaced, and so on. A row no such chain reaches (written by someone who
 * can write to the database but holds no audit key, or altered since) is left out, so it
 * never becomes a verification key. Owner connection.
 *
 * @param current the key id and raw public key (base64url) of the audit key held now
 */
export async function retiredAuditKeys(
  db: Kysely<DB>,
  current: { keyId: string; publicKey: string },
): Promise<RetiredAuditKey[]> {
  const rows = await sql<{
    key_id: string
    public_key: string
    retired_at: Date
    signed_up_to: Record<string, number> | string
    successor_key_id: string
    retirement_signature: string
  }>`
    SELECT key_id, public_key, retired_at, signed_up_to, successor_key_id, retirement_signature
    FROM audit_signing_keys WHERE retired_at IS NOT NULL`.execute(db)
  const trusted = new Map([[current.keyId, current.publicKey]])
  const found: RetiredAuditKey[] = []
  for (let grew = true; grew; ) {
    grew = false
    for (const row of rows.rows) {
      const successor = trusted.get(row.successor_key_id)
      if (trusted.has(row.key_id) || successor === undefined) continue
      const signedUpTo =
        typeof row.signed_up_to === 'string'
          ? (JSON.parse(row.signed_up_to) as Record<string, number>)
          : row.signed_up_to
      const retired: RetiredAuditKey = {
        keyId: row.key_id,
        publicKey: row.public_key,
        retiredAt: new Date(row.retired_at).toISOString(),
        signedUpTo,
        successorKeyId: row.successor_key_id,
      }
      if (!verifyEd25519(successor, retirementMessage(retired), Buffer.from(row.retirement_signature, 'base64url')))
        continue
      trusted.set(retired.keyId, retired.publicKey)
      found.push(retired)
      grew = true
    }
  }
  return found.sort((a, b) => a.retiredAt.localeCompare(b.retiredAt) || a.keyId.localeCompare(b.keyId))
}
