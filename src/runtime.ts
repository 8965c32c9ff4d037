import { existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs'
import path from 'node:path'
import type { Config } from './config.ts'
import { openDatabase, type Database } from './db/connect.ts'
import { migrateToLatest, type MigrationProgress } from './db/migrate.ts'
import { templateForFirstStart } from './db/template.ts'
import { deriveKey, ed25519FromSeed, type Signer } from './crypto/keys.ts'
import { createLocalRootKey, loadLocalRootKey, RootKeyError } from './crypto/root-key.ts'
import {
  confirmServiceKeys,
  recordAuditSigningKey,
  recordedServiceKey,
  retiredAuditKeys,
  type RetiredAuditKey,
} from './crypto/key-record.ts'
import { createLocalProvider } from './crypto/providers/local.ts'
import type { RootKeyProvider } from './crypto/providers/provider.ts'
import { createShamirProvider, readShamirMeta } from './crypto/providers/shamir.ts'
import type { Pkcs11Provider } from './crypto/providers/pkcs11.ts'
import { openKmsProvider, type KmsClient } from './crypto/providers/kms.ts'

/** What both the server and the CLI need: the database (migrated) and the service's keys. */
export interface Runtime {
  database: Database
  signer: Signer
  hmacKey: Buffer
  rootKey: RootKeyProvider
  /** Audit keys replaced after a loss (`keys replace-audit-key`): they verify what they signed before. */
  retiredAuditKeys: readonly RetiredAuditKey[]
}

/**
 * Opens the database and the keys. Key files are created only on a database that holds
 * no data yet: a missing key next to existing data means the key was lost, and replacing
 * it silently would orphan everything it protected.
 */
export async function openRuntime(
  config: Config,
  options: {
    createRootKey: boolean
    progress?: ((event: MigrationProgress) => void) | undefined
    /** `keys migrate-root`: the configured root key is the target, not yet the database's. */
    migratingRootKey?: boolean | undefined
    /** `keys replace-audit-key`: the held audit key replaces the database's (a lost key). */
    replacingAuditKey?: boolean | undefined
  },
): Promise<Runtime> {
  const database = await openEmbeddedOrPostgres(config, options.progress)
  try {
    await migrateToLatest(database.kysely, options.progress)
    const hasData = (await database.kysely.selectFrom('orgs').select('id').limit(1).executeTakeFirst()) !== undefined
    const created: string[] = []
    const ensureKeyFile = (file: string, what: string) => {
      if (existsSync(file)) return
      if (hasData)
        throw new RootKeyError(`${what} file ${file} is missing but the database holds data; restore the key file`)
      if (!options.createRootKey) throw new RootKeyError(`${what} file ${file} does not exist; run \`custodian init\``)
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
      createLocalRootKey(file)
      created.push(file)
    }

    await finishRootRotation(config, database)
    ensureKeyFile(config.auditKeyFile, 'audit key')
    const auditKey = loadLocalRootKey(config.auditKeyFile, 'audit key')
    const signer = ed25519FromSeed(deriveKey(auditKey, 'audit-signing-v1'))
    const rootKey = await openRootKeyProvider(config, ensureKeyFile, !hasData && options.createRootKey)
    try {
      if (rootKey.kind === 'pkcs11' && options.migratingRootKey !== true)
        await finishHsmRotation(database, rootKey as Pkcs11Provider)
      // Before anything is written with them: every node holds the database's keys.
      await confirmServiceKeys(database.kysely, {
        audit: options.replacingAuditKey === true ? undefined : signer.keyId,
        root: options.migratingRootKey === true ? undefined : rootKey,
      })
    } catch (error) {
      rootKey.close?.()
      // A key file this start created that the database does not record (another node's keys
      // are the database's) goes: left behind, it would pass for one of the deployment's.
      const recordedAudit = await recordedServiceKey(database.kysely, 'audit')
      const recordedRoot = await recordedServiceKey(database.kysely, 'root')
      for (const file of created) {
        const mine = file === config.auditKeyFile ? signer.keyId : rootKey.keyName()
        if (mine !== (file === config.auditKeyFile ? recordedAudit : recordedRoot)) unlinkSync(file)
      }
      throw error
    }
    if (options.replacingAuditKey !== true) await recordAuditSigningKey(database.kysely, signer)
    return {
      database,
      signer,
      hmacKey: deriveKey(auditKey, 'audit-hmac-v1'),
      rootKey,
      retiredAuditKeys: await retiredAuditKeys(database.kysely, signer),
    }
  } catch (error) {
    await database.close()
    throw error
  }
}

/**
 * The service's keys without its database (backup verify and restore open databases of
 * their own): the audit signing and HMAC keys, and the root-key provider. Nothing is
 * created: a missing key file is an error.
 */
export async function openServiceKeys(config: Config): Promise<Omit<Runtime, 'database' | 'retiredAuditKeys'>> {
  const mustExist = (file: string, what: string) => {
    if (!existsSync(file)) throw new RootKeyError(`${what} file ${file} does not exist`)
  }
  mustExist(config.auditKeyFile, 'audit key')
  const auditKey = loadLocalRootKey(config.auditKeyFile, 'audit key')
  return {
    signer: ed25519FromSeed(deriveKey(auditKey, 'audit-signing-v1')),
    hmacKey: deriveKey(auditKey, 'audit-hmac-v1'),
    rootKey: await openRootKeyProvider(config, mustExist, false),
  }
}

/**
 * Opens the configured database. An embedded first start copies the migrated template
 * (src/db/template.ts) when there is one, else creates the database empty; either way it
 * says so before the wait, so a first start is never silent.
 */
export async function openEmbeddedOrPostgres(
  config: Pick<
    Config,
    'databaseUrl' | 'dataDir' | 'databasePoolSize' | 'databasePreparedStatements' | 'pgliteTemplate'
  >,
  progress: ((event: MigrationProgress) => void) | undefined,
): Promise<Database> {
  const pgdata = path.join(config.dataDir, 'pgdata')
  const creating = config.databaseUrl === undefined && !existsSync(pgdata)
  const started = performance.now()
  const template = creating ? await templateForFirstStart(config.pgliteTemplate, progress) : undefined
  if (creating && template !== undefined && config.pgliteTemplate !== null)
    progress?.({
      kind: 'copying',
      where: pgdata,
      from: config.pgliteTemplate,
      migrations: template.migrations.length,
    })
  else if (creating) progress?.({ kind: 'creating', where: pgdata })
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    preparedStatements: config.databasePreparedStatements,
    template: template === undefined ? undefined : (config.pgliteTemplate ?? undefined),
  })
  if (creating) progress?.({ kind: 'created', ms: Math.round(performance.now() - started) })
  return database
}

/**
 * Opens the configured root-key provider. `local` creates its key file on a first start;
 * `pkcs11` creates its key in the HSM when `mayCreate`. A KMS provider is opened even when
 * the KMS does not answer: it starts sealed (503 for secret operations, /readyz not ready)
 * and probes again every CUSTODIAN_KMS_RETRY_MS.
 */
export async function openRootKeyProvider(
  config: Config,
  ensureKeyFile: (file: string, what: string) => void,
  mayCreate: boolean,
): Promise<RootKeyProvider> {
  switch (config.rootKeyProvider) {
    case 'local':
      ensureKeyFile(config.rootKeyFile, 'root key')
      return createLocalProvider(loadLocalRootKey(config.rootKeyFile))

    case 'shamir':
      if (!existsSync(config.shamirFile)) {
        throw new RootKeyError(
          `no Shamir root key at ${config.shamirFile}; create one with \`custodian init --shares M --threshold N\``,
        )
      }
      return createShamirProvider(readShamirMeta(config.shamirFile))
    case 'pkcs11': {
      // Loaded only for this provider: its native module (pkcs11js) is no other start's cost.
      const { createPkcs11Provider } = await import('./crypto/providers/pkcs11.ts')
      return createPkcs11Provider(
        {
          module: config.pkcs11.module,
          tokenLabel: config.pkcs11.tokenLabel as string,
          pin: readPin(config),
          keyLabel: config.pkcs11.keyLabel,
        },
        mayCreate,
      )
    }
    case 'aws-kms':
    case 'gcp-kms':
    case 'azure-keyvault':
    case 'transit':
      return openKmsProvider(await kmsClientFor(config), { retryMs: config.kms.retryMs, checkMs: config.kms.checkMs })
  }
}

/** The KMS client of the configured KMS provider; each SDK is loaded only when used. */
async function kmsClientFor(config: Config): Promise<KmsClient> {
  const { kms } = config
  switch (config.rootKeyProvider) {
    case 'aws-kms': {
      const { createAwsKmsClient } = await import('./crypto/providers/aws-kms.ts')
      return createAwsKmsClient({ keyArn: kms.awsKeyArn as string, endpoint: kms.awsEndpoint })
    }
    case 'gcp-kms': {
      const { createGcpKmsClient } = await import('./crypto/providers/gcp-kms.ts')
      return createGcpKmsClient({ keyName: kms.gcpKeyName as string, endpoint: kms.gcpEndpoint })
    }
    case 'azure-keyvault': {
      const { createAzureKeyVaultClient } = await import('./crypto/providers/azure-keyvault.ts')
      return createAzureKeyVaultClient({ keyId: kms.azureKeyId as string })
    }
    case 'transit': {
      const { createTransitClient } = await import('./crypto/providers/transit.ts')
      return createTransitClient({
        address: kms.transit.address as string,
        mount: kms.transit.mount,
        keyName: kms.transit.keyName as string,
        tokenFile: kms.transit.tokenFile as string,
        namespace: kms.transit.namespace,
        caFile: kms.transit.caFile,
      })
    }
    case 'local':
    case 'shamir':
    case 'pkcs11':
      throw new Error(`${config.rootKeyProvider} is not a KMS provider`)
  }
}

/**
 * `custodian keys rotate-root` writes `root.key.next`, rewraps every org key in one
 * transaction, then swaps the files. If it stopped between the commit and the swap, the
 * database already needs the new key: finish the swap. If it stopped before the commit,
 * the new key was never used: discard it.
 */
async function finishRootRotation(config: Config, database: Database): Promise<void> {
  // The HSM or KMS holds the keys: nothing to swap.
  if (config.rootKeyProvider !== 'local' && config.rootKeyProvider !== 'shamir') return
  const file = config.rootKeyProvider === 'local' ? config.rootKeyFile : config.shamirFile
  const next = `${file}.next`
  if (!existsSync(next)) return
  const nextId =
    config.rootKeyProvider === 'local'
      ? createLocalProvider(loadLocalRootKey(next, 'next root key')).keyId()
      : readShamirMeta(next).keyId
  const used = await database.kysely
    .selectFrom('org_keys')
    .select('org_id')
    .where('root_key_id', '=', nextId)
    .limit(1)
    .executeTakeFirst()
  // With no org key yet, the commit shows only in the record of the database's root key
  // (src/crypto/key-record.ts): discarding the new key then would leave the database
  // recording a key that exists nowhere, and every start refused.
  if (used !== undefined || (await recordedServiceKey(database.kysely, 'root')) === nextId) {
    renameSync(file, `${file}.retired-${Date.now()}`)
    renameSync(next, file)
  } else {
    unlinkSync(next)
  }
}

/**
 * `keys rotate-root` on an HSM makes the new key (relabelling the current one, kept) before the
 * rewrap. If it stopped or failed before its commit, the key under the label wraps nothing and
 * the database still records the old one: make that one current again, as a local rotation's
 * unused `root.key.next` is discarded. Otherwise (the labelled key wraps something, or the
 * recorded key is not on the token) nothing changes, and the key check decides.
 */
async function finishHsmRotation(database: Database, hsm: Pkcs11Provider): Promise<void> {
  const recorded = await recordedServiceKey(database.kysely, 'root')
  if (recorded === undefined || recorded === hsm.keyName()) return
  const held = hsm.keyId()
  const [orgKey, userSecret] = await Promise.all([
    database.kysely.selectFrom('org_keys').select('org_id').where('root_key_id', '=', held).limit(1).executeTakeFirst(),
    database.kysely
      .selectFrom('user_secrets')
      .select('root_key_id')
      .where('root_key_id', '=', held)
      .limit(1)
      .executeTakeFirst(),
  ])
  if (orgKey === undefined && userSecret === undefined) hsm.restore(recorded)
}

function readPin(config: Config): string {
  if (config.pkcs11.pinFile === undefined) return config.pkcs11.pin as string
  const mode = statSync(config.pkcs11.pinFile).mode
  if ((mode & 0o077) !== 0)
    throw new RootKeyError(`PIN file ${config.pkcs11.pinFile} is readable by group or others; run chmod 600 on it`)
  return readFileSync(config.pkcs11.pinFile, 'utf8').trim()
}
