import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { execFileSync } from 'node:child_process'
import { sql } from 'kysely'
import { openDatabase } from '../../src/db/connect.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { bootstrapProvider, createCustomerOrg, startTestApp, type Org, type TestApp } from '../helpers/app.ts'
import type { TestDatabase } from '../helpers/db.ts'
import { startCluster, type Cluster } from '../helpers/pg-cluster.ts'

/**
 * P8.1, point-in-time recovery of PostgreSQL with pgBackRest (docs/operations.md, "Rollback
 * detection and point-in-time recovery"), on a throwaway cluster of this file's own: WAL
 * archived by `pgbackrest archive-push`, a full backup, Custodian writing (an org, secrets,
 * audit events, checkpoints to its witness file), a recorded target time, more writes, then
 * `pgbackrest restore --type=time` to the target and a start: what was committed up to the
 * target is there, what came later is not — and since the witness saw the later
 * checkpoints, the org is found rolled back and refused until an operator acknowledges it.
 */
const STANZA = 'custodian'

describe('point-in-time recovery with pgBackRest, then rollback detection (P8.1)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-pitr-'))
  const rootKey = randomBytes(32)
  const env = {
    CUSTODIAN_AUDIT_WITNESS_FILE: path.join(dir, 'witness.notes'),
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'shred-ring.json'),
  }
  const backrest = path.join(dir, 'pgbackrest')
  const conf = path.join(backrest, 'pgbackrest.conf')
  let cluster: Cluster
  let database: TestDatabase | undefined
  let app: TestApp | undefined

  const pgbackrest = (...args: string[]) =>
    cluster.asPostgres(['pgbackrest', `--config=${conf}`, `--stanza=${STANZA}`, ...args]).toString()

  async function connect(): Promise<TestApp> {
    const url = cluster.url('postgres', cluster.superuserPassword, 'custodian')
    const opened = await openDatabase({ databaseUrl: url, poolSize: 4 })
    database = { ...opened, url, pglite: undefined }
    await migrateToLatest(opened.kysely)
    app = await startTestApp('postgres', database, env, undefined, undefined, undefined, rootKey)
    return app
  }
  async function disconnect(): Promise<void> {
    await app?.app.close()
    await database?.close()
    app = undefined
    database = undefined
  }

  before(async () => {
    // The repository and the tool's own directories belong to the postgres OS user, who runs it.
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
    chmodSync(dir, 0o755)
    for (const sub of ['', 'repo', 'log', 'lock', 'spool']) {
      mkdirSync(path.join(backrest, sub), { recursive: true })
      chownSync(path.join(backrest, sub), uid, gid)
    }
    cluster = await startCluster({
      conf: [
        'wal_level = replica',
        'archive_mode = on',
        `archive_command = 'pgbackrest --config=${conf} --stanza=${STANZA} archive-push %p'`,
        'max_wal_senders = 3',
      ].join('\n'),
      hba: 'local all postgres peer\n',
    })
    writeFileSync(
      conf,
      [
        '[global]',
        `repo1-path=${path.join(backrest, 'repo')}`,
        'repo1-retention-full=2',
        `log-path=${path.join(backrest, 'log')}`,
        `lock-path=${path.join(backrest, 'lock')}`,
        `spool-path=${path.join(backrest, 'spool')}`,
        'log-level-console=warn',
        'start-fast=y',
        '',
        `[${STANZA}]`,
        `pg1-path=${cluster.dataDir}`,
        `pg1-port=${cluster.port}`,
        `pg1-socket-path=${cluster.dir}`,
        'pg1-user=postgres',
        '',
      ].join('\n'),
    )
    chownSync(conf, uid, gid)
    await cluster.asSuperuser('CREATE DATABASE custodian')
    pgbackrest('stanza-create')
    pgbackrest('check')
  })

  after(async () => {
    await disconnect().catch(() => undefined)
    try {
      cluster?.stop()
    } catch {
      // Already stopped (a failed restore).
    }
  })

  it('P8.1: restores to the target time — earlier writes there, later ones gone — and the witnessed org is refused until acknowledged', async () => {
    let t = await connect()
    const provider: Org = await bootstrapProvider(t)
    const acme: Org = await createCustomerOrg(t, provider, 'Acme', 'owner@acme-pitr.test')
    const putSecret = async (name: string) => {
      const response = await t.request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/secrets`,
        token: acme.ownerToken,
        body: { name, type: 'generic', value: `value of ${name}` },
      })
      assert.equal(response.status, 201, response.text)
    }
    const settle = async () => {
      await t.app.sequencer.flush()
      for (let pass = 0; pass < 100 && (await t.app.auditWitnesses.deliverDue()) > 0; pass++);
    }

    // The full backup, taken while the service runs.
    pgbackrest('backup', '--type=full')
    // pgBackRest keeps a backup's stop time in whole seconds and restores to a time only from a
    // backup that stopped before it: a target in the same second as the stop is refused
    // ("unable to find backup set with stop time less than …"). Two seconds apart, always.
    await sql`SELECT pg_sleep(2.1)`.execute((database as TestDatabase).kysely)
    await putSecret('before-the-target')
    await settle()
    const head = async () =>
      Number(
        (
          await sql<{ seq: string }>`SELECT seq FROM audit_heads WHERE org_id = ${acme.orgId}`.execute(
            (database as TestDatabase).kysely,
          )
        ).rows[0]?.seq,
      )
    const headAtTarget = await head()
    // The target: the server's own clock after everything above committed, rounded up to the
    // millisecond (pgBackRest takes milliseconds at most), in UTC.
    const target = (
      await sql<{
        now: string
      }>`SELECT to_char((clock_timestamp() + interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') || '+00' AS now`.execute(
        (database as TestDatabase).kysely,
      )
    ).rows[0]?.now as string
    // Later writes, strictly after the target (the server's clock moves past it).
    await sql`SELECT pg_sleep(0.05)`.execute((database as TestDatabase).kysely)
    await putSecret('after-the-target')
    await settle()
    assert.ok((await head()) > headAtTarget, 'the later writes grew the chain; the witness saw them')
    await sql`SELECT pg_switch_wal()`.execute((database as TestDatabase).kysely)
    await disconnect()
    // Every WAL segment with the later writes is archived before the cluster stops.
    pgbackrest('check')

    cluster.stop()
    pgbackrest('restore', '--delta', '--type=time', `--target=${target}`, '--target-action=promote')
    cluster.start()
    const su = async () => {
      const pg = await openDatabase({
        databaseUrl: cluster.url('postgres', cluster.superuserPassword, 'custodian'),
        poolSize: 1,
      })
      try {
        for (let i = 0; i < 600; i++) {
          const { rows } = await sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`.execute(pg.kysely)
          if (rows[0]?.r === false) return
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        throw new Error('the restored cluster did not leave recovery')
      } finally {
        await pg.close()
      }
    }
    await su()

    t = await connect()
    const names = async () =>
      (
        await sql<{ name: string }>`SELECT name FROM secrets WHERE org_id = ${acme.orgId} ORDER BY name`.execute(
          (database as TestDatabase).kysely,
        )
      ).rows.map((r) => r.name)
    assert.deepEqual(await names(), ['before-the-target'], 'the data up to the target is there, later writes are not')
    assert.equal(await head(), headAtTarget, 'the chain stands where it stood at the target')

    const state = t.app.rollback.status().refused.find((r) => r.orgId === acme.orgId)
    assert.ok(state?.state === 'rolled_back', JSON.stringify(t.app.rollback.status()))
    assert.equal(state.kind, 'behind')
    const refused = await t.request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/secrets`, token: acme.ownerToken })
    assert.equal(refused.status, 503, refused.text)
    assert.equal(refused.body.code, 'ORG_ROLLED_BACK')

    const ack = await t.request({
      method: 'POST',
      url: `/v1/operator/rollback/orgs/${acme.orgId}/acknowledge`,
      token: provider.ownerToken,
      body: { reason: `point-in-time recovery to ${target}` },
    })
    assert.equal(ack.status, 200, ack.text)
    const served = await t.request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/secrets`, token: acme.ownerToken })
    assert.equal(served.status, 200, served.text)
    assert.deepEqual(
      (served.body.secrets as { name: string }[]).map((s) => s.name),
      ['before-the-target'],
    )
  })
})
