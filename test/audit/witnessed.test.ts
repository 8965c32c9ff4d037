import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { loadOrCreateCertificate } from '../../src/http/tls.ts'
import { verifyReceipt, type AuditReceipt } from '../../src/modules/audit/audit.receipt.ts'
import { originHash } from '../../src/witness/witness.state.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org, type TestApp } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { appendEvents } from '../helpers/audit-chain.ts'
import { buildGoChecker, type GoChecker } from '../helpers/go-tlog.ts'
import { runToExit } from '../helpers/process.ts'
import { spawnWitness, type WitnessProcess } from '../helpers/witness-process.ts'
import { assertTimeInWords } from '../helpers/titles.ts'

/**
 * Issue 21, "Witnesses": each checkpoint goes to the configured C2SP tlog-witness witnesses —
 * here two real `custodian witness serve` processes on 127.0.0.1 — with the consistency
 * proof from the size each holds; their cosignatures are stored and served in the note, a
 * checkpoint cosigned by the quorum is witnessed, a log left unwitnessed raises an alert,
 * a 409 is answered by resending from the witness's size and a 422 raises a critical alert.
 */
let go: GoChecker
before(() => {
  go = buildGoChecker()
})

const ROOT = path.resolve(import.meta.dirname, '..', '..')

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

interface Witness {
  name: string
  dir: string
  port: number
  key: string
  process?: WitnessProcess | undefined
}

forEachEngine('audit checkpoints cosigned by witnesses (issue 21)', (engine) => {
  const root = mkdtempSync(path.join(tmpdir(), 'custodian-witnessed-'))
  const witnesses: Witness[] = []
  const env: Record<string, string> = {}
  let logKeys: string[] = []

  // The witnesses' keys, certificate and ports exist before the app starts (its configuration
  // names them). One self-signed certificate for both: two for the same name would shadow each other.
  let tls: { cert: string; key: string }
  before(async () => {
    const made = await loadOrCreateCertificate({
      tls: { certFile: undefined, keyFile: undefined, minVersion: 'TLSv1.2' },
      dataDir: root,
    })
    tls = { cert: made.certFile, key: path.join(root, 'tls', 'selfsigned-key.pem') }
    for (const n of [1, 2]) {
      const dir = path.join(root, `w${n}`)
      const name = `witness.test/${engine}-w${n}`
      const init = await runToExit(['bin/custodian.js', 'witness', 'init', '--name', name, '--dir', dir, '--json'], {})
      assert.equal(init.code, 0, init.output)
      const key = (JSON.parse(init.output) as { verifierKey: string }).verifierKey
      witnesses.push({ name, dir, port: await freePort(), key })
    }
    Object.assign(env, {
      CUSTODIAN_AUDIT_TLOG_WITNESSES: witnesses.map((w) => `https://127.0.0.1:${w.port} ${w.key}`).join(',\n'),
      CUSTODIAN_AUDIT_UNWITNESSED_ALERT_SECONDS: '2',
      CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
      CUSTODIAN_EXTRA_CA_FILE: tls.cert,
      CUSTODIAN_WEBHOOK_RETRY_BASE_MS: '10',
      CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '50',
    })
  })
  const t = useTestApp(engine, env)
  let provider: Org
  let acme: Org
  let forked: Org

  async function startWitness(w: Witness): Promise<void> {
    w.process = await spawnWitness([
      '--dir',
      w.dir,
      '--port',
      String(w.port),
      '--tls-cert',
      tls.cert,
      '--tls-key',
      tls.key,
      '--log-level',
      'debug',
      ...logKeys.flatMap((k) => ['--log', k]),
    ])
  }

  const append = (app: TestApp, orgId: string, n: number) => appendEvents(app, orgId, n, 'test.witnessed')

  /** Runs the delivery job until nothing is due right now. */
  async function deliver(): Promise<void> {
    for (let pass = 0; pass < 6; pass++) {
      await t().app.auditWitnesses.deliverDue()
      await new Promise((resolve) => setTimeout(resolve, 30))
    }
  }

  const get = async (url: string, as: Org = acme) => {
    const response = await t().request({ method: 'GET', url: `/v1/orgs/${as.orgId}${url}`, token: as.ownerToken })
    assert.equal(response.status, 200, `${url}: ${response.text}`)
    return response.body
  }
  const outbox = (orgId: string) =>
    t()
      .db.kysely.selectFrom('audit_witness_deliveries')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('witness', '=', 'tlog')
      .orderBy('seq')
      .execute()
  const alertsOf = async (org: Org, rule: string) =>
    (
      (await get('/alerts', org)).alerts as {
        rule: string
        severity: string
        status: string
        title: string
        details: unknown
      }[]
    ).filter((a) => a.rule === rule)

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'acme', 'owner@acme-witnessed.test')
    forked = await createCustomerOrg(t(), provider, 'forked', 'owner@forked-witnessed.test')
    await t().app.sequencer.flush()
    logKeys = []
    for (const org of [provider, acme, forked])
      logKeys.push(String((await get('/audit/checkpoints/latest', org)).verifierKey))
    // The first witness once cosigned a tree of 2 events of org "forked" with another root: a fork.
    const origin = String((await get('/audit/checkpoints/latest', forked)).origin)
    const w1 = witnesses[0] as Witness
    const stateDir = path.join(w1.dir, 'state')
    mkdirSync(stateDir, { recursive: true, mode: 0o700 })
    writeFileSync(
      path.join(stateDir, `${originHash(origin)}.json`),
      `${JSON.stringify({ origin, size: 2, rootHash: randomBytes(32).toString('base64'), note: 'forked\n', cosignedAt: 1 })}\n`,
      { mode: 0o600 },
    )
    for (const w of witnesses) await startWitness(w)
  })

  after(async () => {
    for (const w of witnesses) await w.process?.stop()
  })

  it('stores both witnesses’ cosignatures and serves them in the note, which Go opens with both keys; a receipt verifies with the quorum', async () => {
    await append(t(), acme.orgId, 5)
    await deliver()
    const latest = await get('/audit/checkpoints/latest')
    const size = latest.size as number
    const cosigned = await t()
      .db.kysely.selectFrom('audit_cosignatures')
      .selectAll()
      .where('org_id', '=', acme.orgId)
      .where('seq', '=', size)
      .execute()
    assert.deepEqual(cosigned.map((c) => c.witness).sort(), witnesses.map((w) => w.name).sort())
    assert.deepEqual(
      (latest.cosignatures as { witness: string }[]).map((c) => c.witness).sort(),
      witnesses.map((w) => w.name).sort(),
    )
    const note = String(latest.note)
    for (const c of cosigned) assert.ok(note.includes(`${c.line}\n`), 'the note carries each cosignature line')
    const text = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/audit/checkpoints/latest?format=note`,
      token: acme.ownerToken,
    })
    assert.equal(text.text, note)

    const opened = go({ notes: [note], vkey: latest.verifierKey, cosigners: witnesses.map((w) => w.key) })
    assert.deepEqual(opened.errors, [])
    assert.equal(opened.notes?.[0]?.error ?? '', '')
    assert.equal(opened.notes?.[0]?.verified.length, 3, 'the log’s signature and both cosignatures')

    const status = (await get('/audit/status')).witnessing as Record<string, unknown>
    assert.equal(status.quorum, 2)
    assert.equal(status.witnessedSize, size)
    assert.equal(status.unwitnessedSince, null)
    assert.deepEqual(
      (status.witnesses as { name: string; cosignedSize: number; lastError: string | null }[]).map((w) => [
        w.name,
        w.cosignedSize,
        w.lastError,
      ]),
      witnesses.map((w) => [w.name, size, null]),
    )

    const events = (await get('/audit/events?limit=3')).events as { id: string; seq: number }[]
    const event = events.find((e) => e.seq !== null && e.seq <= size) as { id: string }
    const receipt = (await get(`/audit/events/${event.id}/receipt`)) as unknown as AuditReceipt
    const keys = witnesses.map((w) => w.key)
    assert.equal(verifyReceipt(receipt, String(latest.verifierKey), keys, 2).ok, true)
    const file = path.join(root, `receipt-${engine}.json`)
    writeFileSync(file, JSON.stringify(receipt))
    const cli = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'custodian.js'),
        'audit',
        'verify-receipt',
        file,
        '--key',
        String(latest.verifierKey),
        '--witness',
        ...keys,
        '--quorum',
        '2',
      ],
      { encoding: 'utf8' },
    )
    assert.equal(cli.status, 0, cli.stdout + cli.stderr)
    // Without the cosignatures, the quorum is not met.
    const bare = { ...receipt, checkpoint: receipt.checkpoint.split('\n— witness.test/')[0] as string }
    assert.equal(
      verifyReceipt({ ...bare, checkpoint: `${bare.checkpoint}\n` }, String(latest.verifierKey), keys, 2).ok,
      false,
    )
  })

  it('skips a checkpoint superseded by a newer one for the same witness: the witness sees only growing sizes', async () => {
    await append(t(), acme.orgId, 2)
    const older = (await get('/audit/checkpoints/latest')).size as number
    await append(t(), acme.orgId, 2)
    const newer = (await get('/audit/checkpoints/latest')).size as number
    assert.ok(newer > older)
    await deliver()
    const rows = await outbox(acme.orgId)
    for (const w of witnesses) {
      const mine = rows.filter((r) => r.witness_name === w.name)
      assert.equal(mine.find((r) => Number(r.seq) === older)?.status, 'skipped', `${w.name}: the older one`)
      assert.equal(mine.find((r) => Number(r.seq) === newer)?.status, 'delivered', `${w.name}: the newer one`)
    }
    const latest = await get('/audit/checkpoints/latest')
    assert.equal((latest.cosignatures as unknown[]).length, 2)
  })

  it('with one witness down a checkpoint is not witnessed; the status says so and, past the threshold, audit_unwitnessed is raised once', async () => {
    const before = (await get('/audit/status')).witnessing as { witnessedSize: number }
    const w2 = witnesses[1] as Witness
    await w2.process?.kill()
    await append(t(), acme.orgId, 3)
    const size = (await get('/audit/checkpoints/latest')).size as number
    await deliver()
    const latest = await get('/audit/checkpoints/latest')
    assert.deepEqual(
      (latest.cosignatures as { witness: string }[]).map((c) => c.witness),
      [(witnesses[0] as Witness).name],
    )
    const status = (await get('/audit/status')).witnessing as {
      witnessedSize: number
      unwitnessedSince: string | null
      witnesses: { name: string; cosignedSize: number; lastError: string | null }[]
    }
    assert.equal(status.witnessedSize, before.witnessedSize, 'the quorum of 2 is not reached')
    assert.notEqual(status.unwitnessedSince, null)
    assert.equal(status.witnesses[0]?.cosignedSize, size)
    assert.ok((status.witnesses[1]?.cosignedSize ?? 0) < size)
    assert.ok(status.witnesses[1]?.lastError, 'the unreachable witness’s error is shown')

    assert.equal((await alertsOf(acme, 'audit_unwitnessed')).length, 0)
    await new Promise((resolve) => setTimeout(resolve, 2100))
    assert.ok((await t().app.auditCosigner.checkUnwitnessed()) >= 1)
    const [alert, ...more] = await alertsOf(acme, 'audit_unwitnessed')
    assert.equal(more.length, 0)
    assert.equal(alert?.severity, 'high')
    assertTimeInWords(alert?.title ?? '')
    await t().app.auditCosigner.checkUnwitnessed()
    assert.equal((await alertsOf(acme, 'audit_unwitnessed')).length, 1, 'raised once for the stretch')

    // The witness back: it cosigns the newest checkpoint from the size it holds; the alert stays open.
    await startWitness(w2)
    await append(t(), acme.orgId, 1)
    await deliver()
    const back = (await get('/audit/status')).witnessing as { witnessedSize: number; unwitnessedSince: string | null }
    assert.equal(back.witnessedSize, (await get('/audit/checkpoints/latest')).size)
    assert.equal(back.unwitnessedSince, null)
    assert.equal((await alertsOf(acme, 'audit_unwitnessed'))[0]?.status, 'open', 'nothing is resolved by itself')
  })

  it('answers a 409 by resending from the witness’s size: a witness that holds more than this log believes', async () => {
    const w1 = witnesses[0] as Witness
    // As if the witness had been brought up to date by another path: the log believes it holds nothing.
    await t()
      .db.kysely.updateTable('audit_witness_state')
      .set({ size: 0 })
      .where('org_id', '=', acme.orgId)
      .where('witness', '=', w1.name)
      .execute()
    const conflictsBefore = (w1.process?.output().match(/"outcome":"conflict"/g) ?? []).length
    await append(t(), acme.orgId, 2)
    await deliver()
    const size = (await get('/audit/checkpoints/latest')).size as number
    const rows = (await outbox(acme.orgId)).filter((r) => r.witness_name === w1.name && Number(r.seq) === size)
    assert.equal(rows[0]?.status, 'delivered', JSON.stringify(rows))
    assert.ok(
      (w1.process?.output().match(/"outcome":"conflict"/g) ?? []).length > conflictsBefore,
      'the witness answered 409 first',
    )
    const state = await t()
      .db.kysely.selectFrom('audit_witness_state')
      .selectAll()
      .where('org_id', '=', acme.orgId)
      .where('witness', '=', w1.name)
      .executeTakeFirstOrThrow()
    assert.equal(Number(state.size), size)
  })

  it('sends a quiet log’s newest checkpoint to a witness new to it at start, and says the log is unwitnessed until then', async () => {
    await deliver()
    const w2 = witnesses[1] as Witness
    // As if the second witness had just been added to the configuration: the log never sent it anything.
    const db = t().db.kysely
    await db
      .deleteFrom('audit_witness_deliveries')
      .where('org_id', '=', acme.orgId)
      .where('witness_name', '=', w2.name)
      .execute()
    await db.deleteFrom('audit_witness_state').where('org_id', '=', acme.orgId).where('witness', '=', w2.name).execute()
    await db.updateTable('audit_witnessing').set({ unwitnessed_since: null }).where('org_id', '=', acme.orgId).execute()
    const size = (await get('/audit/checkpoints/latest')).size as number

    assert.ok((await t().app.auditCosigner.catchUp()) >= 1)
    assert.equal(await t().app.auditCosigner.catchUp(), 0, 'once queued, not again')
    const queued = (await outbox(acme.orgId)).filter((r) => r.witness_name === w2.name)
    assert.deepEqual(
      queued.map((r) => [Number(r.seq), r.status]),
      [[size, 'pending']],
      'the newest checkpoint only, with no new event',
    )
    assert.notEqual(
      ((await get('/audit/status')).witnessing as { unwitnessedSince: string | null }).unwitnessedSince,
      null,
    )

    await deliver()
    const latest = await get('/audit/checkpoints/latest')
    assert.equal(latest.size, size, 'no new checkpoint was needed')
    assert.ok((latest.cosignatures as { witness: string }[]).some((c) => c.witness === w2.name))
    const status = (await get('/audit/status')).witnessing as { witnessedSize: number; unwitnessedSince: string | null }
    assert.equal(status.witnessedSize, size)
    assert.equal(status.unwitnessedSince, null)
  })

  it('marks a delivery failed and raises audit_witness_inconsistent when a witness holds another tree (422)', async () => {
    await append(t(), forked.orgId, 1)
    await deliver()
    const w1 = witnesses[0] as Witness
    const rows = (await outbox(forked.orgId)).filter((r) => r.witness_name === w1.name)
    const failed = rows.filter((r) => r.status === 'failed')
    assert.ok(failed.length >= 1, JSON.stringify(rows))
    assert.match(String(failed[0]?.last_error), /^422: /)
    const [alert] = await alertsOf(forked, 'audit_witness_inconsistent')
    assert.equal(alert?.severity, 'critical')
    assert.equal((alert?.details as { witness: string }).witness, w1.name)
    const status = (await get('/audit/status', forked)).witnessing as {
      witnessedSize: number | null
      witnesses: { name: string; lastError: string | null }[]
    }
    assert.equal(status.witnessedSize, null, 'never witnessed: one of two witnesses refuses')
    assert.match(String(status.witnesses[0]?.lastError), /422/)
    // The other witness, with no such history, cosigned.
    const latest = await get('/audit/checkpoints/latest', forked)
    assert.deepEqual(
      (latest.cosignatures as { witness: string }[]).map((c) => c.witness),
      [(witnesses[1] as Witness).name],
    )
  })
})
