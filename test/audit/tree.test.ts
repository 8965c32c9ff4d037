import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import { canonicalJson } from '../../src/modules/audit/audit.format.ts'
import { noteVerifierKey, openCheckpointNote, parseVerifierKey } from '../../src/modules/audit/audit.note.ts'
import { verifyReceipt, type AuditReceipt } from '../../src/modules/audit/audit.receipt.ts'
import { cosignerVerifierKey } from '../../src/modules/audit/tlog-checkpoint.ts'
import { createSequencer } from '../../src/modules/audit/audit.sequencer.ts'
import { toChainedEvent } from '../../src/modules/audit/audit.store.ts'
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/modules/audit/merkle.ts'
import { decodeEntryBundle } from '../../src/modules/audit/tlog-tiles.ts'
import { chainedRows, appendEvents } from '../helpers/audit-chain.ts'
import { forEachEngine } from '../helpers/db.ts'
import { buildGoChecker, type GoChecker } from '../helpers/go-tlog.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org, type TestApp } from '../helpers/app.ts'

/**
 * Issue 21: each org's audit log is an RFC 9162 Merkle tree, stored as C2SP tlog-tiles,
 * whose root the checkpoints sign; inclusion and consistency proofs and the tiles are
 * served, and Go's reference implementation (sumdb/note, sumdb/tlog) checks them.
 */
let go: GoChecker
before(() => {
  go = buildGoChecker()
})

forEachEngine('the audit log as a Merkle tree (P5.2, issue 21)', (engine) => {
  const t = useTestApp(engine, {
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '100',
    CUSTODIAN_PUBLIC_URL: 'https://custodian.example',
  })
  let provider: Org
  let org: Org

  const append = (app: TestApp, orgId: string, n: number) => appendEvents(app, orgId, n, 'test.tree')
  const get = (url: string, as: Org = org) =>
    t().request({ method: 'GET', url: `/v1/orgs/${as.orgId}${url}`, token: as.ownerToken })
  const checkpoints = (orgId: string) =>
    t()
      .db.kysely.selectFrom('audit_checkpoints')
      .select(['seq', 'root_hash', 'note'])
      .where('org_id', '=', orgId)
      .orderBy('seq')
      .execute()
  const leavesOf = async (orgId: string) =>
    (await chainedRows(t().db.kysely, orgId).execute()).map((row) =>
      Buffer.from(canonicalJson(toChainedEvent(row, Number(row.seq))), 'utf8'),
    )
  const b64 = (hash: Buffer) => hash.toString('base64')

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'tree', 'owner@tree.test')
    for (let round = 0; round < 3; round++) await append(t(), org.orgId, 110)
  })

  it('signs the tree root in each checkpoint; Go opens the notes and checks every proof served', async () => {
    const signed = await checkpoints(org.orgId)
    assert.ok(signed.length >= 3, `checkpoints along the log, got ${signed.length}`)
    const latest = (await get('/audit/checkpoints/latest')).body
    const size = latest.size as number
    assert.ok(size >= 330)
    const data = await leavesOf(org.orgId)
    const leaves = data.map(leafHash)
    const root = Buffer.from(latest.rootHash as string, 'hex')

    // The verifier key is published with the keys, for anyone to check a note of this org.
    const published = (await t().request({ method: 'GET', url: `/v1/audit/keys?org=${org.orgId}` })).body.keys as {
      verifierKey: string
      origin: string
    }[]
    assert.equal(published[0]?.verifierKey, latest.verifierKey)
    assert.equal(published[0]?.origin, 'custodian.example/audit/{orgId}')
    // Go opens every note with the published verifier key; each hash line is that size's root.
    const answer = go({ notes: signed.map((c) => c.note), vkey: latest.verifierKey })
    for (const [i, opened] of (answer.notes ?? []).entries()) assert.equal(opened.error ?? '', '', `note ${i}`)
    for (const c of signed)
      assert.equal(
        openCheckpointNote(c.note as string, parseVerifierKey(String(latest.verifierKey)).publicKey).hash,
        Buffer.from(c.root_hash as Uint8Array).toString('hex'),
      )

    // Inclusion proofs of a sample of events in the latest tree, checked here and by Go's tlog.CheckRecord.
    const sample = [1, 2, 100, 101, 255, 256, 257, size - 1, size].filter((seq) => seq <= size)
    const inclusion = []
    for (const seq of sample) {
      const proof = await get(`/audit/proofs/inclusion?seq=${seq}&size=${size}`)
      assert.equal(proof.status, 200, proof.text)
      const hashes = (proof.body.hashes as string[]).map((h) => Buffer.from(h, 'base64'))
      assert.ok(verifyInclusion(seq - 1, size, leaves[seq - 1] as Buffer, hashes, root), `inclusion of seq ${seq}`)
      assert.ok(!verifyInclusion(seq % size, size, leaves[seq - 1] as Buffer, hashes, root) || size === 1)
      inclusion.push({ index: seq - 1, size, leaf: leaves[seq - 1], root, proof: hashes })
    }
    // Consistency between each pair of successive checkpoints, and from the first to the last.
    const consistency = []
    const pairs = signed.slice(1).map((c, i) => [signed[i], c] as const)
    pairs.push([signed[0], signed.at(-1)] as never)
    for (const [older, newer] of pairs) {
      if (older === undefined || newer === undefined) continue
      const from = Number(older.seq)
      const to = Number(newer.seq)
      const proof = await get(`/audit/proofs/consistency?from=${from}&to=${to}`)
      assert.equal(proof.status, 200, proof.text)
      const hashes = (proof.body.hashes as string[]).map((h) => Buffer.from(h, 'base64'))
      const oldRoot = Buffer.from(older.root_hash as Uint8Array)
      const newRoot = Buffer.from(newer.root_hash as Uint8Array)
      assert.ok(verifyConsistency(from, to, oldRoot, newRoot, hashes), `consistency ${from} → ${to}`)
      consistency.push({ old: from, new: to, oldRoot, newRoot, proof: hashes })
    }
    const checked = go({ inclusion, consistency })
    assert.deepEqual(
      checked.inclusion,
      inclusion.map(() => 'ok'),
    )
    assert.deepEqual(
      checked.consistency,
      consistency.map(() => 'ok'),
    )
    const forged = go({
      inclusion: inclusion.map((c) => ({ ...c, leaf: leaves[0] === c.leaf ? leaves[1] : leaves[0] })),
    })
    assert.ok(
      forged.inclusion?.every((r) => r !== 'ok'),
      'Go refuses a proof for another event',
    )

    // The tiles: Go computes the signed root from them; the entry bundle holds the events' JCS bytes.
    const tiles = []
    for (const p of ['tile/0/000', `tile/0/001.p/${size - 256}`, 'tile/1/000.p/1']) {
      const tile = await get(`/audit/${p}`)
      assert.equal(tile.status, 200, `${p}: ${tile.text}`)
      assert.match(String(tile.headers['content-type']), /^application\/octet-stream/)
      tiles.push({ path: p, data: tile.raw })
    }
    assert.deepEqual(Buffer.concat(leaves.slice(0, 256)), tiles[0]?.data)
    assert.equal((await get('/audit/tile/0/000')).headers['cache-control'], 'private, max-age=31536000, immutable')
    const fromTiles = go({ tiles, size, root, leaves: data, treeSizes: [size] })
    assert.deepEqual(fromTiles.tileErrors ?? [], [])
    assert.equal(fromTiles.treeHashes[String(size)], b64(root))
    const bundle = await get('/audit/tile/entries/000')
    assert.equal(bundle.status, 200)
    assert.equal(bundle.headers['cache-control'], 'no-store', 'events are never cached')
    assert.deepEqual(decodeEntryBundle(bundle.raw), data.slice(0, 256))
    assert.equal((await get(`/audit/tile/0/001.p/${size - 255}`)).status, 404, 'beyond the tree')
    assert.equal((await get('/audit/tile/0/1')).status, 404, 'not a tile path')
  })

  it('hands out a receipt of an event that anyone verifies offline, and that fails when anything in it changes', async () => {
    const latest = (await get('/audit/checkpoints/latest')).body
    const vkey = latest.verifierKey as string
    const events = (await get('/audit/events?limit=5')).body.events as { id: string; seq: number | null }[]
    const chained = events.find((e) => e.seq !== null && e.seq <= (latest.size as number))
    assert.ok(chained !== undefined)
    const response = await get(`/audit/events/${chained.id}/receipt`)
    assert.equal(response.status, 200, response.text)
    const receipt = response.body as unknown as AuditReceipt
    assert.deepEqual(verifyReceipt(receipt, vkey), {
      ok: true,
      problems: [],
      cosignedBy: [],
      org: org.orgId,
      seq: chained.seq,
      size: latest.size,
    })
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'custodian-receipt-')), 'receipt.json')
    writeFileSync(file, JSON.stringify(receipt))
    const cli = (args: string[]) =>
      spawnSync(
        process.execPath,
        [path.join(import.meta.dirname, '..', '..', 'bin', 'custodian.js'), 'audit', 'verify-receipt', ...args],
        {
          encoding: 'utf8',
        },
      )
    const good = cli([file, '--key', vkey])
    assert.equal(good.status, 0, good.stderr + good.stdout)
    assert.match(good.stdout, /^OK {2}event seq \d+ of org /)

    const altered: [string, (r: AuditReceipt) => AuditReceipt][] = [
      ['an edited event', (r) => ({ ...r, event: { ...r.event, action: 'member.remove' } })],
      ['another seq', (r) => ({ ...r, event: { ...r.event, seq: r.event.seq === 1 ? 2 : 1 } })],
      [
        'a changed proof hash',
        (r) => ({ ...r, proof: r.proof.map((h, i) => (i === 0 ? Buffer.alloc(32).toString('base64') : h)) }),
      ],
      ['a dropped proof hash', (r) => ({ ...r, proof: r.proof.slice(1) })],
      ['another size', (r) => ({ ...r, size: r.size + 1 })],
      [
        'an altered checkpoint',
        (r) => ({ ...r, checkpoint: r.checkpoint.replace(`\n${r.size}\n`, `\n${r.size + 1}\n`) }),
      ],
    ]
    for (const [what, change] of altered) {
      const check = verifyReceipt(change(receipt), vkey)
      assert.equal(check.ok, false, what)
      assert.ok(check.problems.length > 0, what)
    }
    const stranger = ed25519FromSeed(Buffer.alloc(32, 9))
    const otherKey = noteVerifierKey(String(latest.origin), Buffer.from(stranger.publicKey, 'base64url'))
    assert.equal(verifyReceipt(receipt, otherKey).ok, false, 'another key')
    writeFileSync(file, JSON.stringify({ ...receipt, event: { ...receipt.event, outcome: 'denied' } }))
    const bad = cli([file, '--key', vkey])
    assert.equal(bad.status, 1)
    assert.match(bad.stdout, /^FAIL {2}the inclusion proof does not lead/)
    // A witness quorum that was not met fails even with a sound proof.
    const witness = ed25519FromSeed(Buffer.alloc(32, 5))
    const witnessKey = cosignerVerifierKey('witness.example', Buffer.from(witness.publicKey, 'base64url'))
    assert.match(verifyReceipt(receipt, vkey, [witnessKey]).problems.join(), /0 of the 1 witness cosignatures/)
    assert.equal((await get(`/audit/events/${randomUUID()}/receipt`)).status, 404)
  })

  it('a receipt shows tampering in the database: an event edited or moved no longer proves into the signed root', async () => {
    const victim = await createCustomerOrg(t(), provider, 'victim', 'owner@victim.test')
    await append(t(), victim.orgId, 130)
    const k = t().db.kysely
    const vkey = (await get('/audit/checkpoints/latest', victim)).body.verifierKey as string
    const idAt = async (seq: number) =>
      (await chainedRows(k, victim.orgId).where('c.seq', '=', seq).executeTakeFirstOrThrow()).event_id
    const receiptOf = async (eventId: string) => (await get(`/audit/events/${eventId}/receipt`, victim)).body
    const [fifth, seventh] = [await idAt(5), await idAt(7)]
    assert.equal(verifyReceipt(await receiptOf(fifth), vkey).ok, true)
    assert.equal(verifyReceipt(await receiptOf(seventh), vkey).ok, true)

    await sql`UPDATE audit_events SET details = '{"i":"forged"}' WHERE event_id = ${fifth}`.execute(k)
    assert.match(verifyReceipt(await receiptOf(fifth), vkey).problems.join(), /inclusion proof does not lead/, 'edited')
    await sql`UPDATE audit_chain SET seq = 1000000 WHERE org_id = ${victim.orgId} AND seq = 7`.execute(k)
    await sql`UPDATE audit_chain SET seq = 7 WHERE org_id = ${victim.orgId} AND seq = 8`.execute(k)
    await sql`UPDATE audit_chain SET seq = 8 WHERE org_id = ${victim.orgId} AND seq = 1000000`.execute(k)
    assert.match(
      verifyReceipt(await receiptOf(seventh), vkey).problems.join(),
      /inclusion proof does not lead/,
      'moved',
    )
    const verified = (await get('/audit/verify', victim)).body
    assert.equal(verified.ok, false)
  })

  it('refuses an event whose details would not fit a leaf of an entry bundle: the write fails closed', async () => {
    const append = (size: number) =>
      t()
        .db.kysely.transaction()
        .execute((trx) =>
          t().app.services.audit.append(trx, {
            orgId: org.orgId,
            actor: { type: 'system', id: null },
            action: 'test.big',
            outcome: 'success',
            details: { x: 'a'.repeat(size) },
            meta: { requestId: null, ip: null, userAgent: null },
          }),
        )
    await assert.rejects(append(70_000), /exceed 60000 bytes/)
    await append(50_000)
  })

  it('answers proofs only within the signed tree: 400 naming the parameter, 404 before the first checkpoint', async () => {
    const size = (await get('/audit/checkpoints/latest')).body.size as number
    const bad = async (query: string, field: string) => {
      const r = await get(`/audit/proofs/${query}`)
      assert.equal(r.status, 400, `${query}: ${r.text}`)
      assert.match(String(r.headers['content-type']), /application\/problem\+json/)
      assert.match(
        JSON.stringify(r.body.errors),
        new RegExp(`"/query(string)?/${field}"`),
        `${query} names ${field}: ${r.text}`,
      )
    }
    await bad(`inclusion?seq=${size + 1}&size=${size}`, 'seq')
    await bad(`inclusion?seq=1&size=${size + 1000}`, 'size')
    await bad('inclusion?seq=0&size=1', 'seq')
    await bad(`consistency?from=${size}&to=${size - 1}`, 'from')
    await bad(`consistency?from=1&to=${size + 1000}`, 'to')
    const empty = await get(`/audit/proofs/consistency?from=0&to=${size}`)
    assert.deepEqual(empty.body, { hashes: [] })
    const fresh = await createCustomerOrg(t(), provider, 'unsigned', 'owner@unsigned.test')
    await t().db.kysely.deleteFrom('audit_checkpoints').where('org_id', '=', fresh.orgId).execute()
    assert.equal((await get('/audit/proofs/inclusion?seq=1&size=1', fresh)).status, 404)
  })

  it('takes a chain signed before the tree into the tree, a batch per pass, then signs its root', async () => {
    const old = await createCustomerOrg(t(), provider, 'pretree', 'owner@pretree.test')
    await append(t(), old.orgId, 130)
    const k = t().db.kysely
    const before = await k
      .selectFrom('audit_tiles')
      .selectAll()
      .where('org_id', '=', old.orgId)
      .orderBy('level')
      .orderBy('n')
      .execute()
    const head = await k.selectFrom('audit_heads').selectAll().where('org_id', '=', old.orgId).executeTakeFirstOrThrow()
    // As migration 0025 finds it: no tiles, no tree, checkpoints whose notes sign the chain head.
    await k.deleteFrom('audit_tiles').where('org_id', '=', old.orgId).execute()
    await sql`UPDATE audit_heads SET tree_size = 0, root_hash = NULL WHERE org_id = ${old.orgId}`.execute(k)
    await sql`UPDATE audit_checkpoints SET root_hash = NULL, note = NULL WHERE org_id = ${old.orgId}`.execute(k)
    const signedBefore = (await checkpoints(old.orgId)).length
    // A sequencer that takes 50 events per pass and never signs: the progress is committed pass by pass.
    const slow = createSequencer({
      db: k,
      signer: ed25519FromSeed(Buffer.alloc(32, 7)),
      log: { error: () => undefined, info: () => undefined },
      options: {
        intervalMs: 1_000_000,
        checkpointEvery: 1_000_000,
        checkpointSeconds: 1_000_000,
        originHost: 'custodian.example',
        witnesses: [],
        treeBackfillPerPass: 50,
      },
    })
    const sizes = []
    for (let pass = 0; pass < 3; pass++) {
      await slow.runOnce()
      const h = await k
        .selectFrom('audit_heads')
        .select('tree_size')
        .where('org_id', '=', old.orgId)
        .executeTakeFirstOrThrow()
      sizes.push(Number(h.tree_size))
    }
    assert.deepEqual(sizes, [50, 100, Math.min(150, Number(head.seq))])
    await t().app.sequencer.flush()
    const after = await k
      .selectFrom('audit_tiles')
      .selectAll()
      .where('org_id', '=', old.orgId)
      .orderBy('level')
      .orderBy('n')
      .execute()
    assert.deepEqual(after, before, 'the same tiles as if the tree had always been kept')
    const rebuilt = await k
      .selectFrom('audit_heads')
      .selectAll()
      .where('org_id', '=', old.orgId)
      .executeTakeFirstOrThrow()
    assert.deepEqual(rebuilt.root_hash, head.root_hash)
    await append(t(), old.orgId, 100)
    const signed = await checkpoints(old.orgId)
    assert.ok(signed.length > signedBefore && signed.at(-1)?.root_hash !== null, 'a checkpoint of the tree follows')
    const verified = (await get('/audit/verify', old)).body
    assert.equal(verified.ok, true, JSON.stringify(verified.problems))
  })

  it('never signs a checkpoint that does not extend the last one signed (a tampered tile)', async () => {
    const other = await createCustomerOrg(t(), provider, 'tampered', 'owner@tampered.test')
    await append(t(), other.orgId, 120)
    const k = t().db.kysely
    const signedBefore = (await checkpoints(other.orgId)).length
    await sql`UPDATE audit_tiles SET hashes = overlay(hashes PLACING decode('ff', 'hex') FROM 1 FOR 1) WHERE org_id = ${other.orgId} AND level = 0 AND n = 0`.execute(
      k,
    )
    // The last root is read from the signed note: clearing the column does not lift the check.
    await sql`UPDATE audit_checkpoints SET root_hash = NULL WHERE org_id = ${other.orgId}`.execute(k)
    await append(t(), other.orgId, 120)
    assert.equal(
      (await checkpoints(other.orgId)).length,
      signedBefore,
      'nothing signed over a tree that does not extend the last checkpoint',
    )
  })
})
