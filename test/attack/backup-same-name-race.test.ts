import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { loadConfig } from '../../src/config.ts'
import { deriveKey, ed25519FromSeed } from '../../src/crypto/keys.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { readAll } from '../../src/modules/ops/backup/backup.engine.ts'
import {
  BackupRefusedError,
  checkPayloadHash,
  decryptPayload,
  readBackupFrame,
  writeBackupFile,
} from '../../src/modules/ops/backup/backup.file.ts'
import { BACKUP_FORMAT, signManifest, verifyManifest } from '../../src/modules/ops/backup/backup.manifest.ts'
import { basicTime, createBackupScheduler } from '../../src/modules/ops/backup/backup.schedule.ts'
import { createBackup, verifyBackup, type BackupKeys } from '../../src/modules/ops/backup/backup.service.ts'
import { CHUNK_BYTES } from '../../src/modules/ops/backup/backup.stream.ts'
import { bootstrapProvider, useTestApp } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'

/*
 * Finding (attack pass, MEDIUM): two backups to the same file name in the same second (a
 * scheduled one and a CLI one). The second run's cleanup deleted the first's `.partial`; the
 * first then appended its manifest to a new, empty `.partial`, renamed it and reported a
 * file of a few bytes as a successful backup. The promise: a run writes only to a file it
 * created itself, deletes only what it created, never replaces a file under the backup's
 * name, and reports success only for a complete file.
 */

const signer = ed25519FromSeed(randomBytes(32))
const trusted = new Map([[signer.keyId, signer.publicKey]])

/** A payload source that sends one chunk, then waits for `release()` before its second and its end. */
function gated(): { stream: Readable; release(): void; plaintext: Buffer } {
  const parts = [randomBytes(CHUNK_BYTES + 100), randomBytes(5000)]
  let gate: (() => void) | undefined
  const opened = new Promise<void>((resolve) => {
    gate = resolve
  })
  let step = 0
  const stream = new Readable({
    read() {
      if (step === 0) this.push(parts[0])
      else if (step === 1) void opened.then(() => this.push(parts[1]))
      else if (step === 2) this.push(null)
      step++
    },
  })
  return { stream, release: () => gate?.(), plaintext: Buffer.concat(parts) }
}

function write(file: string, source: Readable, fileKey: Buffer) {
  return writeBackupFile(file, source, fileKey, async (payload) =>
    signManifest(signer, {
      format: BACKUP_FORMAT,
      backupId: crypto.randomUUID(),
      createdAt: new Date().toISOString(),
      engine: 'pglite',
      schemaVersion: 'test',
      content: 'pglite-datadir-tar.gz',
      payload,
      keyWrap: { type: 'x25519', recipient: 'test', ephemeral: 'test', wrapped: 'test' },
      orgs: [],
    }),
  )
}

async function until(what: string, test: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (test()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting until ${what}`)
}

/** The file is complete, its manifest signed, its payload hashed as signed, and it decrypts to `plaintext`. */
async function assertComplete(file: string, fileKey: Buffer, plaintext: Buffer, bytes: number): Promise<void> {
  assert.equal(statSync(file).size, bytes, 'the reported size is the file’s')
  const parts = readBackupFrame(file)
  const manifest = await verifyManifest(parts.manifestJws, trusted)
  await checkPayloadHash(file, parts, manifest)
  assert.ok((await readAll(decryptPayload(file, parts, manifest, fileKey))).equals(plaintext))
}

describe('two backups to the same name at once (attack: same-second scheduled and CLI runs)', () => {
  for (const order of ['the first to start finishes first', 'the second to start finishes first'] as const) {
    it(`P8.1: one complete, verifiable backup under the name and one clear refusal — never a cut file reported as success (${order})`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'custodian-backup-race-'))
      const file = path.join(dir, 'custodian-20261203T120000Z-pglite.cbk')
      const a = { ...gated(), key: randomBytes(32) }
      const b = { ...gated(), key: randomBytes(32) }
      const partials = () => readdirSync(dir).filter((name) => name.includes('.partial'))
      const runA = write(file, a.stream, a.key)
      // A's temporary file holds its header and first chunk before B starts.
      await until('the first run is writing', () => partials().some((n) => statSync(path.join(dir, n)).size > 16))
      const runB = write(file, b.stream, b.key)
      let bSettled = false
      runB.then(
        () => {
          bSettled = true
        },
        () => {
          bSettled = true // judged below
        },
      )
      await until('the second run is writing or has ended', () => bSettled || partials().length === 2)
      const [first, second] = order === 'the first to start finishes first' ? [a, b] : [b, a]
      const runs = new Map([
        [a, runA],
        [b, runB],
      ])
      first.release()
      const firstResult = await (runs.get(first) as Promise<{ bytes: number }>).then(
        (r) => ({ ok: true as const, ...r }),
        (error: unknown) => ({ ok: false as const, error: error as Error }),
      )
      second.release()
      const secondResult = await (runs.get(second) as Promise<{ bytes: number }>).then(
        (r) => ({ ok: true as const, ...r }),
        (error: unknown) => ({ ok: false as const, error: error as Error }),
      )
      const results = [
        { run: first, result: firstResult },
        { run: second, result: secondResult },
      ]
      const succeeded = results.filter((r) => r.result.ok)
      const failed = results.filter((r) => !r.result.ok)
      assert.equal(
        succeeded.length,
        1,
        `exactly one run owns the name: ${JSON.stringify(results.map((r) => r.result))}`,
      )
      assert.equal(failed.length, 1)
      const winner = succeeded[0] as (typeof results)[number]
      await assertComplete(file, winner.run.key, winner.run.plaintext, (winner.result as { bytes: number }).bytes)
      const refusal = (failed[0] as (typeof results)[number]).result as { error: Error }
      assert.ok(refusal.error instanceof BackupRefusedError, String(refusal.error))
      assert.equal(refusal.error.code, 'BACKUP_EXISTS')
      assert.deepEqual(partials(), [], 'each run removed its own temporary file')
    })
  }

  it('P8.1: a run never replaces a file that took the name while it was writing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-backup-race-'))
    const file = path.join(dir, 'taken.cbk')
    const a = { ...gated(), key: randomBytes(32) }
    const run = write(file, a.stream, a.key)
    await until('the run is writing', () => readdirSync(dir).some((n) => n.includes('.partial')))
    writeFileSync(file, 'somebody else’s file')
    a.release()
    await assert.rejects(run, (error: Error) => error instanceof BackupRefusedError && error.code === 'BACKUP_EXISTS')
    assert.equal(readFileSync(file, 'utf8'), 'somebody else’s file')
    assert.deepEqual(readdirSync(dir), ['taken.cbk'])
  })
})

forEachEngine('two backups to the same name at once, on the database (attack)', (engine) => {
  const rootKey = randomBytes(32)
  const keys: BackupKeys = {
    signer: ed25519FromSeed(deriveKey(rootKey, 'audit-signing-v1')),
    hmacKey: deriveKey(rootKey, 'audit-hmac-v1'),
    rootKey: createLocalProvider(rootKey),
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-backup-race-db-'))
  const env = {
    CUSTODIAN_BACKUP_DIR: dir,
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'ring.json'),
  }
  const t = useTestApp(engine, env, undefined, undefined, { rootKey })
  const postgresUrl = () => (engine === 'postgres' ? (process.env.TEST_DATABASE_URL as string) : undefined)

  it('P8.1: two creates on one name at once: one verifies, the other is refused with BACKUP_EXISTS', async () => {
    await bootstrapProvider(t())
    await t().app.sequencer.flush()
    const file = path.join(dir, 'same-name.cbk')
    const source = { database: t().db, databaseUrl: t().db.url }
    const results = await Promise.allSettled([
      createBackup(source, keys, { file }),
      createBackup(source, keys, { file }),
    ])
    const done = results.filter((r) => r.status === 'fulfilled')
    const refused = results.filter((r) => r.status === 'rejected')
    assert.equal(done.length, 1, JSON.stringify(results))
    assert.equal((refused[0]?.reason as BackupRefusedError).code, 'BACKUP_EXISTS')
    const created = (done[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof createBackup>>>).value
    assert.equal(statSync(file).size, created.bytes)
    const report = await verifyBackup(file, keys, { postgresUrl: postgresUrl() })
    assert.equal(report.backupId, created.manifest.backupId)
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('.partial')),
      [],
    )
  })

  it('P8.1: a scheduled run whose name a manual backup took fails clearly and leaves that backup in place', async () => {
    const at = new Date(Date.now() + 3_600_000)
    const file = path.join(dir, `custodian-${basicTime(at)}-${engine}.cbk`)
    const manual = await createBackup({ database: t().db, databaseUrl: t().db.url }, keys, { file })
    const { services } = t().app
    const scheduler = createBackupScheduler({
      database: t().db,
      databaseUrl: t().db.url,
      keys,
      config: loadConfig(env).backup,
      audit: services.audit,
      alerts: () => services.alerts,
      providerOrgId: () => services.auth.providerOrgId(),
      clock: () => at,
      log: { info() {}, error() {} },
    })
    const run = await scheduler.runDue()
    assert.equal(run.status, 'failed')
    assert.match(run.status === 'failed' ? run.error : '', /exists/)
    assert.equal(statSync(file).size, manual.bytes, 'the manual backup is still there, whole')
    const report = await verifyBackup(file, keys, { postgresUrl: postgresUrl() })
    assert.equal(report.backupId, manual.manifest.backupId)
  })
})
