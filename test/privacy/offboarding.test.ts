import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { verifyJws } from '../../src/crypto/jws.ts'
import { ed25519KeyId } from '../../src/crypto/keys.ts'
import { checkCertificateReceipt } from '../../src/modules/privacy/certificate-receipt.ts'
import { runToExit } from '../helpers/process.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

const HOUR = 3_600_000

/** Org offboarding (P7.4): everything of the org erased after a cancellable grace period, with a certificate. */
forEachEngine('org offboarding (P7.4)', (engine) => {
  const time = testClock()
  const t = useTestApp(
    engine,
    // A checkpoint at every sequencer pass: the receipt of the completion is there at once.
    { CUSTODIAN_SHRED_RING_GRACE_MS: '0', CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1' },
    undefined,
    undefined,
    { clock: time.clock },
  )
  let provider: Org
  let leaving: Org
  let staying: Org
  let admin: { userId: string; apiToken: string }
  let shared: { userId: string; apiToken: string }
  const url = (p = '') => `/v1/orgs/${leaving.orgId}/offboarding${p}`
  const ask = (body: Record<string, unknown>, token = leaving.ownerToken) =>
    t().request({ method: 'POST', url: url(), token, body })
  const join = async (org: Org, email: string, role: string) => {
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      body: { email, role },
    })
    return (
      await t().request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: invite.body.token, password: PASSWORD },
      })
    ).body as { userId: string; apiToken: string }
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    leaving = await createCustomerOrg(t(), provider, 'Leaving Ltd', 'owner@leaving.test')
    staying = await createCustomerOrg(t(), provider, 'Staying Ltd', 'owner@staying.test')
    admin = await join(leaving, 'admin@leaving.test', 'admin')
    shared = await join(leaving, 'consultant@both.test', 'viewer')
    await join(staying, 'consultant@both.test', 'viewer')
    const app = await principalWithRole(t(), leaving, 'admin')
    await t().request({
      method: 'POST',
      url: `/v1/orgs/${leaving.orgId}/secrets`,
      token: leaving.ownerToken,
      body: { name: 'db', type: 'api_key', value: 'leaving-secret' },
    })
    for (const subject of ['a', 'b', 'c'])
      await t().request({
        method: 'POST',
        url: `/v1/orgs/${leaving.orgId}/records`,
        token: app.token,
        body: { subjectId: subject, dataClass: 'contact', payload: { subject } },
      })
    await t().request({
      method: 'POST',
      url: `/v1/orgs/${staying.orgId}/secrets`,
      token: staying.ownerToken,
      body: { name: 'db', type: 'api_key', value: 'staying-secret' },
    })
  })

  it('is for owners only, confirmed by the org’s exact name; the provider org cannot leave', async () => {
    const before = await fingerprint(t())
    assert.equal((await ask({ confirmName: 'Leaving Ltd' }, admin.apiToken)).status, 403)
    const wrong = await ask({ confirmName: 'leaving ltd' })
    assert.equal(wrong.status, 400)
    assert.equal(wrong.body.errors[0].path, '/body/confirmName')
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: `/v1/orgs/${provider.orgId}/offboarding`,
          token: provider.ownerToken,
          body: { confirmName: 'Provider' },
        })
      ).status,
      403,
    )
    assert.equal(await fingerprint(t()), before)
  })

  it('waits out a grace period of 24 hours, and can be cancelled in it', async () => {
    const asked = await ask({ confirmName: 'Leaving Ltd' })
    assert.equal(asked.status, 201, asked.text)
    assert.equal(new Date(asked.body.scheduledFor).getTime() - new Date(asked.body.requestedAt).getTime(), 24 * HOUR)
    assert.equal((await ask({ confirmName: 'Leaving Ltd' })).status, 409)
    const cancelled = await t().request({ method: 'DELETE', url: url(), token: leaving.ownerToken })
    assert.equal(cancelled.body.status, 'cancelled')
    time.advance(25 * HOUR)
    assert.equal(await t().app.services.offboarding.runDue(), 0)
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${leaving.orgId}`, token: leaving.ownerToken })).status,
      200,
    )
    const providerLog = (await auditActions(t(), provider.orgId)).map((e) => e.action)
    assert.ok(providerLog.includes('org.offboarding.request') && providerLog.includes('org.offboarding.cancel'))
  })

  it('schedules once when first requests race: one 201, the others 409, one audit event', async () => {
    const racing = await createCustomerOrg(t(), provider, 'Racing Ltd', 'owner@racing.test')
    const race = () =>
      t().request({
        method: 'POST',
        url: `/v1/orgs/${racing.orgId}/offboarding`,
        token: racing.ownerToken,
        body: { confirmName: 'Racing Ltd' },
      })
    // On PostgreSQL, the three are held at the offboarding table until all have started, so
    // they overlap for real (PGlite has one connection: their transactions take turns).
    const answers =
      engine === 'postgres'
        ? await t()
            .db.kysely.transaction()
            .execute(async (trx) => {
              await sql`LOCK TABLE org_offboardings IN ACCESS EXCLUSIVE MODE`.execute(trx)
              const racing = [race(), race(), race()]
              await new Promise((resolve) => setTimeout(resolve, 500))
              return racing
            })
        : [race(), race(), race()]
    const settled = await Promise.all(answers)
    assert.deepEqual(settled.map((a) => a.status).sort(), [201, 409, 409], settled.map((a) => a.text).join('\n'))
    const requested = (await auditActions(t(), racing.orgId)).filter((e) => e.action === 'org.offboarding.request')
    assert.equal(requested.length, 1)
    const cancelled = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${racing.orgId}/offboarding`,
      token: racing.ownerToken,
    })
    assert.equal(cancelled.body.status, 'cancelled')
  })

  it('erases every row of the org, its keys and its own accounts after the grace period, and certifies it', async () => {
    await ask({ confirmName: 'Leaving Ltd' })
    time.advance(24 * HOUR - 60_000)
    assert.equal(await t().app.services.offboarding.runDue(), 0, 'not before the grace period ends')
    time.advance(2 * 60_000)
    assert.equal(await t().app.services.offboarding.runDue(), 1)

    const tables = await sql<{
      table_name: string
    }>`SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'org_id' AND table_name <> 'org_offboardings'`.execute(
      t().db.kysely,
    )
    for (const { table_name: table } of tables.rows) {
      const left = await sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE org_id = ${leaving.orgId}`.execute(t().db.kysely)
      assert.equal(left.rows[0]?.n, 0, `${table} still holds rows of the org`)
    }
    assert.equal(
      (await t().db.kysely.selectFrom('orgs').select('id').where('id', '=', leaving.orgId).execute()).length,
      0,
    )
    const accounts = await t()
      .db.kysely.selectFrom('users')
      .select('email')
      .where('email', 'in', ['owner@leaving.test', 'admin@leaving.test', 'consultant@both.test'])
      .execute()
    assert.deepEqual(
      accounts.map((a) => a.email),
      ['consultant@both.test'],
      'an account that belongs to another org stays',
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${leaving.orgId}`, token: leaving.ownerToken })).status,
      401,
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${staying.orgId}`, token: shared.apiToken })).status,
      401,
      'its token was of the deleted org',
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${staying.orgId}/secrets`, token: staying.ownerToken })).body
        .secrets.length,
      1,
      'another org is untouched',
    )

    const listed = await t().request({ method: 'GET', url: '/v1/operator/offboardings', token: provider.ownerToken })
    const done = listed.body.offboardings.find((o: { orgId: string }) => o.orgId === leaving.orgId)
    assert.equal(done.status, 'completed')
    const keys = new Map<string, string>(
      (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys.map(
        (k: { keyId: string; publicKey: string }) => [k.keyId, k.publicKey],
      ),
    )
    const { payload, header } = await verifyJws(done.certificate, keys)
    assert.equal(header.typ, 'custodian-offboarding-certificate+jws')
    const erased = payload.erased as { rows: Record<string, number>; subjectKeys: number; orgKeyVersions: number }
    assert.equal(erased.rows.data_records, 3)
    assert.equal(erased.rows.secrets, 1)
    assert.equal(erased.subjectKeys, 3)
    assert.ok(erased.orgKeyVersions >= 1)
    assert.ok(
      (await auditActions(t(), provider.orgId)).some((e) => e.action === 'org.offboarding.complete'),
      'the provider keeps the audit of the deletion',
    )

    const shred = await t().app.services.shredding.pass()
    assert.ok(shred.retired >= 1, 'the org’s subject keys’ ring epochs are retired')
    await t().app.sequencer.flush()
    const verified = await t().request({
      method: 'GET',
      url: `/v1/orgs/${provider.orgId}/audit/verify`,
      token: provider.ownerToken,
    })
    assert.equal(verified.body.ok, true)
  })
  it('P7.4 hands the operator the certificate with the receipt of the completion in the provider’s log, which verifies offline (issue 21)', async () => {
    const get = (orgId: string, token = provider.ownerToken) =>
      t().request({ method: 'GET', url: `/v1/operator/offboardings/${orgId}`, token })
    assert.equal((await get(staying.orgId)).status, 404, 'an org never offboarded')
    assert.equal((await get(leaving.orgId, staying.ownerToken)).status, 403, 'operators only')
    await t().app.sequencer.flush()
    const done = await get(leaving.orgId)
    assert.equal(done.status, 200, done.text)
    assert.equal(done.body.status, 'completed')
    assert.equal(done.body.auditEvent.org, provider.orgId, 'in the provider’s log: the org’s own is deleted')
    assert.ok(done.body.receipt !== null, 'a signed checkpoint covers the completion')
    assert.equal(done.body.receipt.event.id, done.body.auditEvent.id)
    assert.equal(done.body.receipt.event.action, 'org.offboarding.complete')

    const keys = (await t().request({ method: 'GET', url: `/v1/audit/keys?org=${provider.orgId}` })).body.keys as {
      publicKey: string
      verifierKey: string
    }[]
    const { publicKey, verifierKey } = keys[0] as { publicKey: string; verifierKey: string }
    const { payload } = await verifyJws(
      done.body.certificate,
      new Map(keys.map((k) => [ed25519KeyId(Buffer.from(k.publicKey, 'base64url')), k.publicKey])),
    )
    assert.deepEqual(payload.auditEvent, done.body.auditEvent, 'the certificate names its event')
    assert.equal(checkCertificateReceipt(payload, done.body.receipt, verifierKey).ok, true)

    // Offline, with the CLI: the operator's answer saved as it came.
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-offboarding-'))
    const file = path.join(dir, 'offboarding.json')
    writeFileSync(file, JSON.stringify(done.body))
    const cli = (extra: string[], at = file) =>
      runToExit(['bin/custodian.js', 'verify-certificate', '--file', at, '--public-key', publicKey, ...extra], {})
    const ok = await cli(['--log-key', verifierKey])
    assert.equal(ok.code, 0, ok.output)
    assert.match(ok.output, /OK {3}offboarding certificate .* its issuance is event seq \d+ of the log of org /)
    // The receipt of another event of the same log proves nothing about this certificate.
    const other = (
      await t().request({
        method: 'GET',
        url: `/v1/orgs/${provider.orgId}/audit/events?limit=1&action=org.offboarding.request`,
        token: provider.ownerToken,
      })
    ).body.events[0] as { id: string }
    const otherReceipt = await t().request({
      method: 'GET',
      url: `/v1/orgs/${provider.orgId}/audit/events/${other.id}/receipt`,
      token: provider.ownerToken,
    })
    assert.equal(otherReceipt.status, 200, otherReceipt.text)
    const swapped = path.join(dir, 'swapped.json')
    writeFileSync(swapped, JSON.stringify({ ...done.body, receipt: otherReceipt.body }))
    const refused = await cli(['--log-key', verifierKey], swapped)
    assert.equal(refused.code, 1, refused.output)
    assert.match(refused.output, /the certificate names/)
    // Another log's key (the staying org's) does not open the checkpoint.
    const stayingKey = (await t().request({ method: 'GET', url: `/v1/audit/keys?org=${staying.orgId}` })).body.keys[0]
      .verifierKey as string
    assert.equal((await cli(['--log-key', stayingKey])).code, 1)
    // Without --log-key the signature alone is checked, and the output says the receipt was not.
    const unchecked = await cli([])
    assert.equal(unchecked.code, 0, unchecked.output)
    assert.match(unchecked.output, /receipt in the file was not checked/)
  })
})
