import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { sql } from 'kysely'
import { loadConfig } from '../../src/config.ts'
import { RootKeyError } from '../../src/crypto/root-key.ts'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import { openRuntime, type Runtime } from '../../src/runtime.ts'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { runToExit } from '../helpers/process.ts'
import { buildChainedLog } from '../helpers/audit-chain.ts'
import { withOwner } from '../../src/db/tenant.ts'
import { insertCheckpoint } from '../../src/modules/audit/audit.store.ts'
import { checkpointMessage } from '../../src/modules/audit/audit.format.ts'
import { createAuditService } from '../../src/modules/audit/audit.service.ts'
import { verifyExport } from '../../src/modules/audit/audit.export.ts'

/**
 * Every node on one database holds the same audit key and root key (src/crypto/key-record.ts,
 * README "Several nodes"): the first start records them in the database, and a start holding
 * another — a second node given its own key files, two nodes first started together, a key
 * file replaced — is refused before it writes anything, naming both keys. Before, such a node
 * started and signed, chained and wrapped with its own keys: the log failed verification and
 * other nodes could not open its org keys, for good.
 */
const root = mkdtempSync(path.join(tmpdir(), 'custodian-key-record-'))
const databases: TestDatabase[] = []
after(async () => {
  for (const db of databases) await db.close()
})

type Keys = { dir: string; audit?: string; root?: string }

function configFor(url: string | undefined, keys: Keys) {
  return loadConfig({
    CUSTODIAN_DATA_DIR: keys.dir,
    ...(url === undefined ? {} : { DATABASE_URL: url }),
    ...(keys.audit === undefined ? {} : { CUSTODIAN_AUDIT_KEY_FILE: keys.audit }),
    ...(keys.root === undefined ? {} : { CUSTODIAN_ROOT_KEY_FILE: keys.root }),
  })
}

async function start(url: string | undefined, keys: Keys): Promise<Runtime> {
  return openRuntime(configFor(url, keys), { createRootKey: true })
}

async function refused(url: string | undefined, keys: Keys, pattern: RegExp): Promise<void> {
  await assert.rejects(start(url, keys), (error: Error) => {
    assert.ok(error instanceof RootKeyError, String(error))
    assert.match(error.message, pattern)
    return true
  })
}

async function recorded(runtime: Runtime): Promise<Record<string, string>> {
  const rows = await sql<{ purpose: string; key_id: string }>`
    SELECT purpose, key_id FROM service_keys ORDER BY purpose`.execute(runtime.database.kysely)
  return Object.fromEntries(rows.rows.map((r) => [r.purpose, r.key_id]))
}

function otherKeyFile(name: string): string {
  const file = path.join(root, `${name}-${randomUUID()}.key`)
  writeFileSync(file, randomBytes(32), { mode: 0o600 })
  return file
}

for (const engine of ENGINES) {
  describe(`the database's keys (${engine})`, {
    skip: engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false,
  }, () => {
    const database = async (): Promise<string | undefined> => {
      if (engine === 'pglite') return undefined
      const db = await createTestDatabase('postgres')
      databases.push(db)
      return db.url
    }

    it('the first start records its audit key id and root key name; the same keys start again', async () => {
      const url = await database()
      const a: Keys = { dir: path.join(root, `${engine}-first`) }
      let runtime = await start(url, a)
      const first = await recorded(runtime)
      assert.deepEqual(first, { audit: runtime.signer.keyId, root: runtime.rootKey.keyName() })
      assert.match(first.audit ?? '', /^ed25519:[0-9a-f]{16}$/)
      assert.match(first.root ?? '', /^local:[0-9a-f]{16}$/)
      await runtime.database.close()
      runtime = await start(url, a)
      assert.deepEqual(await recorded(runtime), first)
      await runtime.database.close()
    })

    it('a start holding another audit key or another root key is refused, naming both, and changes nothing', async () => {
      const url = await database()
      const a: Keys = { dir: path.join(root, `${engine}-a`) }
      const runtime = await start(url, a)
      const before = await recorded(runtime)
      await runtime.database.close()
      const auditA = path.join(a.dir, 'audit.key')
      const rootA = path.join(a.dir, 'root.key')
      const auditOther = otherKeyFile('audit')
      const rootOther = otherKeyFile('root')

      await refused(
        url,
        { ...a, audit: auditOther },
        new RegExp(
          `^the audit key is not the one this database's audit log is kept with \\(it uses ${before.audit}; this start holds ed25519:[0-9a-f]{16}\\)`,
        ),
      )
      await refused(
        url,
        { ...a, root: rootOther },
        new RegExp(
          `^the root key is not the one this database's org keys are wrapped by \\(they use ${before.root}; this start holds local:[0-9a-f]{16}\\)`,
        ),
      )
      if (engine === 'postgres') {
        // A second node given a data directory of its own creates key files of its own (the
        // database holds no org yet): refused. Given the first node's keys, it starts.
        // Both keys differ: both are named in one refusal, and the key files the refused start
        // created are gone (left, they would pass for the deployment's).
        const b: Keys = { dir: path.join(root, `${engine}-b`) }
        await refused(
          url,
          b,
          /^the audit key is not the one .*CUSTODIAN_AUDIT_KEY_FILE.*; and the root key is not the one .*CUSTODIAN_ROOT_KEY_FILE/,
        )
        assert.equal(existsSync(path.join(b.dir, 'audit.key')), false)
        assert.equal(existsSync(path.join(b.dir, 'root.key')), false)
        await refused(url, { ...b, audit: auditA }, /^the root key is not the one/)
        assert.equal(existsSync(path.join(b.dir, 'root.key')), false)
        const second = await start(url, { ...b, audit: auditA, root: rootA })
        await second.database.close()
      }
      const again = await start(url, a)
      assert.deepEqual(await recorded(again), before, 'the refused starts recorded nothing')
      await again.database.close()
    })

    it('a database used before the record (an upgrade) is checked against what it holds: a checkpoint signed, an org key wrapped', async () => {
      const url = await database()
      const a: Keys = { dir: path.join(root, `${engine}-upgrade`) }
      let runtime = await start(url, a)
      const db = runtime.database.kysely
      const orgId = randomUUID()
      await sql`INSERT INTO orgs (id, kind, name) VALUES (${orgId}, 'customer', 'Upgraded')`.execute(db)
      await sql`INSERT INTO org_keys (org_id, version, wrapped_key, root_key_id, state)
                VALUES (${orgId}, 1, ${randomBytes(60)}, ${runtime.rootKey.keyId()}, 'active')`.execute(db)
      await sql`INSERT INTO audit_checkpoints (org_id, seq, hash, signed_at, key_id, signature)
                VALUES (${orgId}, 1, ${randomBytes(32)}, now(), ${runtime.signer.keyId}, ${randomBytes(64)})`.execute(
        db,
      )
      const before = await recorded(runtime)
      await sql`DELETE FROM service_keys`.execute(db)
      await runtime.database.close()

      await refused(url, { ...a, audit: otherKeyFile('audit') }, /^the audit key is not the one.*it uses ed25519:/)
      await refused(url, { ...a, root: otherKeyFile('root') }, /^the root key is not the one.*they use local:/)
      runtime = await start(url, a)
      assert.deepEqual(await recorded(runtime), before, 'recorded again from the keys that made the data')
      await runtime.database.close()
    })

    if (engine === 'postgres')
      it('two nodes first started together on an empty database, each with keys of its own: one starts, the other is refused', async () => {
        const url = await database()
        const results = await Promise.allSettled(
          ['x', 'y'].map((name) => start(url, { dir: path.join(root, `${engine}-together-${name}`) })),
        )
        const started = results.filter((r) => r.status === 'fulfilled')
        const failed = results.filter((r) => r.status === 'rejected')
        assert.equal(started.length, 1, JSON.stringify(results.map((r) => r.status)))
        assert.equal(failed.length, 1)
        assert.match(String((failed[0] as PromiseRejectedResult).reason), /is not the one this database/)
        for (const r of started) await r.value.database.close()
        // The two records went to one node: the winner starts again, the other still cannot.
        const names = ['x', 'y']
        const winner = names[results.findIndex((r) => r.status === 'fulfilled')] as string
        const loser = names.find((name) => name !== winner) as string
        const again = await start(url, { dir: path.join(root, `${engine}-together-${winner}`) })
        await again.database.close()
        await refused(url, { dir: path.join(root, `${engine}-together-${loser}`) }, /is not the one this database/)
      })

    it('`keys rotate-root` records the new root key with the rewrap: the new key starts, the retired one is refused', async () => {
      const url = await database()
      const a: Keys = { dir: path.join(root, `${engine}-rotate`) }
      const env = { CUSTODIAN_DATA_DIR: a.dir, ...(url === undefined ? {} : { DATABASE_URL: url }) }
      const runtime = await start(url, a)
      const before = await recorded(runtime)
      await runtime.database.close()
      const retired = path.join(root, `${engine}-retired-root.key`)
      copyFileSync(path.join(a.dir, 'root.key'), retired)
      const rotated = await runToExit(['bin/custodian.js', 'keys', 'rotate-root'], env)
      assert.equal(rotated.code, 0, rotated.output)

      const after = await start(url, a)
      const now = await recorded(after)
      assert.equal(now.audit, before.audit)
      assert.notEqual(now.root, before.root)
      assert.equal(now.root, after.rootKey.keyName())
      await after.database.close()
      await refused(url, { ...a, root: retired }, new RegExp(`they use ${now.root}; this start holds ${before.root}`))
    })
  })
}

describe('`custodian keys replace-audit-key` (pglite)', () => {
  it('after the audit key is lost, a new one is refused until replace-audit-key records it; a second run replaces nothing', async () => {
    const dir = path.join(root, 'replace')
    const env = { CUSTODIAN_DATA_DIR: dir }
    const runtime = await start(undefined, { dir })
    const before = await recorded(runtime)
    await runtime.database.close()
    const lost = otherKeyFile('audit-new')
    copyFileSync(lost, path.join(dir, 'audit.key'))

    const refusedStart = await runToExit(['bin/custodian.js', 'keys', 'status', '--org', randomUUID()], env)
    assert.notEqual(refusedStart.code, 0)
    assert.match(
      refusedStart.output,
      /the audit key is not the one.*stop them all and run `custodian keys replace-audit-key --confirm-lost`/s,
    )

    const unconfirmed = await runToExit(['bin/custodian.js', 'keys', 'replace-audit-key'], env)
    assert.notEqual(unconfirmed.code, 0)
    assert.match(unconfirmed.output, /refused without --confirm-lost/)
    const replaced = await runToExit(['bin/custodian.js', 'keys', 'replace-audit-key', '--confirm-lost'], env)
    assert.equal(replaced.code, 0, replaced.output)
    assert.match(replaced.output, new RegExp(`Audit key replaced: ${before.audit} → ed25519:[0-9a-f]{16}`))
    const again = await runToExit(['bin/custodian.js', 'keys', 'replace-audit-key', '--confirm-lost'], env)
    assert.equal(again.code, 0, again.output)
    assert.match(again.output, /is already this database's: nothing replaced/)

    const after = await start(undefined, { dir })
    const now = await recorded(after)
    assert.equal(now.audit, after.signer.keyId)
    assert.notEqual(now.audit, before.audit)
    assert.equal(now.root, before.root)
    await after.database.close()
  })

  it('the replaced key is retired, not forgotten: what it signed before verifies, nothing it signs after does, and it never comes back', async () => {
    const dir = path.join(root, 'retire')
    const env = { CUSTODIAN_DATA_DIR: dir }
    const orgId = randomUUID()
    const first = await start(undefined, { dir })
    const lostSigner = first.signer
    await buildChainedLog(first.database.kysely, first.signer, orgId, 20, { checkpointEvery: 10, slice: 10 })
    await first.database.close()
    const lostFile = path.join(root, `audit-lost-${randomUUID()}.key`)
    copyFileSync(path.join(dir, 'audit.key'), lostFile)
    copyFileSync(otherKeyFile('audit-new'), path.join(dir, 'audit.key'))

    const replaced = await runToExit(['bin/custodian.js', 'keys', 'replace-audit-key', '--confirm-lost'], env)
    assert.equal(replaced.code, 0, replaced.output)
    assert.match(replaced.output, /the old key is retired: its public key goes on verifying the checkpoints it signed/)
    // A retired key is never made current again (it may be in other hands).
    const back = await runToExit(['bin/custodian.js', 'keys', 'replace-audit-key', '--confirm-lost'], {
      ...env,
      CUSTODIAN_AUDIT_KEY_FILE: lostFile,
    })
    assert.notEqual(back.code, 0, back.output)
    assert.match(
      back.output,
      new RegExp(`the audit key ${lostSigner.keyId} was retired on \\S+ \\(replaced after a loss\\)`),
    )

    // The log goes on under the new key; `audit verify` takes both, each for its own checkpoints.
    const second = await start(undefined, { dir })
    assert.deepEqual(
      second.retiredAuditKeys.map((k) => [k.keyId, k.publicKey, k.signedUpTo[orgId], k.successorKeyId]),
      [[lostSigner.keyId, lostSigner.publicKey, 20, second.signer.keyId]],
    )
    await buildChainedLog(second.database.kysely, second.signer, orgId, 10, { checkpointEvery: 10 })
    const signers = await sql<{ seq: number; key_id: string }>`
      SELECT seq, key_id FROM audit_checkpoints WHERE org_id = ${orgId} ORDER BY seq`.execute(second.database.kysely)
    assert.deepEqual(
      signers.rows.map((r) => [Number(r.seq), r.key_id]),
      [
        [10, lostSigner.keyId],
        [20, lostSigner.keyId],
        [30, second.signer.keyId],
      ],
    )
    // An export names both keys, the old one with its retirement, and verifies offline.
    const audit = createAuditService({
      db: second.database.kysely,
      signer: second.signer,
      hmacKey: second.hmacKey,
      retiredKeys: second.retiredAuditKeys,
    })
    let exported = ''
    for await (const line of audit.exportLines(orgId)) exported += line
    const header = JSON.parse(exported.split('\n')[0] as string) as {
      keys: { keyId: string; retiredAt?: string; signedUpTo?: number }[]
    }
    assert.deepEqual(
      header.keys.map((k) => [k.keyId, k.retiredAt !== undefined, k.signedUpTo]),
      [
        [second.signer.keyId, false, undefined],
        [lostSigner.keyId, true, 20],
      ],
    )
    const offline = await verifyExport(exported)
    assert.deepEqual(offline.problems, [])
    assert.equal(offline.checkpoints, 3)
    await second.database.close()
    const verified = await runToExit(['bin/custodian.js', 'audit', 'verify', '--org', orgId], env)
    assert.equal(verified.code, 0, verified.output)
    assert.match(verified.output, new RegExp(`OK   org ${orgId}`))

    // Whoever holds the lost key signs the newest checkpoint again, dated before the
    // retirement: refused all the same (above the seq the key had reached). And whoever can
    // write to the database adds a retired key of their own: not one no successor signed.
    const third = await start(undefined, { dir })
    const intruder = ed25519FromSeed(randomBytes(32))
    await withOwner(third.database.kysely, async (trx) => {
      const head = await sql<{ hash: Buffer }>`
        DELETE FROM audit_checkpoints WHERE org_id = ${orgId} AND seq = 30 RETURNING hash`.execute(trx)
      const checkpoint = {
        v: 1 as const,
        org: orgId,
        seq: 30,
        hash: Buffer.from(head.rows[0]?.hash as Buffer).toString('hex'),
        time: '2020-01-01T00:00:00.000Z',
      }
      await insertCheckpoint(trx, {
        checkpoint,
        keyId: lostSigner.keyId,
        signature: lostSigner.sign(checkpointMessage(checkpoint)).toString('base64url'),
      })
      await sql`INSERT INTO audit_signing_keys
                  (key_id, public_key, retired_at, signed_up_to, successor_key_id, retirement_signature)
                VALUES (${intruder.keyId}, ${intruder.publicKey}, now(), ${JSON.stringify({ [orgId]: 1000 })}::jsonb,
                        ${third.signer.keyId}, ${intruder.sign(Buffer.from('anything')).toString('base64url')})`.execute(
        trx,
      )
    })
    await third.database.close()
    const fourth = await start(undefined, { dir })
    assert.deepEqual(
      fourth.retiredAuditKeys.map((k) => [k.keyId, k.signedUpTo[orgId]]),
      [[lostSigner.keyId, 20]],
    )
    await fourth.database.close()
    const forged = await runToExit(['bin/custodian.js', 'audit', 'verify', '--org', orgId], env)
    assert.notEqual(forged.code, 0, forged.output)
    assert.match(
      forged.output,
      new RegExp(`signed by key ${lostSigner.keyId}, retired after signing this org's checkpoints up to seq 20`),
    )
  })
})
