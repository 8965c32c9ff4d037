import { randomBytes } from 'node:crypto'
import { recordAuditKeyChange, recordRootKeyChange } from '../crypto/key-record.ts'
import { counted } from '../../console/src/lib/plural.ts'
import { existsSync, renameSync, writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { createInterface } from 'node:readline'
import { createLocalProvider } from '../crypto/providers/local.ts'
import type { Pkcs11Provider } from '../crypto/providers/pkcs11.ts'
import type { RootKeyProvider } from '../crypto/providers/provider.ts'
import { KMS_KINDS, type KmsProvider } from '../crypto/providers/kms.ts'
import { kmsProblems, type Config } from '../config.ts'
import { openRootKeyProvider } from '../runtime.ts'
import { createKeyring, type Keyring } from '../modules/vault/vault.keyring.ts'
import { createShamirProvider, initShamir, type ShamirProvider } from '../crypto/providers/shamir.ts'
import { withOwner } from '../db/tenant.ts'
import { jsonText } from './context.ts'
import { runCommand } from './command-runner.ts'
import {
  CLI_ACTOR,
  cliMeta,
  defineControlCommand,
  type CommandOrigin,
  type Services,
} from '../control/control.command.ts'
import { Type } from '@sinclair/typebox'
import { progressBar } from './progress.ts'

const ROOT_KEY_PROVIDERS: readonly Config['rootKeyProvider'][] = ['local', 'shamir', 'pkcs11', ...KMS_KINDS]

/** `custodian keys status --org ID`: an org's key versions and rewrap progress, as JSON. */
export const keysStatusCommand = defineControlCommand({
  name: 'keys status',
  input: Type.Object({ org: Type.String() }, { additionalProperties: false }),
  needs: 'services',
  async handler(input, { services, out }) {
    out.stdout(jsonText(await services.vault.rotation.status(input.org)))
  },
})

/** `custodian keys rotate (--org ID | --all)`: new org keys, data keys rewrapped with a progress bar. */
export const keysRotateCommand = defineControlCommand({
  name: 'keys rotate',
  input: Type.Object(
    { org: Type.Optional(Type.String()), all: Type.Optional(Type.Boolean()) },
    { additionalProperties: false },
  ),
  needs: 'services',
  async handler(input, { services, out, origin }) {
    if ((input.org === undefined) === (input.all !== true)) throw new Error('give exactly one of --org and --all')
    const { vault, runtime } = services
    const orgs =
      input.all === true
        ? (
            await runtime.database.kysely
              .selectFrom('org_keys')
              .select('org_id')
              .distinct()
              .where('state', '=', 'active')
              .execute()
          ).map((r) => r.org_id)
        : [input.org as string]
    for (const orgId of orgs) {
      const rotated = await vault.rotation.rotate(orgId, CLI_ACTOR, cliMeta(origin))
      const total = rotated.pending
      const bar = progressBar(`org ${orgId}: key v${rotated.activeVersion}, rewrapping data keys`, {
        isTTY: out.isTTY,
        write: (text: string) => out.stdout(text),
      })
      bar.update(0, total)
      let remaining = total
      while (remaining > 0) {
        remaining = (await vault.rotation.rewrapBatch(orgId)).remaining
        bar.update(total - remaining, total)
      }
      await vault.rotation.rewrapBatch(orgId) // retires the old version when nothing is left
      bar.finish()
    }
    out.stdout(`Rotated ${orgs.length} org key(s); old versions retired and erased.\n`)
  },
})

/**
 * `custodian keys rotate-root`: never beside a running service — the service holds the
 * root key it opened with, and would go on wrapping new org keys under the old one.
 */
export const keysRotateRootCommand = defineControlCommand({
  name: 'keys rotate-root',
  input: Type.Object({ shares: Type.String(), threshold: Type.String() }, { additionalProperties: false }),
  needs: 'services',
  besideService:
    'the service holds the current root key in memory; stop it, rotate, then start it (and unseal it) again',
  async handler(input, { services, out, origin }) {
    const { vault, runtime, config } = services
    const from = runtime.rootKey.keyId()
    // Before an HSM's rotate() makes the provider name its new key.
    const fromName = runtime.rootKey.keyName()
    let target: RootKeyProvider
    let finish = () => {}
    if (config.rootKeyProvider === 'local') {
      const next = `${config.rootKeyFile}.next`
      const key = randomBytes(32)
      writeFileSync(next, key, { mode: 0o600, flag: 'wx' })
      target = createLocalProvider(key)
      finish = () => swap(config.rootKeyFile, next)
    } else if (config.rootKeyProvider === 'pkcs11') {
      const hsm = runtime.rootKey as Pkcs11Provider
      hsm.rotate()
      target = hsm
    } else if (config.rootKeyProvider !== 'shamir') {
      // The KMS rotates its key (automatically or by the operator); here every org key is
      // rewrapped under the version that is primary now, so the old one can be disabled.
      const kms = runtime.rootKey as KmsProvider
      if (!(await kms.probe())) throw new Error(kms.unavailableReason())
      target = kms
    } else {
      const current = runtime.rootKey as ShamirProvider
      for await (const line of createInterface({ input: process.stdin, terminal: false })) {
        if (line.trim() !== '' && !(await current.submitShare(line.trim())).sealed) break
      }
      if (current.sealed()) throw new Error('not enough current unseal shares on standard input')
      const next = `${config.shamirFile}.next`
      const made = await initShamir(next, Number(input.shares), Number(input.threshold))
      const fresh = createShamirProvider(made.meta)
      for (const share of made.shares.slice(0, made.meta.threshold)) await fresh.submitShare(share)
      // Printed before the rotation commits: once it has, only these shares open the vault.
      out.stdout(
        `New unseal shares (any ${made.meta.threshold} of ${made.shares.length}); the old shares stop working:\n${made.shares.map((s, i) => `  share ${i + 1}: ${s}\n`).join('')}`,
      )
      target = fresh
      finish = () => swap(config.shamirFile, next)
    }
    const count = await rewrapAndAudit(services, vault.keyring, fromName, target, 'root_key.rotate', origin, {
      from,
      provider: config.rootKeyProvider,
    })
    // The database now needs the new key; swapping the files completes the rotation
    // (a crash before this point is finished by the next start, see runtime.ts).
    finish()
    out.stdout(`Root key rotated: ${counted(count, 'org key')} rewrapped under ${target.keyId()}.\n`)
  },
})

/**
 * `custodian keys migrate-root --from PROVIDER`: every org key (and root-wrapped user
 * secret) moved from another root-key provider to the configured one, in one transaction
 * (for example from the local key file to a cloud KMS). Never beside a running service,
 * which holds the keys it opened with.
 */
export const keysMigrateRootCommand = defineControlCommand({
  name: 'keys migrate-root',
  input: Type.Object({ from: Type.String() }, { additionalProperties: false }),
  needs: 'services',
  migratingRootKey: true,
  besideService: 'the service holds the org keys it opened with; stop it, migrate, then start it again',
  async handler(input, { services, out, origin }) {
    const { runtime, config } = services
    const from = rootKeyProviderOf(input.from)
    if (from === config.rootKeyProvider)
      throw new Error(`--from ${from} is the configured provider already; use \`custodian keys rotate-root\``)
    const sourceConfig: Config = { ...config, rootKeyProvider: from }
    const problems = kmsProblems(sourceConfig)
    if (problems.length > 0) throw new Error(`the source provider's settings: ${problems.join('; ')}`)
    const source = await openRootKeyProvider(
      sourceConfig,
      (file, what) => {
        if (!existsSync(file)) throw new Error(`--from ${from}: the ${what} file ${file} does not exist`)
      },
      false,
    )
    try {
      let lines: AsyncIterator<string> | undefined
      for (const provider of [source, runtime.rootKey]) {
        if (provider.kind !== 'shamir') continue
        lines ??= createInterface({ input: process.stdin, terminal: false })[Symbol.asyncIterator]()
        while (provider.sealed()) {
          const line = await lines.next()
          if (line.done === true) throw new Error('not enough unseal shares on standard input')
          if (line.value.trim() !== '') await (provider as ShamirProvider).submitShare(line.value.trim())
        }
      }
      if (source.sealed())
        throw new Error(`--from ${from}: ${(source as Partial<KmsProvider>).unavailableReason?.() ?? 'sealed'}`)
      if (runtime.rootKey.sealed())
        throw new Error(
          `the configured ${config.rootKeyProvider} provider: ${(runtime.rootKey as Partial<KmsProvider>).unavailableReason?.() ?? 'sealed'}`,
        )
      const count = await rewrapAndAudit(
        services,
        createKeyring(source),
        source.keyName(),
        runtime.rootKey,
        'root_key.migrate',
        origin,
        { from: source.keyId(), fromProvider: from, provider: config.rootKeyProvider },
      )
      out.stdout(
        `Root key migrated from ${from} to ${config.rootKeyProvider}: ${counted(count, 'org key')} rewrapped under ${runtime.rootKey.keyId()}.\n`,
      )
    } finally {
      source.close?.()
    }
  },
})

/**
 * `custodian keys replace-audit-key`: after the audit key was lost (no copy of `audit.key`
 * left), the deployment goes on with the audit key file it holds now — a new one. Every start
 * refuses an audit key other than the database's (src/crypto/key-record.ts); this records the
 * held one instead, and says so in the provider org's log (`audit_key.replace`, both key ids).
 * The old key is retired (src/crypto/key-record.ts): its public key, recorded by the starts
 * that held it, goes on verifying the checkpoints it signed until now and none above them (the
 * new key signs that bound);
 * checkpoints signed since are by the new one. Never beside a running service, which signs
 * with the key it started with.
 */
export const keysReplaceAuditKeyCommand = defineControlCommand({
  name: 'keys replace-audit-key',
  input: Type.Object({ confirmLost: Type.Boolean() }, { additionalProperties: false }),
  needs: 'services',
  replacingAuditKey: true,
  besideService: 'the service signs with the audit key it started with; stop it, replace, then start it again',
  async handler(input, { services, out, origin }) {
    if (!input.confirmLost)
      throw new Error(
        'refused without --confirm-lost: run it only when the audit key is lost for every node and every node is stopped (a running node goes on signing with the old key; the log then fails verification)',
      )
    const { runtime, vault, identity } = services
    const providerOrg = await identity.auth.providerOrgId()
    const from = await withOwner(runtime.database.kysely, async (trx) => {
      const replaced = await recordAuditKeyChange(trx, runtime.signer)
      if (replaced !== undefined && providerOrg !== undefined)
        await vault.audit.append(trx, {
          orgId: providerOrg,
          actor: CLI_ACTOR,
          action: 'audit_key.replace',
          target: { type: 'audit_key', id: runtime.signer.keyId },
          outcome: 'success',
          details: { from: replaced, to: runtime.signer.keyId },
          meta: cliMeta(origin),
        })
      return replaced
    })
    out.stdout(
      from === undefined
        ? `The audit key ${runtime.signer.keyId} is already this database's: nothing replaced.\n`
        : `Audit key replaced: ${from} → ${runtime.signer.keyId}. Checkpoints are signed by the new key from now on; the old key is retired: its public key goes on verifying the checkpoints it signed until now (\`custodian audit verify\`, exports), none above them; it is never made current again.\n`,
    )
  },
})

/** `--from`'s provider, or an error naming the ones there are (checked before anything is opened). */
function rootKeyProviderOf(from: string): Config['rootKeyProvider'] {
  if (!(ROOT_KEY_PROVIDERS as readonly string[]).includes(from))
    throw new Error(`--from: must be one of ${ROOT_KEY_PROVIDERS.join(', ')}, got ${JSON.stringify(from)}`)
  return from as Config['rootKeyProvider']
}

/**
 * Rewraps every org key (and root-wrapped user secret) from `source`'s provider to
 * `target`, records the new root key as the database's (src/crypto/key-record.ts; refused
 * when the database records another than `sourceName`) and the change in the provider org's
 * log, in one transaction: a failure anywhere leaves every key where it was. Returns how
 * many org keys were rewrapped.
 */
async function rewrapAndAudit(
  services: Services,
  source: Pick<Keyring, 'rewrapAllUnder'>,
  sourceName: string,
  target: RootKeyProvider,
  action: 'root_key.rotate' | 'root_key.migrate',
  origin: CommandOrigin,
  details: Record<string, string>,
): Promise<number> {
  const { runtime, vault, identity } = services
  const providerOrg = await identity.auth.providerOrgId()
  return withOwner(runtime.database.kysely, async (trx) => {
    await recordRootKeyChange(trx, sourceName, target.keyName())
    const n = await source.rewrapAllUnder(trx, target)
    if (providerOrg !== undefined) {
      await vault.audit.append(trx, {
        orgId: providerOrg,
        actor: CLI_ACTOR,
        action,
        target: { type: 'root_key', id: target.keyId() },
        outcome: 'success',
        details: { ...details, orgKeys: n },
        meta: cliMeta(origin),
      })
    }
    return n
  })
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('the vault’s key hierarchy')

  keys
    .command('status')
    .description('key versions and rewrap progress of an org')
    .requiredOption('--org <id>', 'org id')
    .action(async (options: { org: string }) => {
      await runCommand(keysStatusCommand, options)
    })

  keys
    .command('rotate')
    .description('rotate org keys (one org, or every org with --all) and rewrap their data keys, with a progress bar')
    .option('--org <id>', 'org id')
    .option('--all', 'every org that has a key')
    .action(async (options: { org?: string; all?: boolean }) => {
      await runCommand(keysRotateCommand, options)
    })

  keys
    .command('rotate-root')
    .description(
      'make a new root key and rewrap every org key under it. local: a new key file; pkcs11: a new key in the HSM (the old one is relabelled and kept); shamir: reads the current unseal shares from standard input and prints the new shares; a KMS (aws-kms, gcp-kms, azure-keyvault, transit): rotate the key in the KMS first, this rewraps under its primary version. Refused beside a running embedded service (stop it first); restart (and unseal) every process afterwards otherwise',
    )
    .option('--shares <m>', 'shamir: how many new shares', '5')
    .option('--threshold <n>', 'shamir: how many new shares unseal', '3')
    .action(async (options: { shares: string; threshold: string }) => {
      await runCommand(keysRotateRootCommand, options)
    })

  keys
    .command('migrate-root')
    .description(
      'move every org key from another root-key provider to the configured one (CUSTODIAN_ROOT_KEY_PROVIDER), in one transaction: e.g. from the local key file to a cloud KMS. The source is opened with its own settings from the same environment (CUSTODIAN_ROOT_KEY_FILE, CUSTODIAN_PKCS11_*, CUSTODIAN_AWS_KMS_* …); shamir shares, when needed, are read from standard input. Refused beside a running embedded service; stop every service process first',
    )
    .requiredOption('--from <provider>', `the provider that wraps the org keys now: ${ROOT_KEY_PROVIDERS.join(', ')}`)
    .action(async (options: { from: string }) => {
      rootKeyProviderOf(options.from)
      await runCommand(keysMigrateRootCommand, options)
    })

  keys
    .command('replace-audit-key')
    .description(
      'only after the audit key was lost for every node, with every node stopped (--confirm-lost says so): make the audit key file this start holds (CUSTODIAN_AUDIT_KEY_FILE, a new 32-byte key) the database’s, recorded in the provider org’s log when there is one. Every start refuses another audit key than the database’s; checkpoints signed before verify only with the old key, so `audit verify` reports them from then on. Refused beside a running embedded service',
    )
    .option('--confirm-lost', 'the audit key is lost for every node, and every node is stopped')
    .action(async (options: { confirmLost?: boolean }) => {
      await runCommand(keysReplaceAuditKeyCommand, { confirmLost: options.confirmLost === true })
    })
}

function swap(file: string, next: string): void {
  renameSync(file, `${file}.retired-${Date.now()}`)
  renameSync(next, file)
}
