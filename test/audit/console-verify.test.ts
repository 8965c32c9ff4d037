import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import {
  canonicalJson,
  verifyAuditExport,
  type PublishedKey,
  type VerifyOutcome,
} from '../../console/src/lib/audit-verify.ts'
import { canonicalJson as serverCanonicalJson } from '../../src/modules/audit/audit.format.ts'
import { verifyExport } from '../../src/modules/audit/audit.export.ts'
import { bootstrapProvider, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'

/**
 * The console's in-browser verifier (console/src/lib/audit-verify.ts, WebCrypto only)
 * against exports the real service wrote: a genuine one verifies up to its last
 * checkpoint, as the server's own verifier says; every tampered copy fails, naming the seq.
 */
forEachEngine('console audit verifier, WebCrypto (P5.2, issue 12)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '4', CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  let keys: PublishedKey[]
  let text: string

  before(async () => {
    provider = await bootstrapProvider(t())
    for (let i = 0; i < 9; i++) {
      const r = await t().request({
        method: 'POST',
        url: `/v1/orgs/${provider.orgId}/service-accounts`,
        token: provider.ownerToken,
        body: { name: `sa-${i}`, role: 'viewer' },
      })
      assert.equal(r.status, 201, r.text)
      await t().app.sequencer.flush() // checkpoints along the chain, not only at its end
    }
    keys = (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys as PublishedKey[]
    text = (
      await t().app.inject({
        method: 'GET',
        url: `/v1/orgs/${provider.orgId}/audit/export`,
        headers: { authorization: `Bearer ${provider.ownerToken}` },
      })
    ).body
  })

  const lines = () => text.split('\n').filter((l) => l !== '')
  const records = () => lines().map((l) => JSON.parse(l) as Record<string, unknown>)
  const checkpointSeqs = () =>
    records()
      .filter((r) => r.kind === 'checkpoint')
      .map((r) => (r.checkpoint as { seq: number }).seq)
  const first = (outcome: VerifyOutcome) => outcome.problems[0]

  it('canonicalJson is RFC 8785 JCS as the service writes it', () => {
    for (const value of [
      { b: 1, a: [true, null, 'x'], é: 'é', '\u{1F600}': 1, ab: { z: 0.1, y: 1e21, x: -0, w: 'a"\\\n\u0001' } },
      ...records(),
    ])
      assert.equal(canonicalJson(value), serverCanonicalJson(value))
  })

  it('a genuine export verifies up to its last checkpoint, as the server verifies it', async () => {
    const outcome = await verifyAuditExport(text, keys)
    assert.deepEqual(outcome.problems, [])
    assert.equal(outcome.ok, true)
    const seqs = checkpointSeqs()
    assert.ok(seqs.length >= 2, `checkpoints at ${seqs.join(', ')}`)
    const last = records().findLast((r) => r.kind === 'checkpoint') as { checkpoint: { seq: number; time: string } }
    assert.deepEqual(outcome.verifiedUpTo, { seq: last.checkpoint.seq, time: last.checkpoint.time })
    const server = await verifyExport(text, { pinnedKeys: new Map(keys.map((k) => [k.keyId, k.publicKey])) })
    assert.equal(server.ok, true)
    assert.equal(outcome.lastSeq, server.lastSeq)
    assert.equal(outcome.validCheckpoints, server.checkpoints)
  })

  it('an event with one byte changed fails at its seq (hash_mismatch)', async () => {
    const all = lines()
    const index = all.findIndex((l) => l.includes('"seq":3,'))
    const line = all[index] as string
    // One byte of the event: a letter of its action.
    const at = line.indexOf('"action":"') + '"action":"'.length
    all[index] = `${line.slice(0, at)}${line[at] === 'x' ? 'y' : 'x'}${line.slice(at + 1)}`
    const outcome = await verifyAuditExport(all.join('\n'), keys)
    assert.equal(outcome.ok, false)
    assert.deepEqual({ kind: first(outcome)?.kind, seq: first(outcome)?.seq }, { kind: 'hash_mismatch', seq: 3 })
  })

  it('an event removed fails at its seq (seq_gap)', async () => {
    const outcome = await verifyAuditExport(
      lines()
        .filter((l) => !l.includes('"seq":5,'))
        .join('\n'),
      keys,
    )
    assert.equal(outcome.ok, false)
    assert.deepEqual({ kind: first(outcome)?.kind, seq: first(outcome)?.seq }, { kind: 'seq_gap', seq: 5 })
    assert.match(first(outcome)?.message ?? '', /event 5 is missing/)
  })

  it('a checkpoint signature changed fails (checkpoint_signature), so do a foreign key and no checkpoint', async () => {
    const all = lines()
    const index = all.findIndex((l) => l.startsWith('{"kind":"checkpoint"'))
    const record = JSON.parse(all[index] as string) as { signature: string; checkpoint: { seq: number } }
    const signature = record.signature
    record.signature = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`
    all[index] = JSON.stringify(record)
    const outcome = await verifyAuditExport(all.join('\n'), keys)
    assert.equal(outcome.ok, false)
    assert.deepEqual(
      { kind: first(outcome)?.kind, seq: first(outcome)?.seq },
      { kind: 'checkpoint_signature', seq: record.checkpoint.seq },
    )

    // The key in the file's header is never trusted: only published keys count.
    const foreign = await verifyAuditExport(text, [
      { keyId: keys[0]?.keyId as string, publicKey: Buffer.alloc(32, 7).toString('base64url') },
    ])
    assert.equal(foreign.ok, false)
    assert.deepEqual(new Set(foreign.problems.map((p) => p.kind)), new Set(['checkpoint_signature', 'unsigned']))

    const stripped = await verifyAuditExport(
      lines()
        .filter((l) => !l.startsWith('{"kind":"checkpoint"'))
        .join('\n'),
      keys,
    )
    assert.deepEqual(
      stripped.problems.map((p) => p.kind),
      ['unsigned'],
    )
  })

  it('a checkpoint whose note is altered, and a tail cut below a checkpoint, fail', async () => {
    const all = lines()
    const index = all.findIndex((l) => l.startsWith('{"kind":"checkpoint"'))
    const record = JSON.parse(all[index] as string) as { note: string; checkpoint: { seq: number } }
    record.note = record.note.replace(`\n${record.checkpoint.seq}\n`, `\n${record.checkpoint.seq + 1}\n`)
    all[index] = JSON.stringify(record)
    const noted = await verifyAuditExport(all.join('\n'), keys)
    assert.equal(first(noted)?.kind, 'checkpoint_signature')

    const last = Math.max(...checkpointSeqs())
    const cut = await verifyAuditExport(
      lines()
        .filter((l) => {
          const r = JSON.parse(l) as { kind: string; event?: { seq: number } }
          return r.kind !== 'event' || (r.event?.seq ?? 0) < last
        })
        .join('\n'),
      keys,
    )
    assert.deepEqual(
      cut.problems.map((p) => [p.kind, p.seq]),
      [['truncated', last]],
    )
  })
})
