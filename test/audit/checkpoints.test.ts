import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import type { Engine } from '../../src/db/connect.ts'
import { canonicalJson, chainHash } from '../../src/modules/audit/audit.format.ts'
import { verifyExport } from '../../src/modules/audit/audit.export.ts'
import { openCheckpointNote, splitNotes } from '../../src/modules/audit/audit.note.ts'
import { toChainedEvent } from '../../src/modules/audit/audit.store.ts'
import { leafHash, treeHashOfLeaves } from '../../src/modules/audit/merkle.ts'
import { ENGINES, forEachEngine } from '../helpers/db.ts'
import { chainedRows, deleteChained, deleteOrgEvents, idAtSeq } from '../helpers/audit-chain.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org, type TestApp } from '../helpers/app.ts'
import { startHttpsReceiver, type Received } from '../helpers/https-receiver.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'custodian-checkpoints-'))
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
const witnessFile = (engine: Engine) => path.join(dir, `witness-${engine}.notes`)
// Filled once the receiver listens, before any suite builds its app.
const baseEnv = (): Record<string, string> => ({
  CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '5',
  CUSTODIAN_WEBHOOK_RETRY_BASE_MS: '10',
  CUSTODIAN_AUTH_RATE_LIMIT: '1000',
})
const envs: Record<Engine, Record<string, string>> = { pglite: baseEnv(), postgres: baseEnv() }

before(async () => {
  // The operator's witness refuses the first delivery of each engine's run: it is retried.
  const refused = new Set<string>()
  receiver = await startHttpsReceiver(path.join(dir, 'ca.pem'), (r) => {
    if (!r.path.startsWith('/witness-') || refused.has(r.path)) return 200
    refused.add(r.path)
    return 503
  })
  for (const engine of ENGINES)
    Object.assign(envs[engine], {
      CUSTODIAN_EXTRA_CA_FILE: receiver.caFile,
      CUSTODIAN_AUDIT_WITNESS_URL: `${receiver.url}/witness-${engine}`,
      CUSTODIAN_AUDIT_WITNESS_FILE: witnessFile(engine),
      CUSTODIAN_PUBLIC_URL: 'https://custodian.example',
    })
})
after(() => receiver?.close())

// npm test installs Go (scripts/prerequisites.ts); only a run outside CI may skip the reference check.
const GO_INSTALLED = process.env.CI === 'true' || spawnSync('go', ['version']).error === undefined

/** Builds (once) the reference verifier of signed notes, Go's golang.org/x/mod/sumdb/note (Debian's golang-golang-x-mod-dev). */
const goVerifier = (() => {
  let built: string | undefined
  return (): string => {
    if (built === undefined) {
      const out = path.join(dir, 'noteverify')
      const result = spawnSync('go', ['build', '-o', out, path.join(import.meta.dirname, 'note-verifier', 'main.go')], {
        env: {
          ...process.env,
          GO111MODULE: 'off',
          GOPATH: '/usr/share/gocode',
          GOCACHE: path.join(dir, 'gocache'),
          GOFLAGS: '',
        },
        encoding: 'utf8',
      })
      if (result.status !== 0)
        throw new Error(`building the Go note verifier failed (install golang-golang-x-mod-dev): ${result.stderr}`)
      built = out
    }
    return built
  }
})()

/** K9: checkpoints leave the database as C2SP signed notes, and a kept one exposes a cut tail. */
forEachEngine('audit checkpoints kept outside Custodian (P5.2, K9)', (engine) => {
  const t = useTestApp(engine, envs[engine])
  let provider: Org
  let publicKey: Buffer
  let pinned: Map<string, string>

  async function orgWithEvents(name: string, n = 12): Promise<Org> {
    const org = await createCustomerOrg(t(), provider, name, `owner@${name}.test`)
    for (let i = 0; i < n; i++) {
      const r = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: `sa-${i}`, role: 'viewer' },
      })
      assert.equal(r.status, 201, r.text)
      // Chained as they come, so checkpoints fall along the chain (one every 5 events), not only at its end.
      await t().app.sequencer.flush()
    }
    return org
  }
  const latest = async (org: Org) => {
    const r = await t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/audit/checkpoints/latest`,
      token: org.ownerToken,
    })
    assert.equal(r.status, 200, r.text)
    return r.body as { origin: string; size: number; hash: string; rootHash: string; verifierKey: string; note: string }
  }
  const exported = async (org: Org) =>
    (
      await t().app.inject({
        method: 'GET',
        url: `/v1/orgs/${org.orgId}/audit/export`,
        headers: { authorization: `Bearer ${org.ownerToken}` },
      })
    ).body
  const kinds = (result: { problems: { kind: string }[] }) => new Set(result.problems.map((p) => p.kind))
  const owner = (app: TestApp) => app.db.kysely

  before(async () => {
    provider = await bootstrapProvider(t())
    const keys = (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys as {
      keyId: string
      publicKey: string
    }[]
    pinned = new Map(keys.map((k) => [k.keyId, k.publicKey]))
    publicKey = Buffer.from(keys[0]?.publicKey as string, 'base64url')
  })

  it('signs each checkpoint as a C2SP signed note of the Merkle tree root, served to keep (K9, issue 21)', async () => {
    const org = await orgWithEvents('note')
    const body = await latest(org)
    assert.equal(body.origin, `custodian.example/audit/${org.orgId}`)
    const lines = body.note.split('\n')
    assert.deepEqual(lines.slice(0, 4), [
      body.origin,
      String(body.size),
      Buffer.from(body.rootHash, 'hex').toString('base64'),
      '',
    ])
    assert.match(lines[4] as string, new RegExp(`^\u2014 ${body.origin.replace(/[.]/g, '\\.')} [A-Za-z0-9+/]{91}=$`))
    const opened = openCheckpointNote(body.note, publicKey)
    assert.equal(opened.size, body.size)
    assert.equal(opened.hash, body.rootHash)
    const rows = await chainedRows(owner(t()), org.orgId).where('c.seq', '<=', body.size).execute()
    assert.equal(rows.length, body.size)
    assert.equal(
      Buffer.from(rows.at(-1)?.hash as Uint8Array).toString('hex'),
      body.hash,
      '`hash` is hash_size of the chain',
    )
    const leaves = rows.map((row) => leafHash(Buffer.from(canonicalJson(toChainedEvent(row, Number(row.seq))), 'utf8')))
    assert.equal(
      treeHashOfLeaves(leaves).toString('hex'),
      body.rootHash,
      'the hash line is the RFC 9162 root over the JCS bytes of events 1..size',
    )

    const text = await t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/audit/checkpoints/latest?format=note`,
      token: org.ownerToken,
    })
    assert.match(String(text.headers['content-type']), /^text\/plain/)
    assert.equal(text.text, body.note)
    const accepted = await t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/audit/checkpoints/latest`,
      token: org.ownerToken,
      headers: { accept: 'text/plain' },
    })
    assert.equal(accepted.text, body.note)

    const forged = body.note.replace(`\n${body.size}\n`, `\n${body.size + 1}\n`)
    assert.throws(() => openCheckpointNote(forged, publicKey))
  })

  it('the reference implementation of signed notes (Go sumdb/note) verifies the checkpoint, and refuses a forged one (K9)', {
    skip: GO_INSTALLED
      ? false
      : 'go is not installed here (npm test installs golang-go and golang-golang-x-mod-dev as root)',
  }, async () => {
    const body = await latest(await orgWithEvents('gonote', 6))
    const go = goVerifier()
    const good = spawnSync(go, [body.verifierKey], { input: body.note, encoding: 'utf8' })
    assert.equal(good.status, 0, good.stderr)
    assert.equal(good.stdout, body.note.slice(0, body.note.indexOf('\n\n') + 1))
    const forged = body.note.replace(`\n${body.size}\n`, `\n${body.size + 1}\n`)
    const bad = spawnSync(go, [body.verifierKey], { input: forged, encoding: 'utf8' })
    assert.equal(bad.status, 1)
    const otherKey = spawnSync(go, [body.verifierKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')], {
      input: body.note,
      encoding: 'utf8',
    })
    assert.notEqual(otherKey.status, 0)
  })

  it('delivers each checkpoint to the org’s webhooks (audit.checkpoint), the operator’s HTTPS witness (retried) and witness file (K9)', async () => {
    const org = await createCustomerOrg(t(), provider, 'witnessed', 'owner@witnessed.test')
    const hook = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/webhooks`,
      token: org.ownerToken,
      body: { name: 'keeper', url: `${receiver.url}/hook-${engine}`, events: ['audit.checkpoint'] },
    })
    assert.equal(hook.status, 201, hook.text)
    for (let i = 0; i < 6; i++)
      await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: `w-${i}`, role: 'viewer' },
      })
    await t().app.sequencer.flush()
    const { size } = await latest(org)
    const status = async () =>
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/audit/status`, token: org.ownerToken })).body
        .witnesses
    const waiting = await status()
    assert.ok(waiting.pending >= 3, JSON.stringify(waiting))

    for (let pass = 0; pass < 5; pass++) {
      await t().app.auditWitnesses.deliverDue()
      await t().app.services.webhooks.deliverDue()
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
    const outbox = await owner(t()).selectFrom('audit_witness_deliveries').selectAll().execute()
    const ours = outbox.filter((r) => r.org_id === org.orgId)
    assert.deepEqual(new Set(ours.map((r) => r.witness)), new Set(['webhooks', 'https', 'file']))
    assert.ok(
      ours.every((r) => r.status === 'delivered'),
      JSON.stringify(ours),
    )
    assert.ok(
      outbox.every((r) => r.status === 'delivered' || (r.status === 'skipped' && r.witness === 'webhooks')),
      JSON.stringify(outbox),
    )
    assert.equal(
      outbox.filter((r) => r.witness === 'https' && r.attempts === 2).length,
      1,
      'the refused delivery was retried',
    )
    assert.deepEqual(await status(), { pending: 0, failed: 0, lastDeliveredSeq: size }, 'the status says what left')
    const audited = await owner(t())
      .selectFrom('audit_events')
      .select('details')
      .where('org_id', '=', org.orgId)
      .where('action', '=', 'webhook.delivery')
      .execute()
    assert.equal(
      audited.length,
      0,
      'a delivered checkpoint is not an audit event (that would need a checkpoint of its own: a loop)',
    )

    const hooked = receiver.received
      .filter((r: Received) => r.path === `/hook-${engine}`)
      .map((r) => JSON.parse(r.body) as { type: string; org: string; checkpoint: { size: number; note: string } })
    assert.ok(hooked.length > 0 && hooked.every((b) => b.type === 'audit.checkpoint' && b.org === org.orgId))
    const newest = hooked.find((b) => b.checkpoint.size === size)
    assert.ok(newest !== undefined, 'the newest checkpoint reached the webhook')
    assert.equal(openCheckpointNote(newest.checkpoint.note, publicKey).size, size)
    assert.ok(
      receiver.received
        .filter((r: Received) => r.path === `/hook-${engine}`)
        .every((r) => /^t=\d+,v1=[0-9a-f]{64}$/.test(String(r.headers['x-custodian-signature']))),
    )

    const witnessed = receiver.received.filter(
      (r: Received) => r.path === `/witness-${engine}` && r.headers['x-custodian-org'] === org.orgId,
    )
    assert.ok(witnessed.every((r) => String(r.headers['content-type']).startsWith('text/plain')))
    assert.ok(witnessed.some((r) => openCheckpointNote(r.body, publicKey).size === size))

    const filed = splitNotes(readFileSync(witnessFile(engine), 'utf8')).map((note) =>
      openCheckpointNote(note, publicKey),
    )
    assert.ok(filed.some((c) => c.org === org.orgId && c.size === size))
  })

  it('a cut export tail, with the checkpoints above it, fails against a kept checkpoint; no checkpoint fails unless allowed (K9)', async () => {
    const org = await orgWithEvents('cutexport')
    const kept = (await latest(org)).note
    const full = await exported(org)
    assert.equal((await verifyExport(full, { pinnedKeys: pinned, keptNotes: [kept] })).ok, true)

    const records = full
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; event?: { seq: number }; checkpoint?: { seq: number } })
    const lastSeq = Math.max(...records.flatMap((r) => (r.event === undefined ? [] : [r.event.seq])))
    const cutAt = lastSeq - 3
    const cut = full
      .trim()
      .split('\n')
      .filter((_, i) => {
        const r = records[i]
        return !((r?.event?.seq ?? 0) > cutAt || (r?.checkpoint?.seq ?? 0) > cutAt)
      })
      .join('\n')
    const alone = await verifyExport(cut, { pinnedKeys: pinned })
    assert.ok(alone.checkpoints > 0)
    assert.equal(alone.ok, true, 'without a kept checkpoint the cut cannot be seen (what K9 fixes with witnesses)')
    const against = await verifyExport(cut, { pinnedKeys: pinned, keptNotes: [kept] })
    assert.equal(against.ok, false)
    assert.ok(kinds(against).has('truncated'))

    const unsigned = full
      .trim()
      .split('\n')
      .filter((line) => !line.includes('"kind":"checkpoint"'))
      .join('\n')
    const refused = await verifyExport(unsigned, { pinnedKeys: pinned })
    assert.ok(kinds(refused).has('unsigned'))
    assert.equal((await verifyExport(unsigned, { pinnedKeys: pinned, allowUnsigned: true })).ok, true)
    assert.ok(
      kinds(await verifyExport(full.split('\n')[0] as string, { pinnedKeys: pinned })).has('unsigned'),
      'an export stripped of everything proves nothing',
    )
  })

  it('a database tail cut with its checkpoints, or a rewritten chain, fails against a kept checkpoint (K9)', async () => {
    const org = await orgWithEvents('cutdb')
    const kept = await latest(org)
    const k = owner(t())
    const cutAt = kept.size - 3
    await deleteChained(k, org.orgId, cutAt + 1)
    await sql`DELETE FROM audit_checkpoints WHERE org_id = ${org.orgId} AND seq > ${cutAt}`.execute(k)
    await sql`UPDATE audit_heads SET seq = ${cutAt}, checkpoint_seq = LEAST(checkpoint_seq, ${cutAt}) WHERE org_id = ${org.orgId}`.execute(
      k,
    )
    const service = t().app.services.audit
    const against = await service.verify(org.orgId, { keptNotes: [kept.note] })
    assert.equal(against.ok, false)
    assert.ok(kinds(against).has('truncated'))
    const all = await service.verifyAll({ keptNotes: [kept.note] })
    assert.ok(kinds(all.find((r) => r.org === org.orgId) as { problems: { kind: string }[] }).has('truncated'))

    await sql`DELETE FROM audit_checkpoints WHERE org_id = ${org.orgId}`.execute(k)
    assert.ok(kinds(await service.verify(org.orgId)).has('unsigned'), 'a chain with every checkpoint removed fails')

    const other = await orgWithEvents('rewrittendb')
    const keptOther = await latest(other)
    await sql`UPDATE audit_events SET details = '{"forged":true}' WHERE id = ${idAtSeq(other.orgId, 2)}`.execute(k)
    const rows = await chainedRows(k, other.orgId).execute()
    let prev: Buffer = Buffer.alloc(32)
    for (const row of rows) {
      const hash = chainHash(prev, toChainedEvent(row, Number(row.seq)))
      await sql`UPDATE audit_chain SET prev_hash = ${prev}, hash = ${hash} WHERE id = ${row.id}`.execute(k)
      prev = hash
    }
    await sql`DELETE FROM audit_checkpoints WHERE org_id = ${other.orgId}`.execute(k)
    assert.ok(kinds(await service.verify(other.orgId, { keptNotes: [keptOther.note] })).has('kept_checkpoint_mismatch'))

    const gone = await orgWithEvents('wholelog', 2)
    const keptGone = await latest(gone)
    await deleteOrgEvents(k, gone.orgId)
    await sql`DELETE FROM audit_checkpoints WHERE org_id = ${gone.orgId}`.execute(k)
    await sql`DELETE FROM audit_heads WHERE org_id = ${gone.orgId}`.execute(k)
    const whole = (await service.verifyAll({ keptNotes: [keptGone.note] })).find((r) => r.org === gone.orgId)
    assert.ok(whole !== undefined && kinds(whole).has('truncated'), 'a whole org log removed is seen too')
  })
})

/** A witness that never answers: its deliveries are given up after the last attempt, and the status says so. */
forEachEngine('audit checkpoints to an unreachable witness (K9)', (engine) => {
  const t = useTestApp(engine, {
    CUSTODIAN_AUDIT_WITNESS_URL: 'https://127.0.0.1:9/witness',
    CUSTODIAN_WEBHOOK_RETRY_BASE_MS: '10',
    CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '2',
  })

  it('dead-letters a checkpoint delivery after the last attempt and reports it in the status (K9)', async () => {
    const provider = await bootstrapProvider(t())
    const org = await createCustomerOrg(t(), provider, `deadwitness${engine}`, `owner@dead-${engine}.test`)
    await t().app.sequencer.flush()
    for (let pass = 0; pass < 4; pass++) {
      await t().app.auditWitnesses.deliverDue()
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
    const status = (
      await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/audit/status`, token: org.ownerToken })
    ).body
    assert.ok(status.witnesses.failed >= 1, JSON.stringify(status))
    assert.equal(
      status.witnesses.lastDeliveredSeq,
      null,
      'no webhook subscribes and the endpoint never answered: nothing left, and the status says so',
    )
    const skipped = await t()
      .db.kysely.selectFrom('audit_witness_deliveries')
      .select('status')
      .where('org_id', '=', org.orgId)
      .where('witness', '=', 'webhooks')
      .execute()
    assert.ok(skipped.length > 0 && skipped.every((r) => r.status === 'skipped'))
    const rows = await t()
      .db.kysely.selectFrom('audit_witness_deliveries')
      .selectAll()
      .where('org_id', '=', org.orgId)
      .where('witness', '=', 'https')
      .execute()
    assert.ok(
      rows.length > 0 && rows.every((r) => r.status === 'failed' && r.attempts === 2 && r.last_error !== null),
      JSON.stringify(rows),
    )
  })
})
