import { sql, type Kysely } from 'kysely'
import type { Signer } from '../../../crypto/keys.ts'
import { signJws, verifyJws } from '../../../crypto/jws.ts'
import { LibraryUnavailable } from '../../../on-first-use.ts'
import type { Engine } from '../../../db/connect.ts'
import type { DB } from '../../../db/schema.ts'
import type { KeyWrap } from './backup.keys.ts'

/** The JWS `typ` of a backup manifest. */
export const MANIFEST_TYPE = 'custodian-backup-manifest+jws'
export const BACKUP_FORMAT = 'custodian-backup/v1'

/** One org's audit log as the backup holds it: its chained head and its newest signed checkpoint. */
export interface OrgHead {
  orgId: string
  /** Highest chained `seq` and its chain hash (hex); seq 0 and null hash for a log not started. */
  head: { seq: number; hash: string | null }
  /** Newest signed checkpoint: tree size and Merkle root (base64, as in the C2SP note); null before the first. */
  checkpoint: { treeSize: number; rootHash: string | null; signedAt: string } | null
}

/**
 * What a backup holds, signed (compact JWS, EdDSA, by the audit signing key — the key
 * published at `GET /v1/audit/keys`, which signs checkpoints and certificates). No secret:
 * the file key appears only wrapped. docs/backup-format.md describes every field.
 */
export interface BackupManifest {
  format: typeof BACKUP_FORMAT
  backupId: string
  createdAt: string
  engine: Engine
  /** The last migration applied to the backed-up database. */
  schemaVersion: string
  /** `pg_dump --format=custom` (PostgreSQL) or `pglite-datadir-tar.gz` (PGlite's dumpDataDir). */
  content: 'pg_dump-custom' | 'pglite-datadir-tar.gz'
  payload: {
    cipher: 'AES-256-GCM-STREAM'
    chunkBytes: number
    /** base64url, 16 bytes: the HKDF salt of the payload key. */
    nonce: string
    /** Bytes of ciphertext between the file's header and its trailer. */
    ciphertextBytes: number
    /** SHA-256 of those bytes, hex. */
    ciphertextSha256: string
  }
  keyWrap: KeyWrap
  orgs: OrgHead[]
}

/** Runs one read-only SQL statement and returns its rows (a pg client in a snapshot, or Kysely). */
export type RunQuery = <R>(text: string) => Promise<R[]>

/** A {@link RunQuery} over Kysely (the owner connection). */
export function kyselyQuery(db: Kysely<DB>): RunQuery {
  return async <R>(text: string) => (await sql.raw<R>(text).execute(db)).rows
}

/**
 * Every org's chained head and newest checkpoint, and the schema version. PostgreSQL reads
 * them in the very snapshot pg_dump dumps (an exported snapshot); PGlite reads them before
 * and after its dump and retries until both agree (backup.service.ts).
 */
export async function collectState(query: RunQuery): Promise<{ schemaVersion: string; orgs: OrgHead[] }> {
  const migration = await query<{ name: string }>('SELECT name FROM custodian_migrations ORDER BY name DESC LIMIT 1')
  const rows = await query<{
    org_id: string
    seq: number | string | null
    hash: Uint8Array | null
    cp_seq: number | string | null
    cp_root: Uint8Array | null
    cp_at: Date | null
  }>(`SELECT o.id::text AS org_id, h.seq, h.hash, c.seq AS cp_seq, c.root_hash AS cp_root, c.signed_at AS cp_at
        FROM orgs o
        LEFT JOIN audit_heads h ON h.org_id = o.id
        LEFT JOIN LATERAL (SELECT seq, root_hash, signed_at FROM audit_checkpoints
                            WHERE org_id = o.id ORDER BY seq DESC LIMIT 1) c ON true
       ORDER BY o.id`)
  return {
    schemaVersion: migration[0]?.name ?? 'none',
    orgs: rows.map((r) => {
      const seq = Number(r.seq ?? 0)
      return {
        orgId: r.org_id,
        head: { seq, hash: r.hash === null || seq === 0 ? null : Buffer.from(r.hash).toString('hex') },
        checkpoint:
          r.cp_seq === null || r.cp_at === null
            ? null
            : {
                treeSize: Number(r.cp_seq),
                rootHash: r.cp_root === null ? null : Buffer.from(r.cp_root).toString('base64'),
                signedAt: new Date(r.cp_at).toISOString(),
              },
      }
    }),
  }
}

export function signManifest(signer: Signer, manifest: BackupManifest): string {
  return signJws(signer, MANIFEST_TYPE, manifest as unknown as Record<string, unknown>)
}

/** The manifest is not signed by a trusted key, or is not a manifest. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ManifestError'
  }
}

/**
 * Verifies a manifest's signature against the trusted audit keys (key id → raw Ed25519
 * public key, base64url) and its shape; throws {@link ManifestError}.
 */
export async function verifyManifest(jws: string, keys: ReadonlyMap<string, string>): Promise<BackupManifest> {
  let verified: Awaited<ReturnType<typeof verifyJws>>
  try {
    verified = await verifyJws(jws, keys)
  } catch (error) {
    if (error instanceof LibraryUnavailable) throw error
    const message = (error as Error).message
    throw new ManifestError(
      `the backup's manifest does not verify: ${message}${
        message.startsWith('signed by an unknown key')
          ? ' — a backup of another deployment (another region, or another installation) is signed by that deployment’s audit key: verify and restore it there, with its own keys (CUSTODIAN_AUDIT_KEY_FILE)'
          : ''
      }`,
    )
  }
  if (verified.header.typ !== MANIFEST_TYPE) throw new ManifestError('the signed document is not a backup manifest')
  const m = verified.payload as Partial<Record<keyof BackupManifest, unknown>> & {
    payload?: { ciphertextSha256?: unknown }
  }
  if (m.format !== BACKUP_FORMAT) throw new ManifestError(`unknown backup format ${String(m.format)}`)
  if (typeof m.backupId !== 'string' || typeof m.payload?.ciphertextSha256 !== 'string' || !Array.isArray(m.orgs))
    throw new ManifestError('the backup manifest lacks required fields')
  return m as unknown as BackupManifest
}
