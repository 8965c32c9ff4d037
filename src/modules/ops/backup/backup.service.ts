import { randomBytes, randomUUID, type KeyObject } from 'node:crypto'
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { PGlite } from '@electric-sql/pglite'
import type { Signer } from '../../../crypto/keys.ts'
import type { RootKeyProvider } from '../../../crypto/providers/provider.ts'
import { openDatabase, pgliteParsers, pgliteStartParams, type Database } from '../../../db/connect.ts'
import { lockDataDir } from '../../../db/lock.ts'
import {
  createDatabase,
  databaseName,
  dropDatabase,
  otherSessions,
  pgDumpStream,
  pgliteSnapshot,
  pgRestore,
  readAll,
  siblingName,
  swapDatabases,
  withClient,
  withDatabase,
} from './backup.engine.ts'
import {
  BackupRefusedError,
  checkPayloadHash,
  decryptPayload,
  readBackupFrame,
  writeBackupFile,
} from './backup.file.ts'
import { inspectRestored, type RestoredFigures } from './backup.inspect.ts'
import { regionTag, tagOfOrgId } from '../residency.ts'
import { unwrapFileKey, wrapFileKey } from './backup.keys.ts'
import {
  BACKUP_FORMAT,
  collectState,
  kyselyQuery,
  signManifest,
  verifyManifest,
  type BackupManifest,
  type OrgHead,
  type RunQuery,
} from './backup.manifest.ts'

/** The service's keys a backup needs: the audit signer (manifest), the root key (file key, org keys). */
export interface BackupKeys {
  signer: Signer
  hmacKey: Buffer
  rootKey: RootKeyProvider | undefined
  /** The deployment's region (P8.2): a copy holding an org of another region fails its checks, so it is never swapped in. */
  region?: string | undefined
}

export { BackupRefusedError } from './backup.file.ts'

/** A restored copy failed its checks (verify, or restore before the swap); `figures` says what was found. */
export class BackupVerificationError extends Error {
  readonly figures: RestoredFigures
  constructor(figures: RestoredFigures) {
    super(`the backup does not verify: ${figures.problems.join('; ')}`)
    this.name = 'BackupVerificationError'
    this.figures = figures
  }
}

/** Where a backup is taken from: the open database, and for PostgreSQL its URL (pg_dump connects itself). */
export interface BackupSource {
  database: Database
  databaseUrl: string | undefined
}

/**
 * Creates an encrypted, signed backup of the database at `file` (written as `file.partial`,
 * renamed when complete). The file key is fresh, wrapped to `recipient` when given, else by
 * the root key. The manifest's heads are those of the very data in the file.
 */
export async function createBackup(
  source: BackupSource,
  keys: Pick<BackupKeys, 'signer' | 'rootKey'>,
  options: { file: string; recipient?: KeyObject | undefined; now?: () => Date },
): Promise<{ file: string; bytes: number; manifest: BackupManifest }> {
  if (existsSync(options.file))
    throw new BackupRefusedError('BACKUP_EXISTS', `${options.file} exists already; choose another --out`)
  const backupId = randomUUID()
  const fileKey = randomBytes(32)
  try {
    const keyWrap = await wrapFileKey(
      fileKey,
      backupId,
      options.recipient !== undefined
        ? { recipient: options.recipient }
        : { rootKey: requireUnsealed(keys.rootKey, 'encrypt the backup') },
    )
    let manifest: BackupManifest | undefined
    const written = await withSnapshot(source, async (plaintext, state) =>
      writeBackupFile(options.file, plaintext, fileKey, async (payload) => {
        manifest = {
          format: BACKUP_FORMAT,
          backupId,
          createdAt: (options.now ?? (() => new Date()))().toISOString(),
          engine: source.database.engine,
          schemaVersion: state.schemaVersion,
          content: source.database.engine === 'postgres' ? 'pg_dump-custom' : 'pglite-datadir-tar.gz',
          payload,
          keyWrap,
          orgs: state.orgs,
        }
        return signManifest(keys.signer, manifest)
      }),
    )
    return { file: options.file, bytes: written.bytes, manifest: manifest as BackupManifest }
  } finally {
    fileKey.fill(0)
  }
}

function requireUnsealed(rootKey: RootKeyProvider | undefined, what: string): RootKeyProvider {
  if (rootKey === undefined) throw new Error(`no root key is configured to ${what}`)
  if (rootKey.sealed()) throw new Error(`the root key is sealed: unseal it to ${what}, or give a recipient key`)
  return rootKey
}

type State = { schemaVersion: string; orgs: OrgHead[] }

/**
 * Runs `write` over a consistent snapshot and the heads of that same snapshot.
 * PostgreSQL: a repeatable-read transaction exports its snapshot, the heads are read in it,
 * and pg_dump dumps it. PGlite: the heads read before and after the dump must agree (the
 * sequencer runs in the same process and may chain between two statements); else again.
 */
async function withSnapshot<T>(
  source: BackupSource,
  write: (plaintext: Readable, state: State) => Promise<T>,
): Promise<T> {
  if (source.database.engine === 'postgres') {
    if (source.databaseUrl === undefined) throw new Error('a PostgreSQL backup needs the database URL')
    const url = source.databaseUrl
    return withClient(url, async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      try {
        const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]?.id as string
        const query: RunQuery = async <R>(text: string) => (await client.query(text)).rows as R[]
        const state = await collectState(query)
        return await write(pgDumpStream(url, snapshot), state)
      } finally {
        await client.query('ROLLBACK').catch(() => undefined)
      }
    })
  }
  const query = kyselyQuery(source.database.kysely)
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await collectState(query)
    const snapshot = await pgliteSnapshot(source.database)
    const after = await collectState(query)
    if (JSON.stringify(before) === JSON.stringify(after)) return write(snapshot, before)
    snapshot.destroy()
  }
  throw new Error('the audit heads kept changing during the snapshot; try again')
}

/** A backup file whose frame, manifest signature and payload hash have been checked. */
export interface OpenedBackup {
  file: string
  manifest: BackupManifest
  fileKey: Buffer
  /** The decrypted payload, streamed; it errors at the first chunk that does not authenticate. */
  plaintext(): Readable
}

/**
 * Opens a backup: its frame, its manifest's signature by a trusted audit key, its payload's
 * SHA-256, then its file key (root key, or the recipient identity). Nothing is decrypted yet.
 */
export async function openBackup(
  file: string,
  keys: Pick<BackupKeys, 'signer' | 'rootKey'>,
  identity: KeyObject | undefined,
): Promise<OpenedBackup> {
  if (!existsSync(file)) throw new BackupRefusedError('BACKUP_NOT_FOUND', `${file} does not exist`)
  const parts = readBackupFrame(file)
  const manifest = await verifyManifest(parts.manifestJws, new Map([[keys.signer.keyId, keys.signer.publicKey]]))
  await checkPayloadHash(file, parts, manifest)
  const fileKey = await unwrapFileKey(manifest.keyWrap, manifest.backupId, { rootKey: keys.rootKey, identity })
  return { file, manifest, fileKey, plaintext: () => decryptPayload(file, parts, manifest, fileKey) }
}

/** What `verify` reports. */
export interface VerifyReport {
  file: string
  backupId: string
  createdAt: string
  engine: BackupManifest['engine']
  keyWrap: BackupManifest['keyWrap']['type']
  ciphertextBytes: number
  figures: RestoredFigures
}

/**
 * P8.2, up front: a backup whose signed manifest names an org of another region (an org id
 * tagged with another region, src/modules/ops/residency.ts) is refused before anything is
 * decrypted into a database of this region. Orgs whose ids name no region (made before
 * residency) are checked in the restored copy instead ({@link inspectRestored}).
 */
function refuseOtherRegion(manifest: BackupManifest, region: string | undefined): void {
  // Without a region here, every region is another (residency is not turned off by leaving it out).
  const here = region === undefined ? undefined : regionTag(region)
  const foreign = manifest.orgs.filter((o) => {
    const tag = tagOfOrgId(o.orgId)
    return tag !== undefined && tag !== here
  })
  if (foreign.length > 0)
    throw new BackupRefusedError(
      'BACKUP_REGION_MISMATCH',
      `the backup holds ${foreign.length} org${foreign.length > 1 ? 's' : ''} of another region (${foreign
        .slice(0, 3)
        .map((o) => o.orgId)
        .join(
          ', ',
        )}${foreign.length > 3 ? ', …' : ''}); this deployment serves ${region} (CUSTODIAN_REGION): verify and restore it in that region's deployment (P8.2)`,
    )
}

/**
 * Verifies a backup end to end: opens it ({@link openBackup}), decrypts it into a scratch
 * database (PostgreSQL: a database created beside `postgresUrl`'s and dropped after; PGlite:
 * a temporary data directory, removed after) and checks the copy ({@link inspectRestored}).
 * Throws {@link BackupVerificationError} when a check fails.
 *
 * `onChecked` is called once every refusal that can be known up front has been made (the
 * file, its signature and hash, the key, a PostgreSQL backup with no server to restore it
 * on), before the scratch database is created: a caller's progress line never precedes a
 * refusal it could have had first.
 */
export async function verifyBackup(
  file: string,
  keys: BackupKeys,
  options: { identity?: KeyObject | undefined; postgresUrl: string | undefined; onChecked?: () => void },
): Promise<VerifyReport> {
  const opened = await openBackup(file, keys, options.identity)
  try {
    refuseOtherRegion(opened.manifest, keys.region)
    if (opened.manifest.engine === 'postgres' && options.postgresUrl === undefined)
      throw new BackupRefusedError(
        'BACKUP_ENGINE_MISMATCH',
        'a PostgreSQL backup is verified in a scratch database: set DATABASE_URL to a server to create it on',
      )
    options.onChecked?.()
    const figures = await withScratch(opened, options.postgresUrl, (database) =>
      inspectRestored(database.kysely, opened.manifest, keys),
    )
    if (figures.problems.length > 0) throw new BackupVerificationError(figures)
    const { manifest } = opened
    return {
      file,
      backupId: manifest.backupId,
      createdAt: manifest.createdAt,
      engine: manifest.engine,
      keyWrap: manifest.keyWrap.type,
      ciphertextBytes: manifest.payload.ciphertextBytes,
      figures,
    }
  } finally {
    opened.fileKey.fill(0)
  }
}

async function withScratch<T>(
  opened: OpenedBackup,
  postgresUrl: string | undefined,
  fn: (database: Database) => Promise<T>,
): Promise<T> {
  if (opened.manifest.engine === 'postgres') {
    if (postgresUrl === undefined) throw new Error('a PostgreSQL backup is verified beside a server (checked first)')
    const scratch = siblingName(databaseName(postgresUrl), 'bkverify')
    await createDatabase(postgresUrl, scratch)
    try {
      const url = withDatabase(postgresUrl, scratch)
      await pgRestore(url, opened.plaintext())
      const database = await openDatabase({ databaseUrl: url, poolSize: 2 })
      try {
        return await fn(database)
      } finally {
        await database.close()
      }
    } finally {
      await dropDatabase(postgresUrl, scratch)
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-backup-verify-'))
  try {
    const database = await loadPglite(path.join(dir, 'pgdata'), await readAll(opened.plaintext()))
    try {
      return await fn(database)
    } finally {
      await database.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// The whole archive in memory: PGlite (0.5.x) loads a data directory only from a Blob, which
// its loadTar reads whole (arrayBuffer), gunzips and untars in memory — as dumpDataDir builds
// it on the way out. docs/operations.md ("Memory, embedded database") states the bound.
async function loadPglite(dataDir: string, tarball: Buffer): Promise<Database> {
  const pglite = await PGlite.create({
    dataDir,
    loadDataDir: new Blob([new Uint8Array(tarball)]),
    parsers: pgliteParsers(),
    startParams: pgliteStartParams(),
  })
  return openDatabase({ pglite })
}

/** What `restore` did. */
export interface RestoreReport {
  backupId: string
  figures: RestoredFigures
  /** Where the data the restore replaced was kept (a database name, or a directory); undefined when there was none. */
  previous: string | undefined
}

/**
 * Restores a backup into the configured database, atomically: into a new database (or data
 * directory) first, checked like `verify`, then put in the place of the old one, which is
 * kept (renamed), never dropped. Refused, with nothing changed, when a service is connected
 * to the target (PostgreSQL: another session on it; embedded: the data-directory lock), when
 * the target holds data and `force` is not set, or when the backup's engine is not the
 * target's. Every such refusal (and the file's own checks, {@link openBackup}) comes before
 * `onChecked`, which is called once, just before the first change (the new database or
 * staging directory): a caller prints its progress there, never before a refusal.
 */
export async function restoreBackup(
  file: string,
  keys: BackupKeys,
  target: { databaseUrl: string | undefined; dataDir: string },
  options: { identity?: KeyObject | undefined; force: boolean; onChecked?: () => void },
): Promise<RestoreReport> {
  const opened = await openBackup(file, keys, options.identity)
  const onChecked = options.onChecked ?? (() => {})
  try {
    refuseOtherRegion(opened.manifest, keys.region)
    const engine = target.databaseUrl === undefined ? 'pglite' : 'postgres'
    if (opened.manifest.engine !== engine)
      throw new BackupRefusedError(
        'BACKUP_ENGINE_MISMATCH',
        `this is a backup of ${opened.manifest.engine === 'pglite' ? 'an embedded (PGlite)' : 'a PostgreSQL'} database; it restores only into the same engine`,
      )
    return target.databaseUrl === undefined
      ? await restorePglite(opened, keys, target.dataDir, options.force, onChecked)
      : await restorePostgres(opened, keys, target.databaseUrl, options.force, onChecked)
  } finally {
    opened.fileKey.fill(0)
  }
}

async function restorePostgres(
  opened: OpenedBackup,
  keys: BackupKeys,
  url: string,
  force: boolean,
  onChecked: () => void,
): Promise<RestoreReport> {
  const target = databaseName(url)
  // A database cannot be renamed from a session on it: the server's maintenance database.
  const maintenance = withDatabase(url, 'postgres')
  const refuseIfInUse = async () => {
    const sessions = await otherSessions(maintenance, target)
    if (sessions > 0)
      throw new BackupRefusedError(
        'BACKUP_TARGET_IN_USE',
        `${sessions} session(s) are connected to ${target}: stop every Custodian process using it, then restore`,
      )
  }
  await refuseIfInUse()
  const exists = await withClient(maintenance, async (client) => {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [target])).rowCount !== 0
  })
  if (exists && !force) {
    const orgs = await withClient(url, async (client) => {
      const table = await client.query<{ t: string | null }>(`SELECT to_regclass('orgs')::text AS t`)
      if (table.rows[0]?.t === null) return 0
      return Number((await client.query<{ n: string }>('SELECT count(*)::text AS n FROM orgs')).rows[0]?.n ?? 0)
    })
    if (orgs > 0)
      throw new BackupRefusedError(
        'BACKUP_TARGET_NOT_EMPTY',
        `${target} holds ${orgs} org(s): restore with --force to replace it (it is kept, renamed, not dropped)`,
      )
  }
  onChecked()
  const fresh = siblingName(target, 'restore')
  await createDatabase(maintenance, fresh)
  let swapped = false
  try {
    const freshUrl = withDatabase(url, fresh)
    await pgRestore(freshUrl, opened.plaintext())
    const database = await openDatabase({ databaseUrl: freshUrl, poolSize: 2 })
    let figures: RestoredFigures
    try {
      figures = await inspectRestored(database.kysely, opened.manifest, keys)
    } finally {
      await database.close()
    }
    if (figures.problems.length > 0) throw new BackupVerificationError(figures)
    await refuseIfInUse()
    const previous = exists ? siblingName(target, 'prerestore') : undefined
    await swapDatabases(maintenance, target, fresh, previous ?? '')
    swapped = true
    return { backupId: opened.manifest.backupId, figures, previous }
  } finally {
    if (!swapped) await dropDatabase(maintenance, fresh)
  }
}

/** The data directory's database: `pgdata`; a verified restore waits as `pgdata.restored` until swapped in. */
export const RESTORED_SUFFIX = '.restored'

async function restorePglite(
  opened: OpenedBackup,
  keys: BackupKeys,
  dataDir: string,
  force: boolean,
  onChecked: () => void,
): Promise<RestoreReport> {
  const lock = lockDataDir(dataDir) // DataDirLockedError names the running process: refused, nothing changed
  try {
    const pgdata = path.join(dataDir, 'pgdata')
    if (existsSync(pgdata) && !force) {
      const current = await openDatabase({
        pglite: await PGlite.create({ dataDir: pgdata, parsers: pgliteParsers(), startParams: pgliteStartParams() }),
      })
      try {
        const orgs = await current.kysely
          .selectFrom('orgs')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirst()
          .catch(() => undefined)
        if (Number(orgs?.n ?? 0) > 0)
          throw new BackupRefusedError(
            'BACKUP_TARGET_NOT_EMPTY',
            `${pgdata} holds ${orgs?.n} org(s): restore with --force to replace it (it is kept, renamed, not deleted)`,
          )
      } finally {
        await current.close()
      }
    }
    onChecked()
    const staging = `${pgdata}.restoring`
    const restored = `${pgdata}${RESTORED_SUFFIX}`
    rmSync(staging, { recursive: true, force: true })
    rmSync(restored, { recursive: true, force: true })
    let figures: RestoredFigures
    try {
      const database = await loadPglite(staging, await readAll(opened.plaintext()))
      try {
        figures = await inspectRestored(database.kysely, opened.manifest, keys)
      } finally {
        await database.close()
      }
      if (figures.problems.length > 0) throw new BackupVerificationError(figures)
    } catch (error) {
      rmSync(staging, { recursive: true, force: true })
      throw error
    }
    // Verified: from here a crash is finished by the next open (src/db/connect.ts puts
    // `pgdata.restored` in place when `pgdata` is gone).
    renameSync(staging, restored)
    const previous = existsSync(pgdata) ? `${pgdata}.before-restore-${Date.now()}` : undefined
    if (previous !== undefined) renameSync(pgdata, previous)
    renameSync(restored, pgdata)
    return { backupId: opened.manifest.backupId, figures, previous }
  } finally {
    lock.release()
  }
}
