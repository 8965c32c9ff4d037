import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import { cosignerVerifierKey } from '../../src/modules/audit/tlog-checkpoint.ts'
import { appendEvents } from '../helpers/audit-chain.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  principalWithRole,
  startTestApp,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { snapshotDatabase } from '../helpers/snapshot.ts'

/**
 * P8.1, rollback detection: a database restored to an earlier state than its witnesses saw
 * (here: the operator's witness file) is found at start, before anything is served. The
 * rolled-back org is refused on every route, nothing is written for it, other orgs are
 * served; an operator's acknowledgement (audited in both logs) lets it be served again from
 * the restored head. A forked chain (same size, other root) is found too; a normal restart
 * finds nothing; an erasure made after the backup still holds after the rollback.
 */

/** Chains what was written and delivers every checkpoint to the witnesses (until nothing is due). */
async function settle(t: TestApp): Promise<void> {
  await t.app.sequencer.flush()
  for (let pass = 0; pass < 100; pass++) if ((await t.app.auditWitnesses.deliverDue()) === 0) return
  throw new Error('witness deliveries did not settle')
}

interface OpenApi {
  paths: Record<string, Record<string, unknown>>
}

forEachEngine('rollback detection against the witness file (P8.1)', (engine) => {
  const rootKey = randomBytes(32)
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-rollback-'))
  const env = {
    CUSTODIAN_AUDIT_WITNESS_FILE: path.join(dir, 'witness.notes'),
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'shred-ring.json'),
    CUSTODIAN_SHRED_RING_GRACE_MS: '0',
  }
  const { CUSTODIAN_AUDIT_WITNESS_FILE: _file, ...unwitnessed } = env

  let original: TestDatabase
  let restoredDb: TestDatabase
  let restored: TestApp
  let provider: Org
  let acme: Org
  let globex: Org
  let initech: Org
  let providerViewer: string
  let acmeAdmin: string
  let erasedRecord: string
  let keptRecord: string
  const opened: TestApp[] = []
  const open = async (db: TestDatabase, settings: Record<string, string> = env) => {
    const app = await startTestApp(engine, db, settings, undefined, undefined, undefined, rootKey)
    opened.push(app)
    return app
  }

  before(async () => {
    original = await createTestDatabase(engine)
    const live = await open(original)
    provider = await bootstrapProvider(live)
    acme = await createCustomerOrg(live, provider, 'Acme', 'owner@acme-rollback.test')
    globex = await createCustomerOrg(live, provider, 'Globex', 'owner@globex-rollback.test')
    initech = await createCustomerOrg(live, provider, 'Initech', 'owner@initech-rollback.test')
    providerViewer = (await principalWithRole(live, provider, 'viewer')).token
    acmeAdmin = (await principalWithRole(live, acme, 'admin')).token
    // Globex's owner is a member of Acme too: the account's list of orgs holds both.
    const invite = await live.request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/invitations`,
      token: acme.ownerToken,
      body: { email: 'owner@globex-rollback.test', role: 'viewer' },
    })
    assert.equal(invite.status, 201, invite.text)
    const joined = await live.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(joined.status, 201, joined.text)
    const { subjects } = live.app.services
    const ring = live.app.shredRing
    const erased = 'erase-me@example.test'
    let kept = 'keep-me-0'
    for (
      let i = 1;
      ring.bucketOf(subjects.ref(acme.orgId, kept)) === ring.bucketOf(subjects.ref(acme.orgId, erased));
      i++
    )
      kept = `keep-me-${i}`
    const put = async (subjectId: string, note: string) => {
      const response = await live.request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/records`,
        token: acmeAdmin,
        body: { subjectId, dataClass: 'contact', payload: { note } },
      })
      assert.equal(response.status, 201, response.text)
      return response.body.id as string
    }
    erasedRecord = await put(erased, 'secret-of-the-erased')
    keptRecord = await put(kept, 'still-here')
    await settle(live)

    // The backup: every org as the witnesses saw it so far.
    const restore = await snapshotDatabase(original, dir)

    // After the backup: Acme erases a subject and stores a secret; Initech's log grows.
    const request = await live.request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/privacy-requests`,
      token: acme.ownerToken,
      body: { kind: 'erase', subjectId: erased, verification: { method: 'signed-in-account' } },
    })
    assert.equal(request.status, 201, request.text)
    const completed = await live.request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/privacy-requests/${request.body.id}/complete`,
      token: acme.ownerToken,
      body: {},
    })
    assert.equal(completed.status, 200, completed.text)
    assert.equal((await live.app.services.shredding.pass()).retired, 1)
    const secret = await live.request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/secrets`,
      token: acme.ownerToken,
      body: { name: 'after-the-backup', type: 'generic', value: 'v' },
    })
    assert.equal(secret.status, 201, secret.text)
    await appendEvents(live, initech.orgId, 2, 'test.original')
    await settle(live)
    await live.app.close()

    // The restore, and on it a history of Initech's own of the same length: a fork. Written
    // by a process that reads no witness (detection off), as one restored elsewhere would be.
    restoredDb = await restore()
    const forker = await open(restoredDb, unwitnessed)
    await appendEvents(forker, initech.orgId, 2, 'test.forked')
    await forker.app.close()
    restored = await open(restoredDb)
  })

  after(async () => {
    for (const app of opened) await app.app.close().catch(() => undefined)
    await restoredDb?.close()
    await original?.close()
  })

  const refusedOf = () => restored.app.rollback.status().refused

  it('P8.1: finds at start an org whose chain is shorter than its witnessed checkpoint, and one forked at the same size', () => {
    const status = restored.app.rollback.status()
    assert.equal(status.detection, 'armed')
    assert.deepEqual(status.sources, ['file'])
    const byOrg = new Map(refusedOf().map((r) => [r.orgId, r]))
    const acmeState = byOrg.get(acme.orgId)
    assert.equal(acmeState?.state, 'rolled_back')
    assert.ok(acmeState?.state === 'rolled_back')
    assert.equal(acmeState.kind, 'behind')
    assert.ok(acmeState.witnessedSize > acmeState.localSize, JSON.stringify(acmeState))
    const initechState = byOrg.get(initech.orgId)
    assert.ok(initechState?.state === 'rolled_back', JSON.stringify(initechState))
    assert.equal(initechState.kind, 'forked')
    assert.equal(initechState.witnessedSize, initechState.localSize, 'same size, another root')
    assert.notEqual(initechState.witnessedHash, initechState.localHash)
    assert.equal(byOrg.has(globex.orgId), false, 'nothing happened to Globex after the backup')
    assert.equal(byOrg.has(provider.orgId), false)
  })

  it('P8.1: refuses every route of a rolled-back org (the OpenAPI document’s org routes), with or without credentials, and writes nothing for it', async () => {
    const doc = (await restored.request({ method: 'GET', url: '/openapi.json' })).body as unknown as OpenApi
    const before = await fingerprint(restored)
    const events = (await auditActions(restored, acme.orgId)).length
    let swept = 0
    for (const [template, methods] of Object.entries(doc.paths)) {
      if (!template.includes('{orgId}')) continue
      const url = template.replace('{orgId}', acme.orgId).replace(/\{[^}]+\}/g, () => randomUUID())
      for (const method of Object.keys(methods)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue
        for (const token of [acme.ownerToken, undefined]) {
          const response = await restored.request({
            method: method.toUpperCase(),
            url,
            token,
            ...(method === 'get' || method === 'delete' ? {} : { body: {} }),
          })
          assert.equal(response.status, 503, `${method.toUpperCase()} ${template}: ${response.text}`)
          assert.equal(response.body.code, 'ORG_ROLLED_BACK', `${method.toUpperCase()} ${template}`)
          assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
          swept++
        }
      }
    }
    assert.ok(swept > 200, `only ${swept} requests: the sweep did not find the org routes`)
    // Routes that name no org act in the caller's own: refused too.
    for (const url of ['/v1/me', '/v1/me/orgs', '/v1/me/sessions']) {
      const response = await restored.request({ method: 'GET', url, token: acme.ownerToken })
      assert.equal(response.body.code, 'ORG_ROLLED_BACK', `${url}: ${response.text}`)
    }
    assert.equal(await fingerprint(restored), before, 'nothing changed')
    assert.equal((await auditActions(restored, acme.orgId)).length, events, 'not even a refusal is written')
  })

  it('P8.1: serves the other orgs meanwhile', async () => {
    for (const org of [globex, provider]) {
      const response = await restored.request({
        method: 'GET',
        url: `/v1/orgs/${org.orgId}/secrets`,
        token: org.ownerToken,
      })
      assert.equal(response.status, 200, response.text)
    }
  })

  it('P8.1: an account’s list of orgs (GET /v1/me/orgs) marks a refused org as not served, with its refusal, and the others as served', async () => {
    const login = await restored.app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'owner@globex-rollback.test', password: PASSWORD, orgId: globex.orgId },
    })
    assert.equal(login.statusCode, 200, login.body)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    const listed = await restored.request({
      method: 'GET',
      url: '/v1/me/orgs',
      headers: { cookie: `${cookie?.name}=${cookie?.value}` },
    })
    assert.equal(listed.status, 200, listed.text)
    const orgs = listed.body.orgs as { orgId: string; current: boolean; served: boolean; refusal: string | null }[]
    assert.deepEqual(
      orgs.map((o) => [o.orgId, o.current, o.served, o.refusal]),
      [
        [globex.orgId, true, true, null],
        [acme.orgId, false, false, 'ORG_ROLLED_BACK'],
      ],
    )
  })

  it('P8.1: does not chain a rolled-back org’s events nor send its checkpoints', async () => {
    const head = async () =>
      (
        await restored.db.kysely
          .selectFrom('audit_heads')
          .select(['seq', 'checkpoint_seq'])
          .where('org_id', '=', acme.orgId)
          .executeTakeFirstOrThrow()
      ).seq
    const seq = await head()
    await appendEvents(restored, acme.orgId, 1, 'test.while_refused').catch(() => undefined)
    assert.equal(await head(), seq, 'the chain did not grow')
    await restored.db.kysely.deleteFrom('audit_unchained').where('org_id', '=', acme.orgId).execute()
    await restored.db.kysely
      .deleteFrom('audit_events')
      .where('org_id', '=', acme.orgId)
      .where('action', '=', 'test.while_refused')
      .execute()
  })

  it('P8.1: the operator view lists the refused orgs; acknowledging is refused without credentials (401), without the permission (403), for an unknown org (404), on malformed input (400), when nothing is rolled back (409)', async () => {
    const view = await restored.request({ method: 'GET', url: '/v1/operator/rollback', token: provider.ownerToken })
    assert.equal(view.status, 200, view.text)
    assert.deepEqual(
      (view.body.refused as { orgId: string }[]).map((r) => r.orgId).sort(),
      [acme.orgId, initech.orgId].sort(),
    )
    assert.equal(
      (await restored.request({ method: 'GET', url: '/v1/operator/rollback', token: globex.ownerToken })).status,
      403,
    )
    const ack = (orgId: string) => `/v1/operator/rollback/orgs/${orgId}/acknowledge`
    const body = { reason: 'restored from last night’s backup after the disk failure' }
    const before = await fingerprint(restored)
    const cases: { url: string; token?: string; body?: unknown; payload?: string; status: number; code: string }[] = [
      { url: ack(acme.orgId), body, status: 401, code: 'UNAUTHENTICATED' },
      { url: ack(acme.orgId), token: providerViewer, body, status: 403, code: 'FORBIDDEN' },
      { url: ack(acme.orgId), token: globex.ownerToken, body, status: 403, code: 'FORBIDDEN' },
      { url: ack(randomUUID()), token: provider.ownerToken, body, status: 404, code: 'NOT_FOUND' },
      { url: ack('not-an-org'), token: provider.ownerToken, body, status: 400, code: 'VALIDATION_FAILED' },
      { url: ack(acme.orgId), token: provider.ownerToken, body: {}, status: 400, code: 'VALIDATION_FAILED' },
      {
        url: ack(acme.orgId),
        token: provider.ownerToken,
        body: { ...body, extra: 1 },
        status: 400,
        code: 'VALIDATION_FAILED',
      },
      {
        url: ack(acme.orgId),
        token: provider.ownerToken,
        body: { reason: 'x'.repeat(1001) },
        status: 400,
        code: 'VALIDATION_FAILED',
      },
      {
        url: ack(acme.orgId),
        token: provider.ownerToken,
        payload: JSON.stringify({ reason: 'x'.repeat(2_000_000) }),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      { url: ack(globex.orgId), token: provider.ownerToken, body, status: 409, code: 'CONFLICT' },
    ]
    for (const c of cases) {
      const response = await restored.request({
        method: 'POST',
        url: c.url,
        token: c.token,
        ...(c.payload === undefined ? { body: c.body } : { payload: c.payload }),
      })
      assert.equal(response.status, c.status, `${c.url} ${c.status}: ${response.text}`)
      assert.equal(response.body.code, c.code, response.text)
    }
    assert.equal(await fingerprint(restored), before, 'nothing changed')
    assert.equal(restored.app.rollback.refusal(acme.orgId), 'ORG_ROLLED_BACK')
  })

  it('P8.1: an acknowledged rollback is audited in the provider org and in the org’s own log, and the org is served again from its restored head', async () => {
    const response = await restored.request({
      method: 'POST',
      url: `/v1/operator/rollback/orgs/${acme.orgId}/acknowledge`,
      token: provider.ownerToken,
      body: { reason: 'restored from last night’s backup after the disk failure' },
    })
    assert.equal(response.status, 200, response.text)
    assert.equal(response.body.orgId, acme.orgId)
    assert.deepEqual(
      (response.body.acknowledged as { source: string }[]).map((c) => c.source),
      ['file'],
    )
    for (const orgId of [provider.orgId, acme.orgId]) {
      const event = (await auditActions(restored, orgId)).find((e) => e.action === 'audit.rollback.acknowledge')
      assert.ok(event !== undefined, `audited in ${orgId}`)
      assert.equal(event.details.orgId, acme.orgId)
      assert.equal(event.details.localSize, response.body.localSize)
      assert.equal((event.details.witnessed as { witness: string; kind: string }[])[0]?.kind, 'behind')
    }
    const served = await restored.request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/secrets`,
      token: acme.ownerToken,
    })
    assert.equal(served.status, 200, served.text)
    const names = (served.body.secrets as { name: string }[]).map((s) => s.name)
    assert.equal(names.includes('after-the-backup'), false, 'the org is served as restored')
    // Initech, not acknowledged, stays refused.
    assert.equal(restored.app.rollback.refusal(initech.orgId), 'ORG_ROLLED_BACK')

    // The chain goes on from the restored head: chained, checkpointed, witnessed — and checked again, consistent.
    await settle(restored)
    const verified = await restored.request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/audit/verify`,
      token: acme.ownerToken,
    })
    assert.equal(verified.status, 200, verified.text)
    assert.equal(verified.body.ok, true, verified.text)
    await restored.app.rollback.checkAll()
    assert.equal(restored.app.rollback.refusal(acme.orgId), undefined)
  })

  it('P8.1: an erasure made after the backup still holds after the rollback: the erased subject’s data does not open, another subject’s does', async () => {
    const refused = await restored.request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/records/${erasedRecord}`,
      token: acmeAdmin,
    })
    assert.equal(refused.status, 410, refused.text)
    assert.equal(refused.body.code, 'SUBJECT_DATA_UNAVAILABLE')
    assert.doesNotMatch(refused.text, /secret-of-the-erased/)
    const control = await restored.request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/records/${keptRecord}`,
      token: acmeAdmin,
    })
    assert.equal(control.status, 200, control.text)
    assert.equal(control.body.payload.note, 'still-here')
  })

  it('P8.1: the CLI-equivalent acknowledgement of a fork serves that org again too, and a normal restart finds nothing', async () => {
    const done = await restored.app.rollback.acknowledge({
      orgId: initech.orgId,
      reason: 'the restored history is the one we keep',
      actor: { type: 'system', id: 'cli' },
      meta: { requestId: null, ip: null, userAgent: 'custodian-cli' },
    })
    assert.equal(done.acknowledged.length, 1)
    assert.equal(restored.app.rollback.refusal(initech.orgId), undefined)
    await settle(restored)
    await restored.app.close()
    const again = await open(restoredDb)
    assert.deepEqual(again.app.rollback.status().refused, [], 'nothing refused after a normal restart')
    for (const org of [acme, globex, initech, provider]) {
      const response = await again.request({
        method: 'GET',
        url: `/v1/orgs/${org.orgId}/secrets`,
        token: org.ownerToken,
      })
      assert.equal(response.status, 200, response.text)
    }
    restored = again
  })
})

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

forEachEngine('rollback detection when no witness answers (P8.1)', (engine) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-rollback-down-'))
  const witnessKey = ed25519FromSeed(randomBytes(32))
  const env: Record<string, string> = {}
  const unreadable = path.join(dir, 'witness.notes')
  before(async () => {
    // A C2SP witness that cannot be reached, and a witness file that cannot be read (a directory).
    const vkey = cosignerVerifierKey('witness.test/down', Buffer.from(witnessKey.publicKey, 'base64url'))
    env.CUSTODIAN_AUDIT_TLOG_WITNESSES = `https://127.0.0.1:${await closedPort()} ${vkey}`
    env.CUSTODIAN_AUDIT_WITNESS_FILE = unreadable
    mkdirSync(unreadable)
  })
  const t = useTestApp(engine, env)
  let provider: Org

  it('P8.1: fails closed: an org no witness answered for is refused (503 ORG_ROLLBACK_UNCHECKED) and served once one answers', async () => {
    provider = await bootstrapProvider(t())
    await t().app.rollback.checkAll()
    const status = t().app.rollback.status()
    assert.equal(status.detection, 'armed')
    const state = status.refused.find((r) => r.orgId === provider.orgId)
    assert.ok(state?.state === 'unchecked', JSON.stringify(status))
    assert.ok(
      state.problems.some((p) => p.startsWith('witness witness.test/down: unreachable')),
      state.problems.join('\n'),
    )
    assert.ok(
      state.problems.some((p) => p.startsWith('file: ')),
      state.problems.join('\n'),
    )
    const refused = await t().request({ method: 'GET', url: '/v1/me', token: provider.ownerToken })
    assert.equal(refused.status, 503, refused.text)
    assert.equal(refused.body.code, 'ORG_ROLLBACK_UNCHECKED')
    // The provider org's public pages are the provider org's: refused with it.
    const pages = ['/trust', '/.well-known/security.txt', '/report', '/report/status']
    for (const url of pages) {
      const page = await t().request({ method: 'GET', url })
      assert.equal(page.status, 503, `${url}: ${page.text}`)
    }
    // The file becomes readable (it holds nothing yet): an answer, so the org is checked and served.
    rmSync(unreadable, { recursive: true })
    await t().app.rollback.checkAll()
    assert.equal(t().app.rollback.refusal(provider.orgId), undefined)
    const served = await t().request({ method: 'GET', url: '/v1/me', token: provider.ownerToken })
    assert.equal(served.status, 200, served.text)
    for (const url of pages) assert.notEqual((await t().request({ method: 'GET', url })).status, 503, url)
  })
})

forEachEngine('rollback detection not armed (P8.1)', (engine) => {
  const t = useTestApp(engine)
  it('P8.1: with no readable witness, detection says it is not armed and every org is served', async () => {
    const provider = await bootstrapProvider(t())
    assert.equal(await t().app.rollback.checkAll(), 0)
    const view = await t().request({ method: 'GET', url: '/v1/operator/rollback', token: provider.ownerToken })
    assert.equal(view.status, 200, view.text)
    assert.equal(view.body.detection, 'not_armed')
    assert.deepEqual(view.body.refused, [])
    const ack = await t().request({
      method: 'POST',
      url: `/v1/operator/rollback/orgs/${provider.orgId}/acknowledge`,
      token: provider.ownerToken,
      body: { reason: 'nothing to acknowledge' },
    })
    assert.equal(ack.status, 409, ack.text)
  })
})

forEachEngine('rollback detection: an org the restore lost entirely, and a witness file gone (P8.1)', (engine) => {
  const rootKey = randomBytes(32)
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-rollback-lost-'))
  const witnessFile = path.join(dir, 'witness.notes')
  const env = {
    CUSTODIAN_AUDIT_WITNESS_FILE: witnessFile,
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'shred-ring.json'),
  }
  const databases: TestDatabase[] = []
  const apps: TestApp[] = []
  const open = async (settings: Record<string, string> = env) => {
    const db = await createTestDatabase(engine)
    databases.push(db)
    const app = await startTestApp(engine, db, settings, undefined, undefined, undefined, rootKey)
    apps.push(app)
    return app
  }
  after(async () => {
    for (const app of apps) await app.app.close().catch(() => undefined)
    for (const db of databases) await db.close()
  })

  it('P8.1: a witnessed org the database does not have is reported missing (the check fails, requests naming it answer 503) until an operator acknowledges it, audited', async () => {
    // The deployment as the witness saw it: its provider and a customer org, checkpointed.
    const first = await open()
    const lostProvider = await bootstrapProvider(first)
    const lost = await createCustomerOrg(first, lostProvider, 'Hooli', 'owner@hooli-rollback.test')
    await settle(first)
    await first.app.close()

    // A database that never had them (a restore of an older or wrong backup), same keys, same file.
    const metricsToken = randomBytes(24).toString('hex')
    const tokenFile = path.join(dir, 'metrics.token')
    writeFileSync(tokenFile, metricsToken, { mode: 0o600 })
    const restored = await open({ ...env, CUSTODIAN_METRICS_TOKEN_FILE: tokenFile })
    const provider = await bootstrapProvider(restored)
    assert.equal(await restored.app.rollback.checkAll(), 2, 'the lost provider org and Hooli')
    const metrics = await restored.request({ method: 'GET', url: '/metrics', token: metricsToken })
    assert.equal(metrics.status, 200, metrics.text)
    assert.match(metrics.text, /^custodian_rollback_detection_armed 1$/m)
    assert.match(metrics.text, /^custodian_rollback_refused_orgs\{state="missing"\} 2$/m)
    assert.match(metrics.text, /^custodian_rollback_refused_orgs\{state="rolled_back"\} 0$/m)
    const byOrg = new Map(restored.app.rollback.status().refused.map((r) => [r.orgId, r]))
    const hooli = byOrg.get(lost.orgId)
    assert.ok(hooli?.state === 'missing', JSON.stringify(hooli))
    assert.equal(hooli.source, 'file')
    assert.ok(hooli.witnessedSize > 0)
    assert.equal(byOrg.get(lostProvider.orgId)?.state, 'missing')
    assert.equal(byOrg.has(provider.orgId), false, 'the new provider org is served')

    const named = await restored.request({
      method: 'GET',
      url: `/v1/orgs/${lost.orgId}/secrets`,
      token: lost.ownerToken,
    })
    assert.equal(named.status, 503, named.text)
    assert.equal(named.body.code, 'ORG_ROLLED_BACK')
    assert.match(named.body.detail as string, /custodian audit acknowledge-rollback/)

    const view = await restored.request({ method: 'GET', url: '/v1/operator/rollback', token: provider.ownerToken })
    assert.equal(view.status, 200, view.text)
    assert.ok(
      (view.body.refused as { orgId: string; state: string }[]).some(
        (r) => r.orgId === lost.orgId && r.state === 'missing',
      ),
    )

    const ack = await restored.request({
      method: 'POST',
      url: `/v1/operator/rollback/orgs/${lost.orgId}/acknowledge`,
      token: provider.ownerToken,
      body: { reason: 'Hooli left before this backup was taken; its log is kept elsewhere' },
    })
    assert.equal(ack.status, 200, ack.text)
    assert.equal(ack.body.localSize, 0)
    await restored.app.sequencer.flush()
    assert.ok((await auditActions(restored, provider.orgId)).some((e) => e.action === 'audit.rollback.acknowledge'))
    assert.equal(restored.app.rollback.refusal(lost.orgId), undefined)
    assert.equal(
      await restored.app.rollback.checkAll(),
      1,
      'only the lost provider org, not acknowledged, is still reported',
    )
  })

  it('P8.1: a witness file read before and gone, or in a directory that does not exist, fails closed (ORG_ROLLBACK_UNCHECKED) instead of holding nothing', async () => {
    const own = { ...env, CUSTODIAN_AUDIT_WITNESS_FILE: path.join(dir, 'gone.notes') }
    const app = await open(own)
    const provider = await bootstrapProvider(app)
    await settle(app)
    assert.equal(await app.app.rollback.checkAll(), 0)
    rmSync(own.CUSTODIAN_AUDIT_WITNESS_FILE)
    assert.equal(await app.app.rollback.checkAll(), 1)
    assert.equal(app.app.rollback.refusal(provider.orgId), 'ORG_ROLLBACK_UNCHECKED')
    const problemsOf = (t: TestApp) =>
      t.app.rollback
        .status()
        .refused.flatMap((r) => (r.state === 'unchecked' ? r.problems : []))
        .join(' ')
    assert.match(problemsOf(app), /was read before and is gone/)

    const typo = await open({ ...env, CUSTODIAN_AUDIT_WITNESS_FILE: path.join(dir, 'no-such-volume', 'witness.notes') })
    const other = await bootstrapProvider(typo)
    assert.equal(await typo.app.rollback.checkAll(), 1)
    assert.equal(typo.app.rollback.refusal(other.orgId), 'ORG_ROLLBACK_UNCHECKED')
    assert.match(problemsOf(typo), /does not exist/)
  })
})
