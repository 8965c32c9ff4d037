import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { withOrg } from '../../src/db/tenant.ts'
import { isAppError } from '../../src/errors.ts'
import { appendEvents } from '../helpers/audit-chain.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  startTestApp,
  testClock,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { PERIODIC_JOBS } from '../helpers/history.ts'
import { snapshotDatabase } from '../helpers/snapshot.ts'

/**
 * P8.1, issue 16: an org rollback detection refuses is changed by no background job until
 * an operator acknowledges its rollback — its restored copy is suspect (a grant ended since
 * may be back, a request answered since is open again) and a job acting on it would build
 * on that. The sequencer and the witness deliveries paused such an org already; this is
 * every other job (test/helpers/history.ts PERIODIC_JOBS: retention, reviews, deadlines,
 * deliveries, rotations, compliance checks, housekeeping …), run with the clock a year on
 * so that everything is due. Each of Acme's tables (every table with an `org_id`) hashes the
 * same before and after; Globex, served, had the same due work, and it ran.
 */

const DAY_MS = 86_400_000

/** Chains what was written and delivers every checkpoint to the witnesses (until nothing is due). */
async function settle(t: TestApp): Promise<void> {
  await t.app.sequencer.flush()
  for (let pass = 0; pass < 100; pass++) if ((await t.app.auditWitnesses.deliverDue()) === 0) return
  throw new Error('witness deliveries did not settle')
}

/**
 * Tables the shred ring may change for every org alike, with why: it reseals subject keys
 * from a retiring ring epoch to the current one (same key, new wrapping), so that the epoch
 * can be destroyed and the erasures made under it hold for every org. Holding a refused
 * org's keys back would keep that epoch, and every org's erased subjects, readable.
 */
const DEPLOYMENT_WIDE: Record<string, string> = {
  subject_keys:
    'the shred ring reseals every org’s live subject keys (re-wrapping only) so that a retired epoch erases',
}

forEachEngine('background jobs leave a refused org alone (P8.1, issue 16)', (engine) => {
  const rootKey = randomBytes(32)
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-rollback-jobs-'))
  const env = {
    CUSTODIAN_AUDIT_WITNESS_FILE: path.join(dir, 'witness.notes'),
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'shred-ring.json'),
    CUSTODIAN_SHRED_RING_GRACE_MS: '0',
  }
  const clock = testClock()
  let original: TestDatabase
  let restoredDb: TestDatabase
  let restored: TestApp
  let acme: Org
  let globex: Org
  const opened: TestApp[] = []
  const open = async (db: TestDatabase) => {
    const app = await startTestApp(engine, db, env, undefined, undefined, clock.clock, rootKey)
    opened.push(app)
    return app
  }

  /** The same due work in an org: a privacy request (its deadline), a webhook of notices to a closed port, a record. */
  async function dueWork(t: TestApp, org: Org): Promise<void> {
    const as = (url: string, body: unknown) =>
      t.request({ method: 'POST', url: `/v1/orgs/${org.orgId}${url}`, token: org.ownerToken, body })
    const hook = await as('/webhooks', { name: 'pager', url: 'https://127.0.0.1:9/hook', events: ['notifications'] })
    assert.equal(hook.status, 201, hook.text)
    const request = await as('/privacy-requests', {
      kind: 'access',
      subjectId: 'ada@example.test',
      verification: { method: 'signed-in-account' },
    })
    assert.equal(request.status, 201, request.text)
    const record = await as('/records', { subjectId: 'ada@example.test', dataClass: 'contact', payload: { a: 1 } })
    assert.equal(record.status, 201, record.text)
  }

  before(async () => {
    original = await createTestDatabase(engine)
    const live = await open(original)
    const provider = await bootstrapProvider(live)
    acme = await createCustomerOrg(live, provider, 'Acme', 'owner@acme-jobs.test')
    globex = await createCustomerOrg(live, provider, 'Globex', 'owner@globex-jobs.test')
    await dueWork(live, acme)
    await dueWork(live, globex)
    await settle(live)
    const restore = await snapshotDatabase(original, dir)
    // After the backup, Acme's log grows and the witness sees it: the restore is behind.
    await appendEvents(live, acme.orgId, 2, 'test.after-backup')
    await settle(live)
    await live.app.close()
    restoredDb = await restore()
    clock.advance(400 * DAY_MS) // everything is due: deadlines, reviews, checks, expiries
    restored = await open(restoredDb)
  })

  after(async () => {
    for (const app of opened) await app.app.close().catch(() => undefined)
    await restoredDb?.close()
    await original?.close()
  })

  /** Every table with an `org_id` column, and a hash of the org's rows in each. */
  async function hashes(orgId: string): Promise<Map<string, string>> {
    const db = restored.db.kysely
    const tables = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND column_name = 'org_id'
       ORDER BY table_name`.execute(db)
    const out = new Map<string, string>()
    for (const { table_name: table } of tables.rows) {
      const row = await sql<{ n: string; h: string | null }>`
        SELECT count(*)::text AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h
          FROM ${sql.table(table)} t WHERE t.org_id = ${orgId}`.execute(db)
      out.set(table, `${row.rows[0]?.n}:${row.rows[0]?.h ?? ''}`)
    }
    return out
  }

  it('P8.1: with an org refused, every periodic job runs without failing, changes nothing of that org, and does the served org’s due work', async () => {
    assert.equal(restored.app.rollback.refusal(acme.orgId), 'ORG_ROLLED_BACK')
    assert.equal(restored.app.rollback.refusal(globex.orgId), undefined)
    const acmeBefore = await hashes(acme.orgId)
    const globexBefore = await hashes(globex.orgId)
    assert.ok(acmeBefore.size > 40, `${acmeBefore.size} tables with org_id`)
    for (let round = 0; round < 3; round++)
      for (const job of PERIODIC_JOBS) {
        try {
          await job.run(restored)
        } catch (error) {
          assert.fail(`${job.name} failed with an org refused: ${(error as Error).message}`)
        }
      }
    const acmeAfter = await hashes(acme.orgId)
    const changed = [...acmeBefore].filter(([table, h]) => acmeAfter.get(table) !== h && !(table in DEPLOYMENT_WIDE))
    assert.deepEqual(
      changed.map(([table]) => table),
      [],
      'the refused org’s tables are as restored',
    )
    // The same due work ran for Globex: the jobs were not simply idle.
    const globexAfter = await hashes(globex.orgId)
    const ran = [...globexBefore].filter(([table, h]) => globexAfter.get(table) !== h).map(([table]) => table)
    for (const table of ['audit_events', 'privacy_requests', 'notifications', 'webhook_deliveries', 'access_reviews'])
      assert.ok(ran.includes(table), `no due work of the served org ran in ${table} (changed: ${ran.join(', ')})`)
  })

  it('P8.1: the backstop: any org transaction of a refused org is refused (503 ORG_ROLLED_BACK), so a job that forgot to leave it out changes nothing of it either', async () => {
    let ran = false
    await assert.rejects(
      withOrg(restored.db.kysely, acme.orgId, async () => {
        ran = true
      }),
      (error: unknown) => isAppError(error) && error.code === 'ORG_ROLLED_BACK',
    )
    assert.equal(ran, false)
    assert.equal(await withOrg(restored.db.kysely, globex.orgId, async () => 'served'), 'served')
  })
})
