import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { sql } from 'kysely'
import { loadConfig } from '../../src/config.ts'
import { recordRootKeyChange } from '../../src/crypto/key-record.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { createPkcs11Provider } from '../../src/crypto/providers/pkcs11.ts'
import { withOwner } from '../../src/db/tenant.ts'
import { openRuntime, type Runtime } from '../../src/runtime.ts'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { createSoftHsmToken } from '../helpers/softhsm.ts'

/**
 * Attacks on the record of the database's keys (src/crypto/key-record.ts): legitimate
 * operations the record must not refuse.
 */
const token = createSoftHsmToken('custodian-keyrec')
const root = mkdtempSync(path.join(tmpdir(), 'custodian-key-record-attack-'))
const databases: TestDatabase[] = []
after(async () => {
  for (const db of databases) await db.close()
})

async function recorded(runtime: Runtime): Promise<Record<string, string>> {
  const rows = await sql<{ purpose: string; key_id: string }>`
    SELECT purpose, key_id FROM service_keys ORDER BY purpose`.execute(runtime.database.kysely)
  return Object.fromEntries(rows.rows.map((r) => [r.purpose, r.key_id]))
}

for (const engine of ENGINES) {
  describe(`the database's keys under attack (${engine})`, {
    skip: engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false,
  }, () => {
    const database = async (): Promise<string | undefined> => {
      if (engine === 'pglite') return undefined
      const db = await createTestDatabase('postgres')
      databases.push(db)
      return db.url
    }

    it('rotate-root (local) on a database with no org key yet, stopped between its commit and the file swap: the next start finishes the swap and starts', async () => {
      const url = await database()
      const dir = path.join(root, `${engine}-rotate-crash`)
      const config = loadConfig({ CUSTODIAN_DATA_DIR: dir, ...(url === undefined ? {} : { DATABASE_URL: url }) })
      let runtime = await openRuntime(config, { createRootKey: true })
      const before = await recorded(runtime)
      // What rotate-root leaves when it stops after its transaction committed: the new key
      // in root.key.next, recorded as the database's (no org key to rewrap), the files not swapped.
      const next = randomBytes(32)
      writeFileSync(`${config.rootKeyFile}.next`, next, { mode: 0o600, flag: 'wx' })
      const nextName = createLocalProvider(next).keyName()
      await withOwner(runtime.database.kysely, (trx) => recordRootKeyChange(trx, before.root as string, nextName))
      await runtime.database.close()

      runtime = await openRuntime(config, { createRootKey: true })
      try {
        assert.equal(runtime.rootKey.keyName(), nextName)
        assert.deepEqual(await recorded(runtime), { audit: before.audit, root: nextName })
        assert.ok(readFileSync(config.rootKeyFile).equals(next), 'the new key is the root key file now')
        assert.equal(existsSync(`${config.rootKeyFile}.next`), false)
      } finally {
        await runtime.database.close()
      }
    })

    it('the app role (tenant requests) can neither read nor write the record', async () => {
      const url = await database()
      const dir = path.join(root, `${engine}-rls`)
      const config = loadConfig({ CUSTODIAN_DATA_DIR: dir, ...(url === undefined ? {} : { DATABASE_URL: url }) })
      const runtime = await openRuntime(config, { createRootKey: true })
      try {
        const privileges = await sql<{ p: boolean }>`
          SELECT has_table_privilege('custodian_app', 'service_keys', p) AS p
          FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p`.execute(runtime.database.kysely)
        assert.deepEqual(
          privileges.rows.map((r) => r.p),
          [false, false, false, false, false],
        )
        await assert.rejects(
          runtime.database.kysely.transaction().execute(async (trx) => {
            await sql`SET LOCAL ROLE custodian_app`.execute(trx)
            await sql`UPDATE service_keys SET key_id = 'local:0000000000000000'`.execute(trx)
          }),
          /permission denied/,
        )
      } finally {
        await runtime.database.close()
      }
    })

    it('rotate-root (pkcs11) stopped after the HSM made its new key but before the rewrap committed: the next start goes on with the recorded key', async () => {
      const url = await database()
      const dir = path.join(root, `${engine}-hsm-crash`)
      const pkcs11 = {
        module: token.module,
        tokenLabel: token.tokenLabel,
        pin: token.pin,
        keyLabel: `root-${engine}`,
      }
      const config = loadConfig({
        CUSTODIAN_DATA_DIR: dir,
        ...(url === undefined ? {} : { DATABASE_URL: url }),
        CUSTODIAN_ROOT_KEY_PROVIDER: 'pkcs11',
        CUSTODIAN_PKCS11_MODULE: pkcs11.module,
        CUSTODIAN_PKCS11_TOKEN_LABEL: pkcs11.tokenLabel,
        CUSTODIAN_PKCS11_PIN: pkcs11.pin,
        CUSTODIAN_PKCS11_KEY_LABEL: pkcs11.keyLabel,
      })
      let runtime = await openRuntime(config, { createRootKey: true })
      const before = await recorded(runtime)
      runtime.rootKey.close?.()
      await runtime.database.close()
      // rotate-root's first step: the HSM relabels the current key and makes a new one; the
      // process stops (or the rewrap fails and rolls back) before anything is committed.
      const hsm = createPkcs11Provider(pkcs11, false)
      hsm.rotate()
      const abandoned = hsm.keyName()
      hsm.close()
      assert.notEqual(abandoned, before.root)

      runtime = await openRuntime(config, { createRootKey: true })
      try {
        assert.equal(runtime.rootKey.keyName(), before.root)
        assert.deepEqual(await recorded(runtime), before)
      } finally {
        runtime.rootKey.close?.()
        await runtime.database.close()
      }
      // And again: the label names the recorded key for good.
      runtime = await openRuntime(config, { createRootKey: true })
      assert.equal(runtime.rootKey.keyName(), before.root)
      runtime.rootKey.close?.()
      await runtime.database.close()
    })
  })
}
