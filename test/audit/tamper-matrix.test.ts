import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { get } from 'node:https'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../src/db/schema.ts'
import { loadOrCreateCertificate } from '../../src/http/tls.ts'
import type { AppError } from '../../src/errors.ts'
import { canonicalJson, type VerifyResult } from '../../src/modules/audit/audit.format.ts'
import { splitNotes } from '../../src/modules/audit/audit.note.ts'
import { verifyReceipt, type AuditReceipt } from '../../src/modules/audit/audit.receipt.ts'
import { verifyConsistency } from '../../src/modules/audit/merkle.ts'
import { openCheckpoint, verifierFromKey } from '../../src/modules/audit/tlog-checkpoint.ts'
import { originHash } from '../../src/witness/witness.state.ts'
import { bootstrapProvider, useTestApp, type Org } from '../helpers/app.ts'
import { appendEvents, chainedRows } from '../helpers/audit-chain.ts'
import {
  asAttacker,
  copyAuditTables,
  cutTail,
  deleteEvent,
  editEvent,
  insertForgedEvent,
  rechain,
  resetTree,
  restoreAuditTables,
  swapSeqs,
} from '../helpers/audit-tamper.ts'
import { forEachEngine } from '../helpers/db.ts'
import { runToExit } from '../helpers/process.ts'
import { spawnWitness, type WitnessProcess } from '../helpers/witness-process.ts'

/**
 * Issue 21, P5.2: tampering with an org's audit log is detected three ways — by
 * `custodian audit verify` against a checkpoint a witness cosigned, by the witness (it
 * refuses to cosign), and by a receipt — for each kind of tampering: an event edited,
 * deleted, reordered or appended; the tail cut; the log rolled back to an earlier copy; a
 * fork (a second checkpoint signed for a size the witness cosigned).
 *
 * The attacker writes the database as its owner (test/helpers/audit-tamper.ts), and does it
 * well. The change: the rows, then the chain's links recomputed. The cover: a checkpoint
 * signed over the changed log with the log's own key — the attacker removes the tree and the
 * checkpoints that disagree, and the log's sequencer rebuilds the tree from the events as
 * they now are and signs it; the log then keeps running. Once covered, `audit verify`
 * without a kept checkpoint finds nothing: only what left the building (the witness's
 * cosigned checkpoint, a receipt) shows it. Verify and receipt cells check after the change
 * and again after the cover. A witness sees checkpoints only, never events: an edit is
 * nothing to it until a checkpoint is signed over it, so its cells check after the cover.
 *
 * Each cell runs its control first: the same steps with nothing falsified pass the same
 * detector. One org per cell (7 × 3), one real witness process (`custodian witness serve`,
 * HTTPS on 127.0.0.1) for all of them; each log has cosigned checkpoints at two sizes
 * before its cell runs. The verify cells run in this process what the command runs; the
 * command itself runs before the matrix (the control) and after it, on the verify cells'
 * logs as their attackers left them.
 *
 * "Appended" is an event added into the history the witness has cosigned (the later
 * events move up one). An event added after the witnessed size is, to every detector, a
 * new event: a log proves that its history does not change, not that a new entry is true.
 */
forEachEngine('tampering with the audit log detected three ways (P5.2, issue 21)', (engine) => {
  const root = mkdtempSync(path.join(tmpdir(), 'custodian-tamper-'))
  const env: Record<string, string> = {}
  let tls: { cert: string; key: string }
  let witness: { name: string; dir: string; port: number; key: string; process?: WitnessProcess }

  before(async () => {
    const made = await loadOrCreateCertificate({
      tls: { certFile: undefined, keyFile: undefined, minVersion: 'TLSv1.2' },
      dataDir: root,
    })
    tls = { cert: made.certFile, key: path.join(root, 'tls', 'selfsigned-key.pem') }
    const dir = path.join(root, 'witness')
    const name = `witness.test/${engine}-tamper`
    const init = await runToExit(['bin/custodian.js', 'witness', 'init', '--name', name, '--dir', dir, '--json'], {})
    assert.equal(init.code, 0, init.output)
    const key = (JSON.parse(init.output) as { verifierKey: string }).verifierKey
    witness = { name, dir, port: await freePort(), key }
    Object.assign(env, {
      CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://127.0.0.1:${witness.port} ${key}`,
      CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
      CUSTODIAN_EXTRA_CA_FILE: tls.cert,
      // The test runs the sequencer and the deliveries itself: nothing moves between its steps.
      CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '60000',
      CUSTODIAN_WEBHOOK_CHECK_MS: '600000',
    })
  })
  // The deployment's key, also written where the `custodian` command reads it (its audit key signs the checkpoints).
  const rootKey = randomBytes(32)
  const cliDir = path.join(root, 'cli')
  mkdirSync(cliDir, { mode: 0o700 })
  for (const file of ['root.key', 'audit.key']) writeFileSync(path.join(cliDir, file), rootKey, { mode: 0o600 })
  const t = useTestApp(engine, env, undefined, undefined, { rootKey })
  const db = () => t().db.kysely
  const audit = () => t().app.services.audit

  /** One org per cell, its log witnessed at `first` then at `size` events. */
  interface Cell {
    id: string
    orgId: string
    /** The log's verifier key; its name is the checkpoints' origin. */
    logKey: string
    origin: string
    first: number
    size: number
  }
  const cells = new Map<string, Cell>()
  /** The witnessed checkpoint each verify cell kept, for the command's own run after the matrix. */
  const keptByCell = new Map<string, string>()

  // ---- The log, the witness and the delivery job, as the tests drive them.

  const headSeq = async (orgId: string) =>
    Number(
      (await db().selectFrom('audit_heads').select('seq').where('org_id', '=', orgId).executeTakeFirstOrThrow()).seq,
    )
  const append = (orgIds: string | string[], n: number) => appendEvents(t(), orgIds, n, 'test.tamper')

  /** Runs the checkpoint delivery job until it has nothing left to settle. */
  async function deliver(): Promise<void> {
    for (let pass = 0; pass < 10; pass++) if ((await t().app.auditWitnesses.deliverDue()) === 0) return
  }

  /** The witness's latest cosigned checkpoint of a log, as anyone fetches it (`GET <witness>/<origin hash>/checkpoint`). */
  function witnessCheckpoint(origin: string): Promise<string> {
    return new Promise((resolve, reject) => {
      get(
        {
          host: '127.0.0.1',
          port: witness.port,
          path: `/${originHash(origin)}/checkpoint`,
          ca: readFileSync(tls.cert),
        },
        (res) => {
          let text = ''
          res.on('data', (chunk: Buffer) => (text += chunk.toString()))
          res.on('end', () =>
            res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`)),
          )
        },
      ).on('error', reject)
    })
  }
  const sizeOf = (note: string) => Number(note.split('\n')[1])

  /** Answers of the witness refusing a checkpoint of this log as inconsistent (its request log). */
  const refusals = (c: Cell) =>
    (witness.process?.output() ?? '')
      .split('\n')
      .filter((line) => line.includes(`"origin":"${c.origin}"`) && line.includes('"outcome":"WITNESS_INCONSISTENT"'))
      .length

  // ---- What the attacker does (test/helpers/audit-tamper.ts), and its control.

  /** The position the event kinds change: inside the second witnessed batch. */
  const target = (c: Cell) => c.first + 2

  /** The cover of an event kind: the tree and checkpoints thrown away, the log signs anew (after `events` more). */
  async function resign(c: Cell, events: number): Promise<void> {
    await asAttacker(db(), c.orgId, (trx) => resetTree(trx, c.orgId))
    if (events > 0) await append(c.orgId, events)
    else await t().app.sequencer.flush()
  }
  /** The log keeps running until it is two events past what the witness holds. */
  async function continuePastWitness(c: Cell): Promise<void> {
    await append(c.orgId, sizeOf(await witnessCheckpoint(c.origin)) + 2 - (await headSeq(c.orgId)))
  }
  /** Changes events, then recomputes the chain; `genuine` recomputes it only. */
  const eventChange = (falsify: (trx: Kysely<DB>, c: Cell) => Promise<unknown>) => async (c: Cell, genuine: boolean) =>
    asAttacker(db(), c.orgId, async (trx) => {
      if (!genuine) await falsify(trx, c)
      await rechain(trx, c.orgId)
    })

  interface Kind {
    id: string
    name: string
    /** The seq of the event whose receipt the receipt cell keeps. */
    victim(c: Cell): number
    /** The change to the database; `genuine`: the same steps with nothing falsified. */
    change(c: Cell, genuine: boolean): Promise<void>
    /** What follows, until the log has signed a checkpoint over the change. */
    cover(c: Cell): Promise<void>
    /** What the holder of a receipt finds after the change, then after the cover. */
    receipt: [RegExp[], RegExp[]]
  }
  const rewrittenReceipt = [/0 of the 1 witness cosignatures/, /does not extend the receipt/]
  const KINDS: Kind[] = [
    {
      id: 'edited',
      name: 'an edited event',
      victim: target,
      change: eventChange((trx, c) => editEvent(trx, c.orgId, target(c))),
      cover: (c) => resign(c, 2),
      receipt: [[/inclusion proof does not lead/, /not the one in the receipt/], rewrittenReceipt],
    },
    {
      id: 'deleted',
      name: 'a deleted event',
      victim: target,
      change: eventChange((trx, c) => deleteEvent(trx, c.orgId, target(c))),
      cover: (c) => resign(c, 2),
      receipt: [[/has no event .* any more/], [/has no event .* any more/, /does not extend the receipt/]],
    },
    {
      id: 'reordered',
      name: 'reordered events',
      victim: target,
      change: eventChange((trx, c) => swapSeqs(trx, c.orgId, target(c))),
      cover: (c) => resign(c, 2),
      receipt: [[/inclusion proof does not lead/, /not the one in the receipt/], rewrittenReceipt],
    },
    {
      id: 'appended',
      name: 'an event appended into the witnessed history',
      victim: target,
      change: eventChange((trx, c) => insertForgedEvent(trx, c.orgId, target(c))),
      cover: (c) => resign(c, 2),
      receipt: [[/inclusion proof does not lead/, /not the one in the receipt/], rewrittenReceipt],
    },
    {
      id: 'cut',
      name: 'the tail cut',
      victim: (c) => c.size,
      async change(c, genuine) {
        const keep = genuine ? await headSeq(c.orgId) : target(c)
        await asAttacker(db(), c.orgId, (trx) => cutTail(trx, c.orgId, keep))
      },
      cover: continuePastWitness,
      receipt: [
        [/has no event .* any more/, /smaller than the receipt/],
        [/has no event .* any more/, /does not extend the receipt/],
      ],
    },
    {
      id: 'rollback',
      name: 'the log rolled back to an earlier copy',
      victim: (c) => c.size,
      async change(c, genuine) {
        // The control restores a copy taken just now; the attack, the copy taken at `first`.
        if (genuine) await copyAuditTables(db(), c.orgId, `${c.id}_now`)
        await asAttacker(db(), c.orgId, (trx) =>
          restoreAuditTables(trx, c.orgId, `${c.id}_${genuine ? 'now' : 'first'}`),
        )
      },
      cover: continuePastWitness,
      receipt: [
        [/has no event .* any more/, /smaller than the receipt/],
        [/has no event .* any more/, /does not extend the receipt/],
      ],
    },
    {
      id: 'fork',
      name: 'a fork (a second checkpoint signed for a witnessed size)',
      victim: target,
      change: eventChange((trx, c) => editEvent(trx, c.orgId, target(c))),
      // Signed at the size the witness holds, over another tree.
      cover: (c) => resign(c, 0),
      receipt: [[/inclusion proof does not lead/, /not the one in the receipt/], rewrittenReceipt],
    },
  ]

  // ---- The detectors.

  /**
   * What `custodian audit verify --org <id> [--checkpoint <file>]` runs: the sequencer
   * flushed, then the org's chain verified against the notes of the file, in this process.
   */
  async function verifyAgainst(c: Cell, kept?: string[]): Promise<VerifyResult> {
    await t().app.sequencer.flush()
    return audit().verify(c.orgId, kept === undefined ? {} : { keptNotes: kept })
  }
  /**
   * `custodian audit verify --checkpoint <files>` itself, over every org of the database:
   * each org's line (OK or FAIL) with the problem lines under it. The command opens the
   * database itself: on PostgreSQL the test's own; the embedded database belongs to this
   * process, so the command gets a copy of its files (as on a server stopped for it).
   */
  async function verifyCommand(
    notes: string[] | 'ask-witnesses',
  ): Promise<{ code: number | null; output: string; orgs: Map<string, string[]> }> {
    const run = randomBytes(4).toString('hex')
    const files = (notes === 'ask-witnesses' ? [] : notes).map((note, i) => {
      const file = path.join(root, `kept-${run}-${i}.note`)
      writeFileSync(file, note)
      return file
    })
    const env: Record<string, string> = { CUSTODIAN_DATA_DIR: cliDir }
    const { url, pglite } = t().db
    if (url !== undefined) env.DATABASE_URL = url
    else {
      const pgdata = path.join(cliDir, 'pgdata')
      rmSync(pgdata, { recursive: true, force: true })
      const dump = await (pglite as PGlite).dumpDataDir('none')
      await (await PGlite.create({ dataDir: pgdata, loadDataDir: dump })).close()
    }
    if (notes === 'ask-witnesses')
      Object.assign(env, {
        CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://127.0.0.1:${witness.port} ${witness.key}`,
        CUSTODIAN_EXTRA_CA_FILE: tls.cert,
      })
    const args = notes === 'ask-witnesses' ? ['--ask-witnesses'] : ['--checkpoint', ...files]
    const { code, output } = await runToExit(['bin/custodian.js', 'audit', 'verify', ...args], env)
    const orgs = new Map<string, string[]>()
    let lines: string[] = []
    for (const line of output.split('\n')) {
      const org = /^(OK|FAIL) +org ([0-9a-f-]{36}): /.exec(line)
      if (org !== null) orgs.set(org[2] as string, (lines = [line]))
      else if (line.startsWith('     ')) lines.push(line.trim())
    }
    return { code, output, orgs }
  }
  function assertWitnessedCheckpointDisagrees(result: VerifyResult): void {
    assert.equal(result.ok, false)
    assert.ok(
      result.problems.some(
        (p) =>
          p.kind === 'kept_checkpoint_mismatch' || (p.kind === 'truncated' && p.message.includes('kept elsewhere')),
      ),
      `the witnessed checkpoint disagrees: ${JSON.stringify(result.problems)}`,
    )
  }

  /**
   * What the holder of a receipt finds when it checks the log against it: the log's own
   * receipt of the event now (with the witness's cosignature), the event itself, and that
   * the log's newest checkpoint extends the receipt's (a consistency proof from the log).
   */
  async function receiptProblems(c: Cell, kept: AuditReceipt): Promise<string[]> {
    const problems: string[] = []
    const log = verifierFromKey(c.logKey)
    try {
      const now = await audit().receipt(c.orgId, kept.event.id)
      for (const problem of verifyReceipt(now, c.logKey, [witness.key], 1).problems)
        problems.push(`its receipt now: ${problem}`)
      if (canonicalJson(now.event) !== canonicalJson(kept.event))
        problems.push(`the log's event ${kept.event.id} is not the one in the receipt (seq ${now.event.seq})`)
    } catch (error) {
      if ((error as AppError).code !== 'NOT_FOUND') throw error
      problems.push(`the log has no event ${kept.event.id} any more`)
    }
    const latest = await audit().latestCheckpoint(c.orgId)
    if (latest === undefined) return [...problems, 'the log has no checkpoint']
    const newest = openCheckpoint(latest.note, log).checkpoint
    const signed = openCheckpoint(kept.checkpoint, log).checkpoint
    if (newest.size < signed.size)
      problems.push(`the log's newest checkpoint (${newest.size}) is smaller than the receipt's (${signed.size})`)
    else {
      const { hashes } = await audit().consistencyProof(c.orgId, signed.size, newest.size)
      if (!verifyConsistency(signed.size, newest.size, signed.rootHash, newest.rootHash, hashes))
        problems.push(`the log's newest checkpoint (${newest.size}) does not extend the receipt's (${signed.size})`)
    }
    return problems
  }

  const newestDelivery = (c: Cell) =>
    db()
      .selectFrom('audit_witness_deliveries')
      .select(['seq', 'status', 'last_error'])
      .where('org_id', '=', c.orgId)
      .where('witness', '=', 'tlog')
      .orderBy('seq', 'desc')
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow()
  const latestNote = async (c: Cell) => (await audit().latestCheckpoint(c.orgId))?.note
  const cosignatureAt = async (c: Cell, seq: number) =>
    db()
      .selectFrom('audit_cosignatures')
      .select('line')
      .where('org_id', '=', c.orgId)
      .where('seq', '=', seq)
      .executeTakeFirst()
  const inconsistentAlerts = (c: Cell) =>
    db()
      .selectFrom('alerts')
      .select(['severity', 'details'])
      .where('org_id', '=', c.orgId)
      .where('rule', '=', 'audit_witness_inconsistent')
      .execute()

  interface Detector {
    id: string
    name: string
    run(kind: Kind, c: Cell): Promise<void>
  }
  const DETECTORS: Detector[] = [
    {
      id: 'verify',
      name: '`custodian audit verify` against the witnessed checkpoint',
      async run(kind, c) {
        await kind.change(c, true)
        await kind.cover(c)
        await deliver()
        // The checkpoint the witness cosigned, fetched from the witness and read as `--checkpoint <file>` reads it.
        const note = await witnessCheckpoint(c.origin)
        assert.equal(
          openCheckpoint(note, verifierFromKey(c.logKey), [verifierFromKey(witness.key)]).cosignatures.length,
          1,
        )
        const kept = splitNotes(note)
        const control = await verifyAgainst(c, kept)
        assert.equal(control.ok, true, JSON.stringify(control.problems))
        assert.equal(control.keptCheckpoints, 1)

        await kind.change(c, false)
        assertWitnessedCheckpointDisagrees(await verifyAgainst(c, kept))
        await kind.cover(c)
        const alone = await verifyAgainst(c)
        assert.equal(alone.ok, true, `covered: the database alone shows nothing ${JSON.stringify(alone.problems)}`)
        assertWitnessedCheckpointDisagrees(await verifyAgainst(c, kept))
        keptByCell.set(c.id, note)
      },
    },
    {
      id: 'witness',
      name: 'the witness, which refuses to cosign',
      async run(kind, c) {
        await kind.change(c, true)
        await kind.cover(c)
        await deliver()
        const control = await newestDelivery(c)
        const controlNote = await latestNote(c)
        assert.equal(control.status, 'delivered', String(control.last_error))
        const cosigned = await witnessCheckpoint(c.origin)
        assert.equal(sizeOf(cosigned), Number(control.seq), 'the witness holds the log’s newest checkpoint')
        assert.ok(await cosignatureAt(c, Number(control.seq)))
        assert.deepEqual(await inconsistentAlerts(c), [])
        const refusedBefore = refusals(c)

        await kind.change(c, false)
        await kind.cover(c)
        const forged = await latestNote(c)
        assert.ok(forged !== undefined && forged !== controlNote, 'the log signed a checkpoint over the changed log')
        await deliver()
        const refused = await newestDelivery(c)
        assert.equal(Number(refused.seq), sizeOf(forged))
        assert.equal(refused.status, 'failed')
        assert.match(String(refused.last_error), /^422: /)
        // Its request log reaches this process through a pipe, shortly after the answer.
        assert.ok(await eventually(() => refusals(c) > refusedBefore), 'the witness logged its 422')
        assert.equal(await cosignatureAt(c, Number(refused.seq)), undefined)
        assert.equal(await witnessCheckpoint(c.origin), cosigned, 'the witness keeps what it cosigned')
        const [alert, ...more] = await inconsistentAlerts(c)
        assert.equal(more.length, 0)
        assert.equal(alert?.severity, 'critical')
      },
    },
    {
      id: 'receipt',
      name: 'a receipt',
      async run(kind, c) {
        const victim = await chainedRows(db(), c.orgId).where('c.seq', '=', kind.victim(c)).executeTakeFirstOrThrow()
        const kept = await audit().receipt(c.orgId, victim.event_id)
        assert.deepEqual(verifyReceipt(kept, c.logKey, [witness.key], 1).problems, [])
        await kind.change(c, true)
        await kind.cover(c)
        await deliver()
        assert.deepEqual(await receiptProblems(c, kept), [])

        const [changed, covered] = kind.receipt
        await kind.change(c, false)
        assertAllMatch(await receiptProblems(c, kept), changed)
        await kind.cover(c)
        await deliver()
        assertAllMatch(await receiptProblems(c, kept), covered)
        assert.deepEqual(
          verifyReceipt(kept, c.logKey, [witness.key], 1).problems,
          [],
          'the receipt kept still proves what the witness cosigned',
        )
      },
    },
  ]

  // ---- The fixture: an org per cell, the witness configured for each log, two witnessed sizes.

  let provider: Org
  before(async () => {
    provider = await bootstrapProvider(t())
    const logKeys = [await logKeyOf(provider.orgId)]
    for (const kind of KINDS)
      for (const detector of DETECTORS) {
        const id = `${kind.id}_${detector.id}`
        const created = await t().request({
          method: 'POST',
          url: '/v1/orgs',
          token: provider.ownerToken,
          body: { name: `Tamper ${kind.id} ${detector.id}`, ownerEmail: `owner@${id.replace('_', '-')}.test` },
        })
        assert.equal(created.status, 201, created.text)
        const orgId = created.body.org.id as string
        const logKey = await logKeyOf(orgId)
        logKeys.push(logKey)
        cells.set(id, { id, orgId, logKey, origin: logKey.split('+')[0] as string, first: 0, size: 0 })
      }
    witness.process = await spawnWitness([
      ...['--dir', witness.dir, '--port', String(witness.port), '--log-level', 'info'],
      ...['--tls-cert', tls.cert, '--tls-key', tls.key],
      ...logKeys.flatMap((k) => ['--log', k]),
    ])
    for (const round of ['first', 'size'] as const) {
      await append(
        [...cells.values()].map((c) => c.orgId),
        6,
      )
      await deliver()
      for (const c of cells.values()) {
        c[round] = await headSeq(c.orgId)
        assert.equal(sizeOf(await witnessCheckpoint(c.origin)), c[round], `${c.id}: witnessed at ${round}`)
        if (round === 'first' && c.id.startsWith('rollback_')) await copyAuditTables(db(), c.orgId, `${c.id}_first`)
      }
    }
  })
  after(async () => {
    await witness.process?.stop()
  })

  async function logKeyOf(orgId: string): Promise<string> {
    const keys = (await t().request({ method: 'GET', url: `/v1/audit/keys?org=${orgId}` })).body.keys as {
      verifierKey: string
    }[]
    return keys[0]?.verifierKey as string
  }

  it('P5.2 `custodian audit verify --checkpoint` passes every log against the checkpoint its witness cosigned (the control of the command)', async () => {
    const notes = await Promise.all([...cells.values()].map((c) => witnessCheckpoint(c.origin)))
    const { code, output, orgs } = await verifyCommand(notes)
    assert.equal(code, 0, output)
    for (const c of cells.values()) assert.match(orgs.get(c.orgId)?.[0] ?? '', /^OK .*, 1 kept checkpoint$/, c.id)
  })

  it('P5.2 `custodian audit verify --ask-witnesses` fetches each log’s cosigned checkpoint from the witness itself and passes every log (the control)', async () => {
    const { code, output, orgs } = await verifyCommand('ask-witnesses')
    assert.equal(code, 0, output)
    for (const c of cells.values()) assert.match(orgs.get(c.orgId)?.[0] ?? '', /^OK .*, 1 kept checkpoint$/, c.id)
  })

  for (const kind of KINDS)
    for (const detector of DETECTORS)
      it(`P5.2 ${kind.name} detected by ${detector.name}`, async () => {
        await detector.run(kind, cells.get(`${kind.id}_${detector.id}`) as Cell)
      })

  // After the matrix: each verify cell's log as its attacker left it (covered), and the note it kept.
  it('P5.2 `custodian audit verify --checkpoint` itself fails each of those logs on the checkpoint its witness cosigned', async () => {
    assert.equal(keptByCell.size, KINDS.length, 'every verify cell ran')
    const { code, output, orgs } = await verifyCommand([...keptByCell.values()])
    assert.equal(code, 1, output)
    for (const id of keptByCell.keys()) {
      const [line, ...problems] = orgs.get((cells.get(id) as Cell).orgId) ?? []
      assert.match(line ?? '', /^FAIL .*, 1 kept checkpoint$/, id)
      assert.ok(
        problems.some((p) => /^(kept_checkpoint_mismatch: |truncated: .* kept elsewhere)/.test(p)),
        `${id}: ${JSON.stringify(problems)}`,
      )
    }
  })

  it('P5.2 `custodian audit verify --ask-witnesses` fails each of those logs on the checkpoint it fetched from the witness, and a witness that is down fails every log', async () => {
    const { code, output, orgs } = await verifyCommand('ask-witnesses')
    assert.equal(code, 1, output)
    for (const id of keptByCell.keys()) {
      const [line, ...problems] = orgs.get((cells.get(id) as Cell).orgId) ?? []
      assert.match(line ?? '', /^FAIL .*, 1 kept checkpoint$/, id)
      assert.ok(
        problems.some((p) => /^(kept_checkpoint_mismatch: |truncated: .* kept elsewhere)/.test(p)),
        `${id}: ${JSON.stringify(problems)}`,
      )
    }
    // The last test of the file: the witness stays down. And one org's row is gone, as an
    // attacker who owns the database would remove it (no cascade): its log is still
    // verified, and still asked about.
    await witness.process?.stop()
    witness.process = undefined
    await db()
      .transaction()
      .execute(async (trx) => {
        await sql`SET LOCAL session_replication_role = replica`.execute(trx)
        await sql`DELETE FROM orgs WHERE id = ${[...cells.values()][0]?.orgId}`.execute(trx)
      })
    const down = await verifyCommand('ask-witnesses')
    assert.equal(down.code, 1, down.output)
    for (const c of cells.values()) {
      const [line, ...problems] = down.orgs.get(c.orgId) ?? []
      assert.match(line ?? '', /^FAIL /, c.id)
      assert.ok(
        problems.some((p) => /^witness: witness .*: unreachable/.test(p)),
        `${c.id}: ${JSON.stringify(problems)}`,
      )
    }
  })
})

function assertAllMatch(problems: string[], expected: RegExp[]): void {
  assert.ok(problems.length > 0, 'the receipt shows the tampering')
  for (const pattern of expected)
    assert.ok(
      problems.some((p) => pattern.test(p)),
      `${pattern} in ${JSON.stringify(problems)}`,
    )
}

async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  for (
    const start = Date.now();
    Date.now() - start < timeoutMs;
    await new Promise((resolve) => setTimeout(resolve, 20))
  )
    if (condition()) return true
  return condition()
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}
