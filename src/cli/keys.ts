import { randomBytes } from 'node:crypto'
import { counted } from '../../console/src/lib/plural.ts'
import { renameSync, writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { createInterface } from 'node:readline'
import { createLocalProvider } from '../crypto/providers/local.ts'
import type { Pkcs11Provider } from '../crypto/providers/pkcs11.ts'
import type { RootKeyProvider } from '../crypto/providers/provider.ts'
import { createShamirProvider, initShamir, type ShamirProvider } from '../crypto/providers/shamir.ts'
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
      await withServices({ createRootKey: false }, async ({ vault }) =>
        printJson(await vault.rotation.status(options.org)),
      )
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
          ? (
              await runtime.database.kysely
                .selectFrom('org_keys')
                .select('org_id')
                .distinct()
                .where('state', '=', 'active')
                .execute()
            ).map((r) => r.org_id)
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
    .description(
      'make a new root key and rewrap every org key under it. local: a new key file; pkcs11: a new key in the HSM (the old one is relabelled and kept); shamir: reads the current unseal shares from standard input and prints the new shares. Stop the service first in embedded mode; restart (and unseal) every process afterwards otherwise',
    )
    .option('--shares <m>', 'shamir: how many new shares', '5')
    .option('--threshold <n>', 'shamir: how many new shares unseal', '3')
    .action(async (options: { shares: string; threshold: string }) => {
      await withServices({ createRootKey: false }, async ({ vault, runtime, config, identity }) => {
        const from = runtime.rootKey.keyId()
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
        } else {
          const current = runtime.rootKey as ShamirProvider
          for await (const line of createInterface({ input: process.stdin, terminal: false })) {
            if (line.trim() !== '' && !(await current.submitShare(line.trim())).sealed) break
          }
          if (current.sealed()) throw new Error('not enough current unseal shares on standard input')
          const next = `${config.shamirFile}.next`
          const made = await initShamir(next, Number(options.shares), Number(options.threshold))
          const fresh = createShamirProvider(made.meta)
          for (const share of made.shares.slice(0, made.meta.threshold)) await fresh.submitShare(share)
          // Printed before the rotation commits: once it has, only these shares open the vault.
          process.stdout.write(
            `New unseal shares (any ${made.meta.threshold} of ${made.shares.length}); the old shares stop working:\n${made.shares.map((s, i) => `  share ${i + 1}: ${s}\n`).join('')}`,
          )
          target = fresh
          finish = () => swap(config.shamirFile, next)
        }
        const providerOrg = await identity.auth.providerOrgId()
        const count = await withOwner(runtime.database.kysely, async (trx) => {
          const n = await vault.keyring.rewrapAllUnder(trx, target)
          if (providerOrg !== undefined) {
            await vault.audit.append(trx, {
              orgId: providerOrg,
              actor: CLI,
              action: 'root_key.rotate',
              target: { type: 'root_key', id: target.keyId() },
              outcome: 'success',
              details: { from, orgKeys: n, provider: config.rootKeyProvider },
              meta: META,
            })
          }
          return n
        })
        // The database now needs the new key; swapping the files completes the rotation
        // (a crash before this point is finished by the next start, see runtime.ts).
        finish()
        process.stdout.write(`Root key rotated: ${counted(count, 'org key')} rewrapped under ${target.keyId()}.\n`)
      })
    })
}

function swap(file: string, next: string): void {
  renameSync(file, `${file}.retired-${Date.now()}`)
  renameSync(next, file)
}
