import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CompactSign } from 'jose'
import { sql } from 'kysely'
import { ed25519KeyId } from '../../src/crypto/keys.ts'
import { verifyConsentReceipt } from '../../src/modules/consent/consent.receipts.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  PASSWORD,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { runToExit } from '../helpers/process.ts'

/**
 * Attacks on compliance (issue 15): the live checks' results, history and runs, the signed
 * report and living policy, the operators' overview, the public trust page, and the offline
 * verifiers that share the service's signing key. Findings fixed here: requests sent together
 * each started an evaluation (the one-a-minute limit read the last run, written only when a
 * run ends); `custodian verify-certificate` took any JWS the key signed (a compliance
 * document's signature printed "OK … certificate"); the scheduler evaluated five orgs a tick
 * (a ceiling of 300 an hour, past which every org fell behind P5.4). The rest guard what held.
 */
forEachEngine('attack: compliance data, documents and runs (P5.4, P10.1, P10.2)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_TRUST_PAGE: 'on' })
  let provider: Org
  let acme: Org
  let beta: Org
  const email = `owner@${engine}.acme-attack.test`
  const get = (org: Org, tail: string, token = org.ownerToken, headers: Record<string, string> = {}) =>
    t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/${tail}`, token, headers })
  const post = (org: Org, token = org.ownerToken) =>
    t().request({ method: 'POST', url: `/v1/orgs/${org.orgId}/compliance/runs`, token })

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', email)
    beta = await createCustomerOrg(t(), provider, 'Beta', `owner@${engine}.beta-attack.test`)
    assert.equal((await post(provider)).status, 200)
  })

  it('attack: requests sent together start one evaluation on demand; the others get 429 with Retry-After (P5.4)', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(acme)))
    assert.deepEqual(
      answers.map((a) => a.status).sort(),
      [200, 429, 429, 429, 429, 429],
      answers.map((a) => a.text).join('\n'),
    )
    for (const refused of answers.filter((a) => a.status === 429)) {
      assert.equal(refused.body.code, 'RATE_LIMITED')
      assert.ok(Number(refused.headers['retry-after']) >= 1, 'told when to come back')
    }
    const runs = await get(acme, 'compliance/runs')
    assert.equal(runs.body.runs.length, 1, 'one evaluation recorded')
  })

  it('attack: another org’s results, history, runs, report and policy are out of reach by id, cursor and check filter (P10.2)', async () => {
    for (const tail of [
      'compliance',
      'compliance/runs',
      'compliance/history',
      'compliance/history?check=p3.2/data-access-needs-2fa',
      'compliance/report?format=html',
      'compliance/policy?format=json',
    ])
      assert.equal((await get(acme, tail, beta.ownerToken)).status, 404, tail)
    assert.equal((await post(acme, beta.ownerToken)).status, 404, 'nor evaluated by a stranger')
    // Acme's own cursor and check filter, replayed on Beta's pages, read Beta's rows only.
    const page = await get(acme, 'compliance/history?limit=1')
    assert.equal(page.status, 200)
    const cursor = page.body.nextCursor as string
    assert.equal(typeof cursor, 'string')
    for (const tail of [
      `compliance/history?cursor=${encodeURIComponent(cursor)}`,
      'compliance/history?check=p3.2/data-access-needs-2fa',
      `compliance/runs?cursor=${encodeURIComponent(cursor)}`,
    ]) {
      const other = await get(beta, tail)
      assert.ok(other.status === 200 || other.status === 400, `${tail}: ${other.text}`)
      assert.deepEqual(other.body.history ?? other.body.runs ?? [], [], `${tail}: nothing of Acme`)
    }
  })

  it('attack: a member without compliance:read, an auditor evaluating, and an operator under a diagnostic grant are refused (P10.2, P2.8)', async () => {
    const member = await principalWithRole(t(), acme, 'member')
    for (const tail of ['compliance', 'compliance/history', 'compliance/report?format=pdf', 'compliance/policy'])
      assert.equal((await get(acme, tail, member.token)).status, 403, tail)
    const auditor = await principalWithRole(t(), acme, 'auditor')
    assert.equal((await get(acme, 'compliance', auditor.token)).status, 200)
    assert.equal((await post(acme, auditor.token)).status, 403, 'reading is not evaluating')

    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: acme.orgId, reason: 'ticket 15: compliance', permissions: ['org:read', 'audit:read'] },
    })
    assert.equal(asked.status, 201, asked.text)
    const grant = asked.body.id as string
    const approved = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/grants/${grant}/approve`,
      token: acme.ownerToken,
      body: {},
    })
    assert.equal(approved.status, 200, approved.text)
    const under = { 'x-custodian-grant': grant }
    const org = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}`,
      token: provider.ownerToken,
      headers: under,
    })
    assert.equal(org.status, 200, `the grant works: ${org.text}`)
    for (const tail of ['compliance', 'compliance/history', 'compliance/report', 'compliance/policy?format=html']) {
      const refused = await get(acme, tail, provider.ownerToken, under)
      assert.equal(refused.status, 403, `${tail}: ${refused.text}`)
    }
    assert.equal((await post(acme, provider.ownerToken)).status, 404, 'no standing access without the grant')
  })

  it('attack: a customer sees the service’s checks but never the provider org’s own, nor the operators’ overview (P10.2)', async () => {
    // Beta was never evaluated: whatever org-scope result it saw would be another org's.
    const standing = await get(beta, 'compliance')
    assert.equal(standing.status, 200)
    const checks = (standing.body.promises as { checks: { scope: string; check: string }[] }[]).flatMap((p) => p.checks)
    assert.ok(checks.length > 0, 'the service’s checks are shown')
    assert.deepEqual(
      checks.filter((c) => c.scope !== 'service').map((c) => c.check),
      [],
    )
    assert.ok(!standing.text.includes(provider.orgId) && !standing.text.includes(acme.orgId))
    assert.equal((await get(beta, 'compliance/history')).body.history.length, 0)
    const overview = await t().request({ method: 'GET', url: '/v1/operator/compliance', token: acme.ownerToken })
    assert.equal(overview.status, 403, overview.text)
    assert.ok(!overview.text.includes('Beta'))
  })

  it('attack: markup in org names is text in the report, the policy and the public trust page; no email, token or password in any of them (P10.1, P5.4)', async () => {
    const markup = '<img src=x onerror=alert(1)><script>alert(2)</script>'
    for (const org of [provider, acme]) {
      const renamed = await t().request({
        method: 'PATCH',
        url: `/v1/orgs/${org.orgId}`,
        token: org.ownerToken,
        body: { name: `${markup} ${org === provider ? 'Provider' : 'Acme'}` },
      })
      assert.equal(renamed.status, 200, renamed.text)
    }
    const trust = await t().request({ method: 'GET', url: '/trust' })
    assert.equal(trust.status, 200, trust.text)
    const documents = [
      trust.text,
      (await get(acme, 'compliance/report?format=html')).text,
      (await get(acme, 'compliance/policy?format=html')).text,
      (await get(acme, 'compliance/report?format=json')).text,
      (await get(acme, 'compliance/history')).text,
      (await get(acme, 'compliance')).text,
    ]
    for (const [i, text] of documents.entries()) {
      if (i < 3) {
        assert.ok(!/<script|<img/i.test(text), `document ${i}: no markup from a name`)
        assert.ok(text.includes('&lt;img src=x onerror=alert(1)&gt;'), `document ${i}: the name, escaped`)
      }
      for (const value of [email, 'owner@provider.test', acme.ownerToken, provider.ownerToken, PASSWORD])
        assert.ok(!text.includes(value), `document ${i}: no personal or secret value`)
    }
    const pdf = await get(acme, 'compliance/report?format=pdf')
    assert.equal(pdf.status, 200, 'the PDF renders a name with markup')
    assert.equal(pdf.raw.subarray(0, 5).toString('latin1'), '%PDF-')
  })

  it('attack: `custodian verify-certificate` refuses a compliance document’s signature as a certificate (P7.2, P5.4)', async () => {
    const report = await get(acme, 'compliance/report?format=json')
    const publicKey = (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys[0].publicKey as string
    const dir = mkdtempSync(path.join(tmpdir(), 'compliance-attack-'))
    try {
      const file = path.join(dir, 'signature.jws')
      writeFileSync(file, String(report.headers['custodian-signature']))
      const confused = await runToExit(
        ['bin/custodian.js', 'verify-certificate', '--file', file, '--public-key', publicKey],
        {},
      )
      assert.equal(confused.code, 1, confused.output)
      assert.match(confused.output, /^FAIL the signature is valid but is not a certificate/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('attack: the schedule evaluates every org that is due within one tick, not five a tick (P5.4)', async () => {
    await t()
      .db.kysely.insertInto('orgs')
      .values(Array.from({ length: 7 }, (_, i) => ({ id: randomUUID(), kind: 'customer' as const, name: `Org ${i}` })))
      .execute()
    await sql`UPDATE compliance_schedule SET next_run_at = now() - interval '1 second'`.execute(t().db.kysely)
    await t().app.complianceWorker.runOnce()
    const due = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM compliance_schedule WHERE next_run_at <= now()`.execute(t().db.kysely)
    assert.equal(Number(due.rows[0]?.n), 0, 'all 10 orgs evaluated in one tick')
  })
})

describe('attack: one signing key, several document types: each verifier takes only its own (P5.4, P7.2, P7.7)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x
  const kid = ed25519KeyId(Buffer.from(x, 'base64url'))
  const dir = mkdtempSync(path.join(tmpdir(), 'compliance-typ-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const bytes = Buffer.from('{"format":"custodian-compliance-report/v1"}')
  const sign = (typ: string, payload: Record<string, unknown>) =>
    new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'EdDSA', kid, typ })
      .sign(privateKey)
  const verifyReport = async (signature: string) => {
    const file = path.join(dir, 'report.json')
    writeFileSync(file, bytes)
    writeFileSync(`${file}.jws`, signature)
    return runToExit(
      ['bin/custodian.js', 'verify-report', '--file', file, '--signature', `${file}.jws`, '--public-key', x],
      {},
    )
  }

  it('attack: verify-report refuses an erasure certificate naming the file’s hash, and an unsigned `alg: none` JWS (P5.4)', async () => {
    const digest = createHash('sha256').update(bytes).digest('hex')
    const statement = { document: 'compliance-report', format: 'json', sha256: digest, id: 'r', orgId: 'o' }
    const certificate = await sign('custodian-erasure-certificate+jws', { type: 'erasure', ...statement })
    const refused = await verifyReport(certificate)
    assert.equal(refused.code, 1, refused.output)
    assert.match(refused.output, /is not a document signature/)
    const none = [
      Buffer.from(JSON.stringify({ alg: 'none', kid, typ: 'custodian-document+jws' })).toString('base64url'),
      Buffer.from(JSON.stringify(statement)).toString('base64url'),
      '',
    ].join('.')
    const unsigned = await verifyReport(none)
    assert.equal(unsigned.code, 1, unsigned.output)
    assert.match(unsigned.output, /^FAIL the signature does not verify/)
    assert.equal((await verifyReport(await sign('custodian-document+jws', statement))).code, 0, 'the genuine one')
  })

  it('attack: the consent receipt verifier refuses a document signature dressed as a consent receipt (P7.7)', async () => {
    const jws = await sign('custodian-document+jws', { type: 'consent-receipt', purposes: [{}] })
    const check = await verifyConsentReceipt({ jws, receipt: {} }, { publicKey: x, logKey: 'unused' })
    assert.equal(check.ok, false)
    assert.match(check.problems.join(' '), /not a custodian-consent-receipt\+jws/)
  })
})
