import { randomBytes } from 'node:crypto'
import { renameSync, writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { createLocalProvider } from '../crypto/providers/local.ts'
import { withOwner } from '../db/tenant.ts'
import { printJson, withServices } from './context.ts'
import { progressBar } from './progress.ts'

const CLI = { type: 'system' as const, id: 'cli' }
const META = { requestId: null, ip: null, userAgent: 'custodian-cli' }

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('the vault’s key hierarchy')

  keys
    .command('status')
    .description('key versions and rewrap progress of an org')
    .requiredOption('--org <id>', 'org id')
    .action(async (options: { org: string }) => {
      await withServices({ createRootKey: false }, async ({ vault }) => printJson(await vault.rotation.status(options.org)))
    })

  keys
    .command('rotate')
    .description('rotate org keys (one org, or every org with --all) and rewrap their data keys, with a progress bar')
    .option('--org <id>', 'org id')
    .option('--all', 'every org that has a key')
    .action(async (options: { org?: string; all?: boolean }) => {
      if ((options.org === undefined) === (options.all !== true)) throw new Error('give exactly one of --org and --all')
      await withServices({ createRootKey: false }, async ({ vault, runtime }) => {
        const orgs = options.all
          ? (await runtime.database.kysely.selectFrom('org_keys').select('org_id').distinct().where('state', '=', 'active').execute()).map((r) => r.org_id)
          : [options.org as string]
        for (const orgId of orgs) {
          const rotated = await vault.rotation.rotate(orgId, CLI, META)
          const total = rotated.pending
          const bar = progressBar(`org ${orgId}: key v${rotated.activeVersion}, rewrapping data keys`)
          bar.update(0, total)
          let remaining = total
          while (remaining > 0) {
            remaining = (await vault.rotation.rewrapBatch(orgId)).remaining
            bar.update(total - remaining, total)
          }
          await vault.rotation.rewrapBatch(orgId) // retires the old version when nothing is left
          bar.finish()
        }
        process.stdout.write(`Rotated ${orgs.length} org key(s); old versions retired and erased.\n`)
      })
    })

  keys
    .command('rotate-root')
    .description('local provider: make a new root key and rewrap every org key under it (stop the service first in embedded mode)')
    .action(async () => {
      await withServices({ createRootKey: false }, async ({ vault, runtime, config, identity }) => {
        if (config.rootKeyProvider !== 'local') throw new Error(`rotate-root supports the local provider; ${config.rootKeyProvider} is not supported yet`)
        const next = `${config.rootKeyFile}.next`
        const key = randomBytes(32)
        writeFileSync(next, key, { mode: 0o600, flag: 'wx' })
        const target = createLocalProvider(key)
        const providerOrg = await identity.auth.providerOrgId()
        const count = await withOwner(runtime.database.kysely, async (trx) => {
          const n = await vault.keyring.rewrapAllUnder(trx, target)
          if (providerOrg !== undefined) {
            await vault.audit.append(trx, { orgId: providerOrg, actor: CLI, action: 'root_key.rotate', target: { type: 'root_key', id: target.keyId() }, outcome: 'success', details: { from: runtime.rootKey.keyId(), orgKeys: n }, meta: META })
          }
          return n
        })
        // The database now needs the new key; swapping the files completes the rotation
        // (a crash before this point is finished by the next start, see runtime.ts).
        renameSync(config.rootKeyFile, `${config.rootKeyFile}.retired-${Date.now()}`)
        renameSync(next, config.rootKeyFile)
        process.stdout.write(`Root key rotated: ${count} org key(s) rewrapped under ${target.keyId()}. The old key file was kept as ${config.rootKeyFile}.retired-*; delete it once backups no longer need it.\n`)
      })
    })
}
