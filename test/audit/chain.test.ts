import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { chainHash } from '../../src/modules/audit/audit.format.ts'
import { verifyExport } from '../../src/modules/audit/audit.export.ts'
import { toChainedEvent } from '../../src/modules/audit/audit.store.ts'
import { forEachEngine } from '../helpers/db.ts'
import { chainedRows, deleteChained, idAtSeq } from '../helpers/audit-chain.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'

/** P5.2: the per-org chain detects every kind of tampering; P5.1: audit is fail-closed. */
forEachEngine('tamper-evident audit chain (P5.1, P5.2)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1000', CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org

  async function orgWithEvents(name: string): Promise<Org> {
    const org = await createCustomerOrg(t(), provider, name, `owner@${name}.test`)
    for (let i = 0; i < 8; i++) {
      const r = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: `sa-${i}`, role: 'viewer' },
      })
      assert.equal(r.status, 201)
    }
    await t().app.sequencer.flush()
    return org
  }

  const verify = async (org: Org) =>
    (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/audit/verify`, token: org.ownerToken })).body
  const kinds = (result: JsonBody) => new Set((result.problems as { kind: string }[]).map((p) => p.kind))
  const owner = (app: TestApp) => app.db.kysely

  before(async () => {
    provider = await bootstrapProvider(t())
  })

  it('chains events gap-free with a signed checkpoint, and verifies', async () => {
    const org = await orgWithEvents('clean')
    const result = await verify(org)
    assert.equal(result.ok, true, JSON.stringify(result.problems))
    assert.ok(result.events >= 11)
    assert.equal(result.lastCheckpointSeq, result.lastSeq)
    const seqs = await chainedRows(owner(t()), org.orgId).execute()
    assert.deepEqual(
      seqs.map((r) => r.seq),
      seqs.map((_, i) => i + 1),
    )
  })

  it('detects a modified event', async () => {
    const org = await orgWithEvents('modified')
    await sql`UPDATE audit_events SET details = '{"role":"owner"}' WHERE id = ${idAtSeq(org.orgId, 5)}`.execute(
      owner(t()),
    )
    const result = await verify(org)
    assert.equal(result.ok, false)
    assert.ok(kinds(result).has('hash_mismatch'))
    assert.equal(result.problems.find((p: { kind: string }) => p.kind === 'hash_mismatch').seq, 5)
  })

  it('detects a deleted event', async () => {
    const org = await orgWithEvents('deleted')
    await deleteChained(owner(t()), org.orgId, 4, 4)
    const result = await verify(org)
    assert.ok(kinds(result).has('seq_gap'))
    assert.ok(kinds(result).has('prev_hash_mismatch'))
  })

  it('detects an inserted event, even one whose own hash is right', async () => {
    const org = await orgWithEvents('inserted')
    const k = owner(t())
    await sql`UPDATE audit_chain SET seq = seq + 1000 WHERE org_id = ${org.orgId} AND seq >= 5`.execute(k)
    await sql`UPDATE audit_chain SET seq = seq - 999 WHERE org_id = ${org.orgId} AND seq >= 1005`.execute(k)
    const fourth = await chainedRows(k, org.orgId).where('c.seq', '=', 4).executeTakeFirstOrThrow()
    const forged = { ...fourth, event_id: crypto.randomUUID(), action: 'member.add', details: { role: 'owner' } }
    const prev = Buffer.from(fourth.hash)
    const hash = chainHash(prev, toChainedEvent(forged, 5))
    const inserted = await k
      .insertInto('audit_events')
      .values({
        org_id: org.orgId,
        event_id: forged.event_id,
        occurred_at: fourth.occurred_at,
        actor_type: 'user',
        actor_id: fourth.actor_id,
        action: 'member.add',
        target_type: null,
        target_id: null,
        outcome: 'success',
        ip: null,
        user_agent: null,
        request_id: null,
        details: JSON.stringify({ role: 'owner' }),
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    await sql`INSERT INTO audit_chain (org_id, seq, id, prev_hash, hash) VALUES (${org.orgId}, 5, ${inserted.id}, ${prev}, ${hash})`.execute(
      k,
    )
    const result = await verify(org)
    assert.equal(result.ok, false)
    assert.ok(kinds(result).has('prev_hash_mismatch') || kinds(result).has('hash_mismatch'))
    assert.ok(kinds(result).has('checkpoint_mismatch') || kinds(result).has('hash_mismatch'))
  })

  it('detects reordered events', async () => {
    const org = await orgWithEvents('reordered')
    const k = owner(t())
    await sql`UPDATE audit_chain SET seq = 1000000 WHERE org_id = ${org.orgId} AND seq = 3`.execute(k)
    await sql`UPDATE audit_chain SET seq = 3 WHERE org_id = ${org.orgId} AND seq = 4`.execute(k)
    await sql`UPDATE audit_chain SET seq = 4 WHERE org_id = ${org.orgId} AND seq = 1000000`.execute(k)
    const result = await verify(org)
    assert.equal(result.ok, false)
    assert.ok(kinds(result).has('prev_hash_mismatch') || kinds(result).has('hash_mismatch'))
  })

  it('detects a truncated tail against the last signed checkpoint', async () => {
    const org = await orgWithEvents('truncated')
    const { lastSeq } = await verify(org)
    await deleteChained(owner(t()), org.orgId, lastSeq - 1)
    await sql`UPDATE audit_heads SET seq = ${lastSeq - 2} WHERE org_id = ${org.orgId}`.execute(owner(t()))
    const result = await verify(org)
    assert.equal(result.ok, false)
    assert.ok(kinds(result).has('truncated'))
  })

  it('detects a chain rewritten with recomputed hashes (the signature does not follow)', async () => {
    const org = await orgWithEvents('rewritten')
    const k = owner(t())
    await sql`UPDATE audit_events SET details = '{"forged":true}' WHERE id = ${idAtSeq(org.orgId, 2)}`.execute(k)
    const rows = await chainedRows(k, org.orgId).execute()
    let prev: Buffer = Buffer.alloc(32)
    for (const row of rows) {
      const hash = chainHash(prev, toChainedEvent(row, Number(row.seq)))
      await sql`UPDATE audit_chain SET prev_hash = ${prev}, hash = ${hash} WHERE id = ${row.id}`.execute(k)
      prev = hash
    }
    const result = await verify(org)
    assert.equal(result.ok, false)
    assert.ok(kinds(result).has('checkpoint_mismatch'))
  })

  it('detects a forged checkpoint signature', async () => {
    const org = await orgWithEvents('forgedsig')
    await sql`UPDATE audit_checkpoints SET signature = decode(repeat('00', 64), 'hex') WHERE org_id = ${org.orgId}`.execute(
      owner(t()),
    )
    const result = await verify(org)
    assert.ok(kinds(result).has('checkpoint_signature'))
  })

  it('exports JSON Lines that verify offline, and fail on any altered byte', async () => {
    const org = await orgWithEvents('exported')
    const response = await t().app.inject({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/audit/export`,
      headers: { authorization: `Bearer ${org.ownerToken}` },
    })
    assert.equal(response.statusCode, 200)
    assert.match(String(response.headers['content-type']), /application\/x-ndjson/)
    const keys = (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys as {
      keyId: string
      publicKey: string
    }[]
    const pinned = new Map(keys.map((k) => [k.keyId, k.publicKey]))
    const good = await verifyExport(response.body, { pinnedKeys: pinned })
    assert.equal(good.ok, true, JSON.stringify(good.problems))
    assert.ok(good.events > 0)

    const lines = response.body.split('\n')
    const index = lines.findIndex((l) => l.includes('"service_account.create"'))
    const altered = [...lines]
    altered[index] = (lines[index] as string).replace('"sa-', '"sb-')
    assert.equal((await verifyExport(altered.join('\n'), { pinnedKeys: pinned })).ok, false)
    const dropped = lines.filter((_, i) => i !== index).join('\n')
    assert.equal((await verifyExport(dropped, { pinnedKeys: pinned })).ok, false)
  })

  it('fails closed: if the audit event cannot be written, the change is rolled back and the caller gets 503', async () => {
    const org = await orgWithEvents('failclosed')
    const k = owner(t())
    const before = await fingerprint(t())
    await sql`REVOKE INSERT ON audit_events FROM custodian_app`.execute(k)
    try {
      const response = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: 'not-recorded', role: 'viewer' },
      })
      assert.equal(response.status, 503)
      assert.equal(response.body.code, 'AUDIT_UNAVAILABLE')
      assert.equal(await fingerprint(t()), before)
    } finally {
      await sql`GRANT INSERT ON audit_events TO custodian_app`.execute(k)
    }
  })

  it("fails closed as the database's unavailability when the session ends at the event's insert (a failover: SERVICE_UNAVAILABLE, not AUDIT_UNAVAILABLE)", async () => {
    const org = await orgWithEvents('sessionend')
    const k = owner(t())
    const before = await fingerprint(t())
    // The server's answer when an operator or a crash ends the session (admin_shutdown, 57P01),
    // given at the audit event's insert: as test/ops/pg-failover.test.ts met it, by chance.
    await sql`CREATE FUNCTION test_session_ends() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; END $$`.execute(
      k,
    )
    await sql`CREATE TRIGGER test_session_ends BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_session_ends()`.execute(
      k,
    )
    try {
      const response = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: 'not-recorded', role: 'viewer' },
      })
      assert.equal(response.status, 503, response.text)
      assert.equal(response.body.code, 'SERVICE_UNAVAILABLE')
      assert.ok(!response.text.includes('administrator'), 'no driver message leaks')
      assert.equal(await fingerprint(t()), before)
    } finally {
      await sql`DROP TRIGGER test_session_ends ON audit_events`.execute(k)
      await sql`DROP FUNCTION test_session_ends()`.execute(k)
    }
  })

  it('records refused attempts, and keeps secrets out of audit details', async () => {
    const org = await orgWithEvents('refusals')
    await t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'Unknown.Person@example.test', password: 'not the password' },
    })
    await t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/tokens`,
      token: 'cst_api_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    })
    const rows = await owner(t()).selectFrom('audit_events').selectAll().execute()
    const all = JSON.stringify(rows)
    assert.ok(!all.includes('not the password'))
    assert.ok(!all.includes(PASSWORD))
    assert.ok(!/cst_(api|inv|boot|ses)_[0-9a-f]{32}_/.test(all), 'no credential in the audit log')
    assert.ok(!all.toLowerCase().includes('unknown.person@example.test'), 'an unknown email is kept only as an HMAC')
    const login = rows.find((r) => r.action === 'auth.login' && r.outcome === 'denied' && r.org_id === provider.orgId)
    assert.match(String((login?.details as Record<string, unknown>).email), /^hmac-sha256:/)
    assert.ok(rows.some((r) => r.action === 'access.denied' && (r.details as { status?: number }).status === 401))
  })
})
