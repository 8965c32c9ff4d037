import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { before, it } from 'node:test'
import pg from 'pg'
import { deriveKey, ed25519FromSeed } from '../../src/crypto/keys.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { openDatabase } from '../../src/db/connect.ts'
import { lockDataDir } from '../../src/db/lock.ts'
import { HEADER, writeBackupFile } from '../../src/modules/ops/backup/backup.file.ts'
import {
  BackupRefusedError,
  createBackup,
  restoreBackup,
  verifyBackup,
  type BackupKeys,
} from '../../src/modules/ops/backup/backup.service.ts'
import { CHUNK_BYTES, TAG_BYTES } from '../../src/modules/ops/backup/backup.stream.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  startTestApp,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { forEachEngine, TEST_DB_PREFIX, type TestDatabase } from '../helpers/db.ts'

function keysOf(rootKey: Buffer): BackupKeys {
  return {
    signer: ed25519FromSeed(deriveKey(rootKey, 'audit-signing-v1')),
    hmacKey: deriveKey(rootKey, 'audit-hmac-v1'),
    rootKey: createLocalProvider(rootKey),
  }
}

forEachEngine('encrypted, verified backups (P8.1)', (engine) => {
  const rootKey = randomBytes(32)
  const keys = keysOf(rootKey)
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-backup-test-'))
  // The deployment's files outside the database (keys, the shred ring) are not in a backup:
  // the restored database is opened with the same ones.
  const ENV = {
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
    CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'shred-ring.json'),
  }
  const t = useTestApp(engine, ENV, undefined, undefined, { rootKey })
  const values = [`sk_live_${randomBytes(16).toString('hex')}`, `pw-${randomBytes(16).toString('hex')}`]
  const secretIds: string[] = []
  let org: Org
  let backup: string
  const postgresUrl = () => (engine === 'postgres' ? (process.env.TEST_DATABASE_URL as string) : undefined)
  const source = () => ({ database: t().db, databaseUrl: t().db.url })

  /** A target to restore into: a database name not yet created (PostgreSQL), an empty data directory (PGlite). */
  function freshTarget(): { databaseUrl: string | undefined; dataDir: string; cleanup(): Promise<void> } {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-restore-'))
    if (engine === 'pglite') return { databaseUrl: undefined, dataDir, cleanup: async () => {} }
    const url = new URL(process.env.TEST_DATABASE_URL as string)
    const name = `${TEST_DB_PREFIX}rst_${process.pid}_${randomBytes(3).toString('hex')}`
    url.pathname = `/${name}`
    return {
      databaseUrl: url.toString(),
      dataDir,
      async cleanup() {
        const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
        await admin.connect()
        const rows = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
          `${name.slice(0, 40)}%`,
        ])
        for (const { datname } of rows.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
        await admin.end()
      },
    }
  }

  async function openRestored(target: { databaseUrl: string | undefined; dataDir: string }): Promise<TestDatabase> {
    const database = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir, poolSize: 2 })
    return Object.assign(database, { url: target.databaseUrl, pglite: undefined })
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Backed Up', 'owner@backedup.test')
    for (const [i, value] of values.entries()) {
      const created = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets`,
        token: org.ownerToken,
        body: { name: `app/secret-${i}`, type: 'api_key', value },
      })
      assert.equal(created.status, 201, created.text)
      secretIds.push(created.body.id as string)
    }
    const app = await principalWithRole(t(), org, 'admin')
    const record = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/records`,
      token: app.token,
      body: { subjectId: 'subject@example.test', dataClass: 'contact', payload: { note: 'kept in the backup' } },
    })
    assert.equal(record.status, 201, record.text)
    await t().app.sequencer.flush()
    backup = path.join(dir, 'full.cbk')
    await createBackup(source(), keys, { file: backup })
  })

  it('P8.1: a backup of a populated org verifies, with figures, in a scratch database', async () => {
    const report = await verifyBackup(backup, keys, { postgresUrl: postgresUrl() })
    assert.equal(report.engine, engine)
    assert.equal(report.keyWrap, 'root-key')
    assert.deepEqual(report.figures.problems, [])
    assert.equal(report.figures.orgs, 2)
    assert.ok(report.figures.auditEvents > 5, `${report.figures.auditEvents} events`)
    assert.ok(report.figures.checkpoints > 0)
    assert.equal(report.figures.orgKeys.opened, report.figures.orgKeys.checked)
    assert.ok(report.figures.orgKeys.checked >= 1)
    assert.equal(report.figures.dataKeys.sampled, values.length)
    assert.equal(report.figures.dataKeys.opened, values.length)
    assert.equal(report.figures.pendingMigrations, 0)
  })

  it('P8.1: the backup file holds no secret value, nor the personal data, in plaintext', () => {
    const bytes = readFileSync(backup)
    for (const value of [...values, 'kept in the backup', 'subject@example.test'])
      assert.equal(bytes.indexOf(Buffer.from(value)), -1, `${value.slice(0, 6)}… found in the file`)
  })

  it('P8.1: restores into an empty database: the secrets reveal the same values and every chain verifies', async () => {
    const target = freshTarget()
    try {
      const restored = await restoreBackup(backup, keys, target, { force: false })
      assert.equal(restored.previous, undefined)
      assert.deepEqual(restored.figures.problems, [])
      const db = await openRestored(target)
      const app = await startTestApp(engine, db, ENV, undefined, undefined, undefined, rootKey)
      try {
        for (const [i, id] of secretIds.entries()) {
          const revealed = await app.request({
            method: 'POST',
            url: `/v1/orgs/${org.orgId}/secrets/${id}/reveal`,
            token: org.ownerToken,
            body: { reason: 'after the restore' },
          })
          assert.equal(revealed.status, 200, revealed.text)
          assert.equal(revealed.body.value, values[i])
        }
        await app.app.sequencer.flush()
        for (const result of await app.app.services.audit.verifyAll())
          assert.ok(result.ok, JSON.stringify(result.problems))
      } finally {
        await app.app.close()
        await db.close()
      }
    } finally {
      await target.cleanup()
    }
  })

  it('P8.1: refuses a restore over data without --force, and over a running service even with it; --force keeps the old data', async () => {
    const target = freshTarget()
    try {
      await restoreBackup(backup, keys, target, { force: false })
      await assert.rejects(
        restoreBackup(backup, keys, target, { force: false }),
        (error: unknown) => error instanceof BackupRefusedError && error.code === 'BACKUP_TARGET_NOT_EMPTY',
      )
      const running = await openRestored(target) // a service holding the target
      try {
        await assert.rejects(restoreBackup(backup, keys, target, { force: true }), (error: unknown) =>
          engine === 'postgres'
            ? error instanceof BackupRefusedError && error.code === 'BACKUP_TARGET_IN_USE'
            : /in use by another Custodian process/.test((error as Error).message),
        )
      } finally {
        await running.close()
      }
      const forced = await restoreBackup(backup, keys, target, { force: true })
      assert.ok(forced.previous !== undefined)
      if (engine === 'pglite') assert.ok(existsSync(forced.previous))
    } finally {
      await target.cleanup()
    }
  })

  it('P8.1: every refusal a restore or a verify can know up front comes before its progress (onChecked), and before any change', async () => {
    const target = freshTarget()
    const calls: string[] = []
    const progress = (what: string) => () => calls.push(what)
    const missing = path.join(dir, 'no-such-backup.cbk')
    const refusedWith = (code: string) => (error: unknown) => error instanceof BackupRefusedError && error.code === code
    try {
      await assert.rejects(
        restoreBackup(missing, keys, target, { force: false, onChecked: progress('restore missing') }),
        refusedWith('BACKUP_NOT_FOUND'),
      )
      await assert.rejects(
        verifyBackup(missing, keys, { postgresUrl: postgresUrl(), onChecked: progress('verify missing') }),
        refusedWith('BACKUP_NOT_FOUND'),
      )
      // The other engine's target: refused by the backup's manifest, before anything is made.
      const otherEngine =
        engine === 'pglite'
          ? { databaseUrl: process.env.TEST_DATABASE_URL ?? 'postgres://127.0.0.1:1/none', dataDir: target.dataDir }
          : { databaseUrl: undefined, dataDir: target.dataDir }
      await assert.rejects(
        restoreBackup(backup, keys, otherEngine, { force: true, onChecked: progress('restore other engine') }),
        refusedWith('BACKUP_ENGINE_MISMATCH'),
      )
      if (engine === 'postgres')
        await assert.rejects(
          verifyBackup(backup, keys, { postgresUrl: undefined, onChecked: progress('verify without a server') }),
          refusedWith('BACKUP_ENGINE_MISMATCH'),
        )
      assert.deepEqual(calls, [], 'no progress before a refusal')
      if (engine === 'pglite') assert.deepEqual(readdirSync(target.dataDir), [], 'nothing made')

      await restoreBackup(backup, keys, target, { force: false, onChecked: progress('restore') })
      assert.deepEqual(calls, ['restore'])
      // The target holds data now: refused before any progress.
      await assert.rejects(
        restoreBackup(backup, keys, target, { force: false, onChecked: progress('restore over data') }),
        refusedWith('BACKUP_TARGET_NOT_EMPTY'),
      )
      await verifyBackup(backup, keys, { postgresUrl: postgresUrl(), onChecked: progress('verify') })
      assert.deepEqual(calls, ['restore', 'verify'])
    } finally {
      await target.cleanup()
    }
  })

  it('P8.1: any altered byte, a swapped chunk, a cut file or a changed manifest is refused, and restore changes nothing', async () => {
    const big = path.join(dir, 'big.cbk')
    // Enough data for several chunks: the backup of a populated database is.
    const report = await createBackup(source(), keys, { file: big })
    const bytes = readFileSync(big)
    const payloadEnd = HEADER.length + report.manifest.payload.ciphertextBytes
    assert.ok(report.manifest.payload.ciphertextBytes > 2 * (CHUNK_BYTES + TAG_BYTES), 'several chunks')
    const sealed = CHUNK_BYTES + TAG_BYTES
    const swapped = Buffer.from(bytes)
    bytes.copy(swapped, HEADER.length, HEADER.length + sealed, HEADER.length + 2 * sealed)
    bytes.copy(swapped, HEADER.length + sealed, HEADER.length, HEADER.length + sealed)
    const manifestAt = payloadEnd + 40
    const variants: Record<string, [Buffer, RegExp]> = {
      'a payload byte': [flip(bytes, HEADER.length + 100), /SHA-256 differs/],
      'the last payload byte': [flip(bytes, payloadEnd - 1), /SHA-256 differs/],
      'two chunks swapped': [swapped, /SHA-256 differs/],
      'a manifest byte': [flip(bytes, manifestAt), /manifest/],
      'cut short': [bytes.subarray(0, bytes.length - 1000), /incomplete/],
      'the header': [flip(bytes, 0), /not a Custodian backup/],
    }
    const target = freshTarget()
    try {
      for (const [name, [altered, message]] of Object.entries(variants)) {
        const file = path.join(dir, `altered-${name.replaceAll(' ', '-')}.cbk`)
        writeFileSync(file, altered)
        await assert.rejects(verifyBackup(file, keys, { postgresUrl: postgresUrl() }), message, name)
        await assert.rejects(restoreBackup(file, keys, target, { force: true }), message, name)
      }
      // Nothing was made where the restore would have gone.
      if (engine === 'pglite') assert.deepEqual(readdirSync(target.dataDir), [])
      else {
        const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
        await admin.connect()
        const made = await admin.query('SELECT datname FROM pg_database WHERE datname = $1', [
          new URL(target.databaseUrl as string).pathname.slice(1),
        ])
        await admin.end()
        assert.equal(made.rowCount, 0)
      }
    } finally {
      await target.cleanup()
    }
  })

  it('P8.1: a backup to a recipient key opens with its identity only; a root-key backup refuses another root key', async () => {
    const recipient = generateKeyPairSync('x25519')
    const file = path.join(dir, 'to-recipient.cbk')
    await createBackup(source(), keys, { file, recipient: recipient.publicKey })
    const report = await verifyBackup(file, keys, { identity: recipient.privateKey, postgresUrl: postgresUrl() })
    assert.equal(report.keyWrap, 'x25519')
    assert.deepEqual(report.figures.problems, [])
    await assert.rejects(
      verifyBackup(file, keys, { identity: generateKeyPairSync('x25519').privateKey, postgresUrl: postgresUrl() }),
      /another recipient key/,
    )
    await assert.rejects(verifyBackup(file, keys, { postgresUrl: postgresUrl() }), /--identity/)
    const other = { ...keys, rootKey: createLocalProvider(randomBytes(32)) }
    await assert.rejects(
      verifyBackup(backup, other, { postgresUrl: postgresUrl() }),
      /does not open under this root key/,
    )
    // Another deployment's audit key does not sign this manifest.
    const stranger = keysOf(randomBytes(32))
    await assert.rejects(verifyBackup(backup, stranger, { postgresUrl: postgresUrl() }), /manifest does not verify/)
  })

  it('P8.1: a create that fails part-way leaves no file under the backup’s name, and a cut file is refused', async () => {
    const file = path.join(dir, 'crashed.cbk')
    let sent = 0
    const failing = new Readable({
      read() {
        if (sent++ < 3) this.push(randomBytes(CHUNK_BYTES))
        else this.destroy(new Error('the dump died'))
      },
    })
    await assert.rejects(
      writeBackupFile(file, failing, randomBytes(32), async () => 'never'),
      /the dump died/,
    )
    assert.equal(existsSync(file), false)
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.startsWith('crashed.cbk')),
      [],
      'no temporary file is left',
    )
    // A process killed mid-write leaves `.partial` without its end marker: never taken for a backup.
    const killed = path.join(dir, 'killed.cbk')
    copyFileSync(backup, killed)
    writeFileSync(killed, readFileSync(backup).subarray(0, HEADER.length + 5000))
    await assert.rejects(verifyBackup(killed, keys, { postgresUrl: postgresUrl() }), /incomplete/)
    if (engine === 'pglite') {
      // The embedded data directory of a running service is locked: a second process cannot back it up.
      const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-locked-'))
      const lock = lockDataDir(dataDir)
      try {
        assert.throws(() => lockDataDir(dataDir), /in use/)
      } finally {
        lock.release()
      }
    }
  })
})

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes)
  copy[at] = (copy[at] as number) ^ 0x01
  return copy
}
