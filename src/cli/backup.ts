import { randomUUID } from 'node:crypto'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { loadConfig, type Config } from '../config.ts'
import { DataDirLockedError } from '../db/lock.ts'
import { orgsNotServed, withOrg, withOwner } from '../db/tenant.ts'
import { databaseName, withClient, withDatabase } from '../modules/ops/backup/backup.engine.ts'
import { BackupRefusedError, readBackupFrame } from '../modules/ops/backup/backup.file.ts'
import { generateRecipientKeyPair, readIdentity, readRecipient } from '../modules/ops/backup/backup.keys.ts'
import { verifyManifest } from '../modules/ops/backup/backup.manifest.ts'
import { basicTime, readScheduleState } from '../modules/ops/backup/backup.schedule.ts'
import {
  BackupVerificationError,
  createBackup,
  RESTORED_SUFFIX,
  restoreBackup,
  verifyBackup,
  type VerifyReport,
} from '../modules/ops/backup/backup.service.ts'
import type { RestoredFigures } from '../modules/ops/backup/backup.inspect.ts'
import { openServiceKeys } from '../runtime.ts'
import { withServices } from './context.ts'
import { CliError } from './cli-error.ts'
import { runCommand } from './command-runner.ts'
import { CLI_ACTOR, cliMeta, defineControlCommand } from '../control/control.command.ts'
import { Type } from '@sinclair/typebox'

const CLI = { type: 'system' as const, id: 'cli' }
const META = { requestId: null, ip: null, userAgent: 'custodian-cli' }
const say = (line: string) => process.stdout.write(`${line}\n`)

/**
 * `custodian backup create`: written by whichever process holds the database — here, or
 * beside a running embedded service inside it, over its control socket, which takes the
 * consistent copy of its own data directory (PGlite's dumpDataDir). `file` and `recipient`
 * are absolute paths, resolved by the CLI.
 */
export const backupCreateCommand = defineControlCommand({
  name: 'backup create',
  input: Type.Object(
    { file: Type.String({ minLength: 1 }), recipient: Type.Optional(Type.String({ minLength: 1 })) },
    { additionalProperties: false },
  ),
  needs: 'services',
  async handler(input, { services, out, origin }) {
    const { runtime, identity, audit, config } = services
    const engine = runtime.database.engine
    const recipient = input.recipient === undefined ? undefined : readRecipient(input.recipient)
    out.stdout(`Backing up the ${engine === 'postgres' ? 'PostgreSQL' : 'embedded'} database to ${input.file}…\n`)
    const created = await createBackup(
      { database: runtime.database, databaseUrl: config.databaseUrl },
      { signer: runtime.signer, rootKey: runtime.rootKey },
      { file: input.file, recipient },
    ).catch((error: unknown) => {
      throw error instanceof BackupRefusedError ? refused(error) : error
    })
    const providerOrg = await identity.auth.providerOrgId()
    // A provider org rollback detection refuses (P8.1) is written nothing; the backup stands.
    if (providerOrg !== undefined && !orgsNotServed(runtime.database.kysely).includes(providerOrg))
      await withOrg(runtime.database.kysely, providerOrg, (trx) =>
        audit.service.append(trx, {
          orgId: providerOrg,
          actor: CLI_ACTOR,
          action: 'backup.create',
          target: { type: 'backup', id: created.manifest.backupId },
          outcome: 'success',
          details: {
            trigger: 'cli',
            file: path.basename(input.file),
            bytes: created.bytes,
            engine,
            keyWrap: created.manifest.keyWrap.type,
          },
          meta: cliMeta(origin),
        }),
      )
    out.stdout(
      `Backup ${created.manifest.backupId} written: ${created.bytes} bytes, ${created.manifest.orgs.length} org(s), key ${created.manifest.keyWrap.type === 'x25519' ? 'sealed to the recipient key' : 'wrapped by the root key'}.\n`,
    )
    out.stdout(
      `Check that it restores: custodian backup verify ${input.file}${created.manifest.keyWrap.type === 'x25519' ? ' --identity <the private key>' : ''}\n`,
    )
  },
})

/**
 * `custodian backup create|verify|restore|list|keygen` (P8.1; docs/operations.md,
 * docs/backup-format.md). Each opens what it needs itself: verify and restore work from the
 * key files alone, so they run on a machine where the service's database is not reachable.
 */
export function registerBackup(program: Command): void {
  const backup = program
    .command('backup')
    .description('encrypted, signed backups of the database: create, verify, restore, list')

  backup
    .command('create')
    .description(
      'back up the database while the service runs (PostgreSQL: pg_dump; embedded: a consistent copy of the data directory, taken by the running service over its control socket, or opened here when it is stopped)',
    )
    .option(
      '--out <file>',
      'where to write the backup (default: custodian-manual-<time>-<engine>.cbk in CUSTODIAN_BACKUP_DIR or the current directory); never replaces a file',
    )
    .option('--recipient <keyfile>', 'encrypt to this X25519 public key (PEM) instead of under the root key')
    .action(async (options: { out?: string; recipient?: string }) => {
      const config = loadConfig()
      // Paths are the CLI's (its working directory), whichever process writes the file.
      if (options.recipient !== undefined) readRecipient(options.recipient)
      const engine = config.databaseUrl === undefined ? 'pglite' : 'postgres'
      await runCommand(backupCreateCommand, {
        file: path.resolve(
          // Not the scheduler's name: a manual backup never competes with a scheduled run for
          // one name, and is never mistaken for one (retention goes by the recorded runs anyway).
          options.out ??
            path.join(config.backup?.dir ?? '.', `custodian-manual-${basicTime(new Date())}-${engine}.cbk`),
        ),
        ...(options.recipient === undefined ? {} : { recipient: path.resolve(options.recipient) }),
      })
    })

  backup
    .command('verify <file>')
    .description(
      'check a backup end to end: signature, hash, decryption, a restore into a scratch database, every audit chain, the keys',
    )
    .option('--identity <keyfile>', 'the X25519 private key (PEM) a recipient backup was encrypted to')
    .action(async (file: string, options: { identity?: string }) => {
      const config = loadConfig()
      const keys = { ...(await openServiceKeys(config)), region: config.residency?.region }
      const identity = options.identity === undefined ? undefined : readIdentity(options.identity)
      const started = new Date()
      let report: VerifyReport | undefined
      let failure: Error | undefined
      try {
        report = await verifyBackup(path.resolve(file), keys, {
          identity,
          postgresUrl: config.databaseUrl,
          onChecked: () => say(`Verifying ${file}: restoring it into a scratch database…`),
        })
      } catch (error) {
        failure = error as Error
      }
      // A refusal (no such file, a PostgreSQL backup with no server to verify it on) comes
      // before the check begins and is not a verification of the backup: reported, not recorded.
      if (failure instanceof BackupRefusedError) throw refused(failure)
      await recordVerify(config, file, started, report, failure)
      if (failure !== undefined) {
        if (failure instanceof BackupVerificationError) printFigures(failure.figures)
        throw new CliError(failure.message)
      }
      const r = report as VerifyReport
      say(`Backup ${r.backupId} of ${r.createdAt} (${r.engine}, key ${r.keyWrap}) verifies:`)
      printFigures(r.figures)
    })

  backup
    .command('restore <file>')
    .description(
      'restore a backup into the configured database: into a new database (or data directory), checked, then swapped in; the service must be stopped',
    )
    .option('--identity <keyfile>', 'the X25519 private key (PEM) a recipient backup was encrypted to')
    .option(
      '--force',
      'replace a database that holds data; the replaced one is kept (renamed: a database <name>_prerestore_…, or pgdata.before-restore-…), never dropped',
    )
    .action(async (file: string, options: { identity?: string; force?: boolean }) => {
      const config = loadConfig()
      const keys = { ...(await openServiceKeys(config)), region: config.residency?.region }
      const identity = options.identity === undefined ? undefined : readIdentity(options.identity)
      let restored: Awaited<ReturnType<typeof restoreBackup>>
      try {
        restored = await restoreBackup(
          path.resolve(file),
          keys,
          { databaseUrl: config.databaseUrl, dataDir: config.dataDir },
          {
            identity,
            force: options.force === true,
            // Only once every refusal it can know up front has been made (restoreBackup).
            onChecked: () => say(`Restoring ${file}: into a new database first, checked before it replaces anything…`),
          },
        )
      } catch (error) {
        if (error instanceof BackupVerificationError) printFigures(error.figures)
        if (error instanceof BackupRefusedError) throw refused(error)
        if (error instanceof DataDirLockedError)
          throw new CliError(`${error.message.split(';')[0]}: stop the service, then restore`)
        throw error
      }
      printFigures(restored.figures)
      // The restored database records its own restore (its migrations are applied first).
      await withServices({ createRootKey: false }, async ({ runtime, identity: auth, audit }) => {
        const providerOrg = await auth.auth.providerOrgId()
        if (providerOrg === undefined) return
        await withOrg(runtime.database.kysely, providerOrg, (trx) =>
          audit.service.append(trx, {
            orgId: providerOrg,
            actor: CLI,
            action: 'backup.restore',
            target: { type: 'backup', id: restored.backupId },
            outcome: 'success',
            details: {
              file: path.basename(file),
              forced: options.force === true,
              replaced: restored.previous !== undefined,
            },
            meta: META,
          }),
        )
      })
      say(
        `Restored backup ${restored.backupId}.${restored.previous === undefined ? '' : ` The data it replaced is kept as ${restored.previous}; remove it once you no longer need it.`}`,
      )
    })

  backup
    .command('list')
    .description('the backups in a directory (their signed manifests) and the scheduled job’s state')
    .option('--dir <dir>', 'where to look (default: CUSTODIAN_BACKUP_DIR)')
    .action(async (options: { dir?: string }) => {
      const config = loadConfig()
      const dir = options.dir ?? config.backup?.dir
      if (dir === undefined) throw new CliError('give --dir, or set CUSTODIAN_BACKUP_DIR')
      const keys = { ...(await openServiceKeys(config)), region: config.residency?.region }
      const trusted = new Map([[keys.signer.keyId, keys.signer.publicKey]])
      const files = existsSync(dir)
        ? readdirSync(dir)
            .filter((name) => name.endsWith('.cbk'))
            .sort()
        : []
      if (files.length === 0) say(`No backups in ${dir}.`)
      for (const name of files) {
        const file = path.join(dir, name)
        try {
          const manifest = await verifyManifest(readBackupFrame(file).manifestJws, trusted)
          say(
            `${name}  ${manifest.createdAt}  ${manifest.engine}  ${statSync(file).size} bytes  ${manifest.orgs.length} org(s)  key ${manifest.keyWrap.type}  signed`,
          )
        } catch (error) {
          say(`${name}  NOT A VALID BACKUP: ${(error as Error).message}`)
        }
      }
      await printScheduleState(config)
    })

  backup
    .command('keygen')
    .description('make an X25519 recipient key pair: back up to the public key, keep the private key offline')
    .requiredOption('--out <file>', 'the private key’s file (mode 0600); the public key goes to <file>.pub')
    .action((options: { out: string }) => {
      const pair = generateRecipientKeyPair()
      writeFileSync(options.out, pair.privateKeyPem, { mode: 0o600, flag: 'wx' })
      writeFileSync(`${options.out}.pub`, pair.publicKeyPem, { mode: 0o644, flag: 'wx' })
      say(
        `Private key: ${options.out} (keep it offline). Public key: ${options.out}.pub (CUSTODIAN_BACKUP_RECIPIENT_FILE, --recipient).`,
      )
    })
}

/** A refusal as the CLI prints it: its stable code (docs/errors.md, "Backup refusals"), then what to do. */
function refused(error: BackupRefusedError): CliError {
  return new CliError(`${error.code}: ${error.message}`)
}

function printFigures(figures: RestoredFigures): void {
  say(`  schema: ${figures.schemaVersion} (${figures.pendingMigrations} migration(s) to apply at its first start)`)
  say(`  orgs: ${figures.orgs}; audit events: ${figures.auditEvents}; checkpoints: ${figures.checkpoints}`)
  say(`  org keys opened: ${figures.orgKeys.opened}/${figures.orgKeys.checked}`)
  say(`  data keys opened (sample): ${figures.dataKeys.opened}/${figures.dataKeys.sampled}`)
  for (const problem of figures.problems) say(`  PROBLEM: ${problem}`)
}

/**
 * A verification is recorded in the service's database (the P8.1 check reads it) and
 * audited in the provider org — only when that database exists: verifying on a machine with
 * no service (or a fresh data directory) never creates one to record it in. A running
 * embedded service holds its data directory, and then the verification is reported here only.
 */
async function recordVerify(
  config: Config,
  file: string,
  started: Date,
  report: VerifyReport | undefined,
  failure: Error | undefined,
): Promise<void> {
  if (!(await serviceDatabaseExists(config))) {
    say(
      `(No service database ${config.databaseUrl === undefined ? `in ${config.dataDir}` : 'at DATABASE_URL'}: this verification is reported here only, not recorded.)`,
    )
    return
  }
  try {
    await withServices({ createRootKey: false }, async ({ runtime, identity, audit }) => {
      const db = runtime.database.kysely
      await withOwner(db, (trx) =>
        trx
          .insertInto('backup_runs')
          .values({
            id: randomUUID(),
            trigger: 'cli',
            backup_id: report?.backupId ?? null,
            backup_created_at: report === undefined ? null : new Date(report.createdAt),
            started_at: started,
            finished_at: new Date(),
            status: failure === undefined ? 'succeeded' : 'failed',
            file: path.resolve(file),
            bytes: report?.ciphertextBytes ?? null,
            verified: report !== undefined,
            figures: report === undefined ? null : JSON.stringify(report.figures),
            error: failure?.message.slice(0, 2000) ?? null,
          })
          .execute(),
      )
      const providerOrg = await identity.auth.providerOrgId()
      if (providerOrg !== undefined)
        await withOrg(db, providerOrg, (trx) =>
          audit.service.append(trx, {
            orgId: providerOrg,
            actor: CLI,
            action: 'backup.verify',
            target: report === undefined ? undefined : { type: 'backup', id: report.backupId },
            outcome: failure === undefined ? 'success' : 'failure',
            details: {
              file: path.basename(file),
              ...(report === undefined
                ? { error: failure?.message.slice(0, 500) ?? null }
                : { orgs: report.figures.orgs, auditEvents: report.figures.auditEvents }),
            },
            meta: META,
          }),
        )
    })
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error
    say('(The embedded service is running: this verification is not recorded in its database.)')
  }
}

/**
 * Whether the service's database exists, without creating it: the embedded data directory's
 * database (or a verified restore waiting to be put in place, src/db/connect.ts), or the
 * PostgreSQL database DATABASE_URL names (its server answers whether it has it).
 */
async function serviceDatabaseExists(config: Config): Promise<boolean> {
  if (config.databaseUrl === undefined) {
    const pgdata = path.join(config.dataDir, 'pgdata')
    return existsSync(pgdata) || existsSync(`${pgdata}${RESTORED_SUFFIX}`)
  }
  const name = databaseName(config.databaseUrl)
  // Asked of the server's maintenance database; a role that may not connect there is taken
  // at its word (DATABASE_URL names the service's database) and the record is attempted.
  return withClient(withDatabase(config.databaseUrl, 'postgres'), async (client) => {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount !== 0
  }).catch(() => true)
}

async function printScheduleState(config: Config): Promise<void> {
  try {
    await withServices({ createRootKey: false }, async ({ runtime }) => {
      const state = await readScheduleState(runtime.database.kysely)
      if (config.backup === undefined) say('Scheduled backups: off (CUSTODIAN_BACKUP_DIR is not set).')
      else say(`Scheduled backups: next due ${state.nextDueAt ?? 'at the service’s next check'}.`)
      for (const run of state.lastRuns)
        say(
          `  ${run.finishedAt}  ${run.trigger}  ${run.status}${run.verified ? ', verified' : ''}${run.file === null ? '' : `  ${path.basename(run.file)}`}${run.error === null ? '' : `  ${run.error}`}`,
        )
    })
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error
    say('(The embedded service is running: its schedule’s state is shown by the P8.1 compliance check.)')
  }
}
