import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { it } from 'node:test'
import { verifyJws } from '../../src/crypto/jws.ts'
import { ed25519KeyId } from '../../src/crypto/keys.ts'
import { PROMISES } from '../../src/modules/compliance/catalogue.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { runToExit } from '../helpers/process.ts'

interface Policy {
  format: string
  org: { id: string; name: string }
  sections: {
    id: string
    heading: string
    statements: { text: string; promise: string; verdict: string; checks: string[] }[]
  }[]
}

forEachEngine('the signed compliance report and the living security policy (P5.4, P10.1)', (engine) => {
  // Figures the policy must read from the configuration rather than have typed in.
  const t = useTestApp(engine, {
    CUSTODIAN_TLS_MIN_VERSION: 'TLSv1.3',
    CUSTODIAN_HSTS_MAX_AGE: String(2 * 365 * 86_400),
    CUSTODIAN_SESSION_IDLE_MINUTES: '17',
    CUSTODIAN_DISCLOSURE_ACK_BUSINESS_DAYS: '4',
  })
  let provider: Org
  let acme: Org
  let publicKey: string
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-report-'))

  const download = async (org: Org, document: 'report' | 'policy', format: string) => {
    const response = await t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/compliance/${document}?format=${format}`,
      token: org.ownerToken,
    })
    assert.equal(response.status, 200, response.text)
    const signature = response.headers['custodian-signature']
    assert.equal(typeof signature, 'string', 'the detached signature comes with it')
    return { bytes: response.raw, signature: signature as string, headers: response.headers }
  }
  const verifyReport = async (bytes: Buffer, signature: string, key = publicKey, name = 'doc') => {
    const file = path.join(dir, name)
    writeFileSync(file, bytes)
    writeFileSync(`${file}.jws`, `${signature}\n`)
    return runToExit(
      ['bin/custodian.js', 'verify-report', '--file', file, '--signature', `${file}.jws`, '--public-key', key],
      {},
    )
  }

  it('P5.4: the report comes as JSON, HTML and PDF, each signed over its exact bytes; custodian verify-report checks it offline and refuses a changed byte or another key', async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme <Corp>', 'owner@acme.test')
    await t().request({ method: 'POST', url: `/v1/orgs/${provider.orgId}/compliance/runs`, token: provider.ownerToken })
    await t().request({ method: 'POST', url: `/v1/orgs/${acme.orgId}/compliance/runs`, token: acme.ownerToken })
    publicKey = (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys[0].publicKey as string

    const json = await download(acme, 'report', 'json')
    assert.match(String(json.headers['content-type']), /^application\/json/)
    assert.match(String(json.headers['content-disposition']), /^attachment; filename="compliance-report-.*\.json"$/)
    const report = JSON.parse(json.bytes.toString('utf8')) as {
      format: string
      reportId: string
      scope: string
      org: { id: string; name: string }
      summary: { promises: { met: number; notMet: number; notApplicable: number } }
      promises: { id: string; verdict: string; checks: unknown[] }[]
    }
    assert.equal(report.format, 'custodian-compliance-report/v1')
    assert.equal(report.scope, 'org')
    assert.deepEqual(report.org, { id: acme.orgId, name: 'Acme <Corp>' })
    assert.deepEqual(
      report.promises.map((p) => p.id),
      PROMISES.map((p) => p.id),
    )
    const { met, notMet, notApplicable } = report.summary.promises
    assert.equal(met + notMet + notApplicable, PROMISES.length)
    const keys = new Map([[ed25519KeyId(Buffer.from(publicKey, 'base64url')), publicKey]])
    const { header, payload } = await verifyJws(json.signature, keys)
    assert.equal(header.typ, 'custodian-document+jws')
    assert.equal(payload.document, 'compliance-report')
    assert.equal(payload.format, 'json')
    assert.equal(payload.id, report.reportId)
    assert.equal(payload.orgId, acme.orgId)

    const html = await download(acme, 'report', 'html')
    assert.match(String(html.headers['content-type']), /^text\/html/)
    assert.match(String(html.headers['content-security-policy']), /default-src 'none'/)
    const page = html.bytes.toString('utf8')
    assert.ok(page.includes('Acme &lt;Corp&gt;') && !page.includes('Acme <Corp>'), 'the org name is escaped')
    assert.ok(!/<script/i.test(page), 'no script')
    const pdf = await download(acme, 'report', 'pdf')
    assert.equal(pdf.bytes.subarray(0, 5).toString('latin1'), '%PDF-')

    for (const [name, d] of Object.entries({ 'report.json': json, 'report.html': html, 'report.pdf': pdf })) {
      const ok = await verifyReport(d.bytes, d.signature, publicKey, name)
      assert.equal(ok.code, 0, ok.output)
      assert.match(
        ok.output,
        new RegExp(
          `^OK {3}compliance-report \\(${name.split('.')[1]}\\) [0-9a-f-]{36} of org ${acme.orgId}, generated `,
        ),
      )
    }
    assert.match((await verifyReport(json.bytes, json.signature)).output, /promises met \d+, not met \d+/)
    const changed = Buffer.from(pdf.bytes)
    changed[Math.floor(changed.length / 2)] = (changed[Math.floor(changed.length / 2)] ?? 0) ^ 1
    const tampered = await verifyReport(changed, pdf.signature, publicKey, 'tampered.pdf')
    assert.equal(tampered.code, 1)
    assert.match(tampered.output, /^FAIL the signature is valid, but for another document/)
    const swapped = await verifyReport(json.bytes, html.signature, publicKey, 'swapped.json')
    assert.equal(swapped.code, 1, 'another document’s signature does not cover this one')
    const otherKey = Buffer.alloc(32, 7).toString('base64url')
    const stranger = await verifyReport(json.bytes, json.signature, otherKey, 'stranger.json')
    assert.equal(stranger.code, 1)
    assert.match(
      stranger.output,
      /^FAIL the signature is not by the key given \(ed25519:[0-9a-f]{16}\): it names key ed25519:/,
    )
    const forged = Buffer.from(json.signature.split('.').slice(0, 2).join('.') + '.' + 'A'.repeat(86))
    assert.equal((await verifyReport(json.bytes, forged.toString())).code, 1)
  })

  it('P10.1: the living security policy is written from the running configuration, each statement with its promise and verdict; a failing check shows its statement as not currently met', async () => {
    const json = await download(acme, 'policy', 'json')
    const policy = JSON.parse(json.bytes.toString('utf8')) as Policy
    assert.equal(policy.format, 'custodian-security-policy/v1')
    assert.deepEqual(
      policy.sections.map((s) => s.id),
      [
        'encryption',
        'transport',
        'access',
        'authentication',
        'logging',
        'incident-response',
        'retention',
        'disclosure',
        'backups',
        'governance',
      ],
    )
    const statements = policy.sections.flatMap((s) => s.statements)
    assert.deepEqual(
      [...new Set(statements.map((s) => s.promise))].sort(),
      PROMISES.map((p) => p.id).sort(),
      'every promise is stated',
    )
    const text = (promise: string) => statements.find((s) => s.promise === promise)?.text ?? ''
    // Figures from this test's configuration, not the defaults.
    assert.match(text('P4.1'), /TLS 1\.3 or newer/)
    assert.match(text('P4.2'), /for 730 days \(HSTS\)/)
    assert.match(text('P3.2'), /after 17 minutes idle/)
    assert.match(text('P9.1'), /within 4 business days/)
    assert.match(text('P1.1'), /a root key kept in a file only the service can read/)
    // Acme's owner has no second factor and the org does not require one: P3.2 is not met.
    const p32 = statements.find((s) => s.promise === 'P3.2')
    assert.equal(p32?.verdict, 'not_met')
    assert.ok(p32.checks.includes('p3.2/data-access-needs-2fa'))
    const html = (await download(acme, 'policy', 'html')).bytes.toString('utf8')
    assert.match(html, /Not currently met/)
    const signed = await download(acme, 'policy', 'pdf')
    const ok = await verifyReport(signed.bytes, signed.signature, publicKey, 'policy.pdf')
    assert.equal(ok.code, 0, ok.output)
    assert.match(ok.output, /^OK {3}security-policy \(pdf\)/)
  })

  it('P10.1: the trust page is off unless the operator enables it', async () => {
    const response = await t().request({ method: 'GET', url: '/trust' })
    assert.equal(response.status, 404)
    assert.equal(response.body.code, 'NOT_FOUND')
  })

  it('P10.2: a reader of another org, or without compliance:read, gets nothing', async () => {
    const beta = await createCustomerOrg(t(), provider, 'Beta', 'owner@beta.test')
    for (const tail of ['compliance', 'compliance/report', 'compliance/policy?format=pdf', 'compliance/history'])
      assert.equal(
        (await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/${tail}`, token: beta.ownerToken })).status,
        404,
        tail,
      )
  })
})

forEachEngine('the public trust page (P10.1)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_TRUST_PAGE: 'on' })

  it('P10.1: with CUSTODIAN_TRUST_PAGE=on, /trust serves the provider’s living policy without sign-in: statements and verdicts, no evidence', async () => {
    const before = await t().request({ method: 'GET', url: '/trust' })
    assert.equal(before.status, 404, 'nothing to show before bootstrap')
    const provider = await bootstrapProvider(t())
    await t().request({ method: 'POST', url: `/v1/orgs/${provider.orgId}/compliance/runs`, token: provider.ownerToken })
    const page = await t().request({ method: 'GET', url: '/trust' })
    assert.equal(page.status, 200, page.text)
    assert.match(String(page.headers['content-type']), /^text\/html/)
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/)
    assert.match(page.text, /Encryption and key management/)
    assert.match(page.text, /P2\.1/)
    assert.ok(!page.text.includes(provider.ownerId), 'no evidence: no ids of people')
    assert.ok(!page.text.includes('owner@provider.test'))
  })
})

forEachEngine('compliance documents are bounded per org (P5.4, P10.1)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_COMPLIANCE_DOCUMENT_RATE_LIMIT: '2', CUSTODIAN_TRUST_PAGE: 'on' })

  it('P10.1: an org gets its documents generated a bounded number of times a minute (429 RATE_LIMITED with Retry-After), counted only for allowed callers and per org', async () => {
    const provider = await bootstrapProvider(t())
    const acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    const beta = await createCustomerOrg(t(), provider, 'Beta', 'owner@beta.test')
    const url = `/v1/orgs/${acme.orgId}/compliance/policy?format=html`
    // Callers who may not read it spend nothing of the org's budget.
    for (let i = 0; i < 3; i++) {
      assert.equal((await t().request({ method: 'GET', url })).status, 401)
      assert.equal((await t().request({ method: 'GET', url, token: beta.ownerToken })).status, 404)
    }
    for (let i = 0; i < 2; i++)
      assert.equal((await t().request({ method: 'GET', url, token: acme.ownerToken })).status, 200)
    const refused = await t().request({ method: 'GET', url, token: acme.ownerToken })
    assert.equal(refused.status, 429, refused.text)
    assert.equal(refused.body.code, 'RATE_LIMITED')
    assert.match(String(refused.headers['content-type']), /^application\/problem\+json/)
    assert.ok(Number(refused.headers['retry-after']) >= 1)
    // Another org's budget is its own.
    const other = await t().request({
      method: 'GET',
      url: `/v1/orgs/${beta.orgId}/compliance/policy?format=html`,
      token: beta.ownerToken,
    })
    assert.equal(other.status, 200, other.text)
  })

  it('P10.1: the public trust page is built once for many readers, not once per request', async () => {
    const service = t().app.services.compliance
    const results = service.results.bind(service)
    let builds = 0
    service.results = (orgId) => {
      builds++
      return results(orgId)
    }
    try {
      const pages = await Promise.all(Array.from({ length: 5 }, () => t().request({ method: 'GET', url: '/trust' })))
      for (let i = 0; i < 5; i++) pages.push(await t().request({ method: 'GET', url: '/trust' }))
      for (const page of pages) assert.equal(page.status, 200, page.text)
      assert.equal(new Set(pages.map((p) => p.text)).size, 1)
      assert.equal(builds, 1, 'ten readers, one build')
    } finally {
      service.results = results
    }
  })
})
