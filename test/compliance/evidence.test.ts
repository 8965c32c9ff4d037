import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { it } from 'node:test'
import { unzipSync } from 'fflate'
import { verifyJws } from '../../src/crypto/jws.ts'
import { ed25519KeyId } from '../../src/crypto/keys.ts'
import { PROMISES } from '../../src/modules/compliance/catalogue.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { validateOscal } from '../helpers/oscal-schema.ts'
import { runToExit } from '../helpers/process.ts'

const HOUR = 3_600_000

interface Manifest {
  format: string
  id: string
  org: { id: string; name: string }
  generatedAt: string
  window: { from: string; to: string; days: number }
  files: { path: string; sha256: string; bytes: number; description: string }[]
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** The files whose bytes are not what the manifest says (changed, missing), and the files it does not list. */
function mismatches(manifest: Manifest, files: Record<string, Uint8Array>): string[] {
  const listed = new Set(manifest.files.map((f) => f.path))
  const wrong = manifest.files.flatMap((f) => {
    const bytes = files[f.path]
    return bytes === undefined || bytes.length !== f.bytes || sha256(bytes) !== f.sha256 ? [f.path] : []
  })
  const unlisted = Object.keys(files).filter(
    (p) => !listed.has(p) && p !== 'manifest.json' && p !== 'manifest.json.jws',
  )
  return [...wrong, ...unlisted]
}

forEachEngine('the evidence bundle for auditors and the OSCAL routes (P5.4, P10.2)', (engine) => {
  const time = testClock()
  const t = useTestApp(
    engine,
    {
      CUSTODIAN_SHRED_RING_GRACE_MS: '0',
      // A checkpoint at every sequencer pass: the bundle's latest checkpoint covers the chain.
      CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    },
    undefined,
    undefined,
    { clock: time.clock },
  )
  let provider: Org
  let acme: Org
  let publicKey: string
  let keys: Map<string, string>
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-evidence-'))
  const as = (org: Org, method: string, p: string, body?: unknown, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}${p}`, token, body })
  const verifyReport = async (bytes: Uint8Array, signature: Uint8Array | string, name: string) => {
    const file = path.join(dir, name)
    writeFileSync(file, bytes)
    writeFileSync(`${file}.jws`, signature)
    return runToExit(
      ['bin/custodian.js', 'verify-report', '--file', file, '--signature', `${file}.jws`, '--public-key', publicKey],
      {},
    )
  }
  const download = async (org: Org, token = org.ownerToken) => {
    const response = await as(org, 'GET', '/compliance/evidence', undefined, token)
    assert.equal(response.status, 200, response.text)
    assert.match(String(response.headers['content-type']), /^application\/zip/)
    assert.match(String(response.headers['content-disposition']), /^attachment; filename="evidence-.*\.zip"$/)
    const files = unzipSync(new Uint8Array(response.raw))
    const manifestBytes = files['manifest.json']
    assert.ok(manifestBytes, 'the bundle has its manifest')
    const manifest = JSON.parse(Buffer.from(manifestBytes).toString('utf8')) as Manifest
    return { files, manifest, headers: response.headers }
  }
  const text = (files: Record<string, Uint8Array>, name: string) => {
    const bytes = files[name]
    assert.ok(bytes, `${name} is in the bundle`)
    return Buffer.from(bytes).toString('utf8')
  }
  const parsed = (files: Record<string, Uint8Array>, name: string): unknown => JSON.parse(text(files, name))

  it('P10.2: the bundle holds the report, the policy, OSCAL, the audit verification, a closed access review’s decisions, an erasure certificate that verifies, an incident and the compliance history; every file matches the signed manifest, and the download is audited with its SHA-256', async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme Evidence', 'owner@acme-evidence.test')
    publicKey = (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys[0].publicKey as string
    keys = new Map([[ed25519KeyId(Buffer.from(publicKey, 'base64url')), publicKey]])
    assert.equal((await as(provider, 'POST', '/compliance/runs')).status, 200)
    assert.equal((await as(acme, 'POST', '/compliance/runs')).status, 200)

    // A closed access review: the owner alone certifies (self-certified) every item.
    const review = await as(acme, 'POST', '/access-reviews')
    assert.equal(review.status, 201, review.text)
    const items = (await as(acme, 'GET', `/access-reviews/${review.body.id}/items?limit=500`)).body.items as {
      id: string
      kind: string
    }[]
    assert.ok(items.length >= 1)
    for (const item of items) {
      const decided = await as(acme, 'POST', `/access-reviews/${review.body.id}/items/${item.id}/decision`, {
        decision: 'certify',
        note: 'still needed for the quarter',
      })
      assert.equal(decided.status, 200, decided.text)
    }
    assert.equal((await as(acme, 'POST', `/access-reviews/${review.body.id}/close`)).status, 200)
    // An open one is not evidence of a review yet.
    const open = await as(acme, 'POST', '/access-reviews')
    assert.equal(open.status, 201, open.text)

    // An erasure, certified once the shred ring retires the subject's key.
    assert.equal(
      (
        await as(acme, 'POST', '/records', {
          subjectId: 'subject-evidence-7',
          dataClass: 'contact',
          payload: { email: 'subject7@example.test' },
        })
      ).status,
      201,
    )
    const erase = await as(acme, 'POST', '/privacy-requests', {
      kind: 'erase',
      subjectId: 'subject-evidence-7',
      requester: { name: 'Ada Subject', email: 'ada.subject@example.test', channel: 'support form' },
      verification: { method: 'signed-in-account' },
    })
    assert.equal(erase.status, 201, erase.text)
    assert.equal((await as(acme, 'POST', `/privacy-requests/${erase.body.id}/complete`, {})).status, 200)
    await t().app.services.shredding.pass()
    assert.equal((await as(acme, 'GET', `/privacy-requests/${erase.body.id}`)).body.status, 'completed')

    // An incident with a confirmed breach and its notification clock.
    const incident = await as(acme, 'POST', '/incidents', { title: 'Laptop with an export lost' })
    assert.equal(incident.status, 201, incident.text)
    const breach = await as(acme, 'POST', `/incidents/${incident.body.id}/breach`, {
      summary: 'An unencrypted export left the office.',
      parties: [{ kind: 'regulator', name: 'Data protection authority', deadlineHours: 72 }],
    })
    assert.equal(breach.status, 200, breach.text)
    await t().app.sequencer.flush()

    const { files, manifest, headers } = await download(acme)
    assert.equal(manifest.format, 'custodian-evidence-manifest/v1')
    assert.deepEqual(manifest.org, { id: acme.orgId, name: 'Acme Evidence' })
    assert.equal(manifest.window.days, 400)
    assert.equal(new Date(manifest.window.to).getTime() - new Date(manifest.window.from).getTime(), 400 * 24 * HOUR)
    assert.deepEqual(manifest.files.map((f) => f.path).sort(), [
      'README.txt',
      'access-reviews.json',
      'audit-verification.json',
      'compliance-history.json',
      'compliance-report.html',
      'compliance-report.json',
      'compliance-report.pdf',
      'erasure-certificates.json',
      'incidents.json',
      'oscal/assessment-results.json',
      'oscal/catalog.json',
      'oscal/component-definition.json',
      'security-policy.html',
      'security-policy.json',
      'security-policy.pdf',
    ])
    assert.deepEqual(mismatches(manifest, files), [], 'every file is the manifest’s, byte for byte')
    assert.ok(manifest.files.every((f) => f.description.length > 0))
    const manifestSha256 = sha256(files['manifest.json'] as Uint8Array)
    assert.equal(headers['custodian-manifest-sha256'], manifestSha256)

    // custodian verify-report checks the manifest against the published key, offline.
    const signature = files['manifest.json.jws'] as Uint8Array
    const ok = await verifyReport(files['manifest.json'] as Uint8Array, signature, 'manifest.json')
    assert.equal(ok.code, 0, ok.output)
    assert.match(ok.output, new RegExp(`^OK {3}evidence-manifest \\(json\\) ${manifest.id} of org ${acme.orgId}`))
    const forgedManifest = Buffer.from(files['manifest.json'] as Uint8Array)
      .toString('utf8')
      .replace(/"sha256":"[0-9a-f]{64}"/, `"sha256":"${'0'.repeat(64)}"`)
    const refused = await verifyReport(Buffer.from(forgedManifest), signature, 'forged-manifest.json')
    assert.equal(refused.code, 1, 'a manifest rewritten to match a changed file no longer verifies')
    assert.match(refused.output, /^FAIL the signature is valid, but for another document/)

    // A changed file is caught by its hash; so is a file slipped in.
    const incidentsBytes = files['incidents.json'] as Uint8Array
    const changed = Uint8Array.from(incidentsBytes)
    changed[10] = (changed[10] ?? 0) ^ 1
    assert.deepEqual(mismatches(manifest, { ...files, 'incidents.json': changed }), ['incidents.json'])
    assert.deepEqual(mismatches(manifest, { ...files, 'extra.json': new Uint8Array([123, 125]) }), ['extra.json'])

    // The report and policy are this org's; OSCAL names every promise.
    const report = parsed(files, 'compliance-report.json') as {
      format: string
      org: { id: string }
      promises: { id: string }[]
    }
    assert.equal(report.format, 'custodian-compliance-report/v1')
    assert.equal(report.org.id, acme.orgId)
    assert.equal((parsed(files, 'security-policy.json') as { format: string }).format, 'custodian-security-policy/v1')
    assert.equal(
      Buffer.from(files['compliance-report.pdf'] as Uint8Array)
        .subarray(0, 5)
        .toString('latin1'),
      '%PDF-',
    )
    for (const name of ['oscal/catalog.json', 'oscal/component-definition.json', 'oscal/assessment-results.json']) {
      const { valid, errors } = validateOscal(parsed(files, name))
      assert.ok(valid, `${name}: ${errors.slice(0, 5).join('; ')}`)
    }

    // The audit chain verifies, with the checkpoint an auditor can keep.
    const audit = parsed(files, 'audit-verification.json') as {
      verification: { ok: boolean; org: string; events: number; problems: unknown[] }
      latestCheckpoint: { note: string; size: number; verifierKey: string } | null
    }
    assert.equal(audit.verification.ok, true, JSON.stringify(audit.verification.problems))
    assert.equal(audit.verification.org, acme.orgId)
    assert.ok(audit.verification.events > 0)
    assert.ok(audit.latestCheckpoint, 'the latest signed checkpoint comes with it')
    assert.match(audit.latestCheckpoint.note, /\n\n— /, 'a C2SP signed note')

    // The closed review with every decision; the open one is not there; people by id only.
    const reviews = (
      parsed(files, 'access-reviews.json') as {
        reviews: {
          id: string
          status: string
          closedBy: string
          items: { kind: string; subjectId: string; label: string | null; decision: string; decidedBy: string }[]
        }[]
      }
    ).reviews
    assert.deepEqual(
      reviews.map((r) => [r.id, r.status]),
      [[review.body.id, 'closed']],
    )
    const [closed] = reviews
    assert.ok(closed)
    assert.equal(closed.closedBy, `user:${acme.ownerId}`)
    assert.equal(closed.items.length, items.length)
    const member = closed.items.find((i) => i.kind === 'member')
    assert.ok(member)
    assert.deepEqual(
      [member.subjectId, member.label, member.decision, member.decidedBy],
      [acme.ownerId, null, 'certify', `user:${acme.ownerId}`],
    )

    // The erasure certificate verifies against the service's key and names a commitment only.
    const certificates = parsed(files, 'erasure-certificates.json') as {
      erasureCertificates: { requestId: string; jws: string }[]
    } & Record<string, unknown>
    assert.equal('offboardingCertificates' in certificates, false, 'a customer org has no offboardings to show')
    assert.deepEqual(
      certificates.erasureCertificates.map((c) => c.requestId),
      [erase.body.id],
    )
    const { payload } = await verifyJws((certificates.erasureCertificates[0] as { jws: string }).jws, keys)
    assert.match(String((payload.subject as { commitment: string }).commitment), /^sha256:[0-9a-f]{64}$/)

    // The incident with its timeline and its breach notification.
    const incidents = (
      parsed(files, 'incidents.json') as {
        incidents: {
          id: string
          title: string
          breach: { summary: string } | null
          timeline: { kind: string; actor: string }[]
          notifications: { party: { name: string }; status: string }[]
        }[]
      }
    ).incidents
    assert.deepEqual(
      incidents.map((i) => i.id),
      [incident.body.id],
    )
    const [lost] = incidents
    assert.ok(lost)
    assert.equal(lost.breach?.summary, 'An unencrypted export left the office.')
    assert.ok(lost.timeline.some((e) => e.kind === 'breach_confirmed' || /breach/.test(e.kind)))
    assert.ok(lost.notifications.some((n) => n.party.name === 'Data protection authority' && n.status === 'pending'))
    assert.equal('people' in lost, false, 'no email directory of the people it names')

    // Compliance history: the checks' first results of this org.
    const history = (parsed(files, 'compliance-history.json') as { history: { check: string; verdict: string }[] })
      .history
    assert.ok(history.length > 0)
    assert.ok(history.every((h) => /^p\d+\.\d+\//.test(h.check)))

    // The README tells the auditor how to verify.
    assert.match(
      text(files, 'README.txt'),
      /custodian verify-report --file manifest\.json --signature manifest\.json\.jws/,
    )

    // No secret or personal value: no email, no data subject's id or data, no requester.
    for (const [name, bytes] of Object.entries(files)) {
      if (name.endsWith('.pdf')) continue
      const content = Buffer.from(bytes).toString('utf8')
      for (const personal of [
        'owner@acme-evidence.test',
        'subject-evidence-7',
        'subject7@example.test',
        'ada.subject@example.test',
        'Ada Subject',
      ])
        assert.equal(content.includes(personal), false, `${name} names ${personal}`)
    }

    // The download is in the org's audit log, with the manifest's SHA-256.
    const exported = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'compliance.evidence.export')
    assert.equal(exported.length, 1)
    assert.equal(exported[0]?.details.manifestSha256, manifestSha256)
    assert.equal(exported[0]?.actor_id, acme.ownerId)
  })

  it('P10.2: in the provider org the bundle also holds the offboarding certificates of deleted orgs', async () => {
    const gone = await createCustomerOrg(t(), provider, 'Gone Ltd', 'owner@gone-evidence.test')
    const asked = await as(gone, 'POST', '/offboarding', { confirmName: 'Gone Ltd', graceHours: 1 })
    assert.equal(asked.status, 201, asked.text)
    time.advance(2 * HOUR)
    assert.equal(await t().app.services.offboarding.runDue(), 1)

    const { files, manifest } = await download(provider)
    assert.deepEqual(mismatches(manifest, files), [])
    const certificates = (
      parsed(files, 'erasure-certificates.json') as { offboardingCertificates: { orgId: string; jws: string }[] }
    ).offboardingCertificates
    assert.deepEqual(
      certificates.map((c) => c.orgId),
      [gone.orgId],
    )
    const { header } = await verifyJws((certificates[0] as { jws: string }).jws, keys)
    assert.equal(header.typ, 'custodian-offboarding-certificate+jws')
  })

  it('P10.2: the bundle needs compliance:evidence — 401 without credentials, 403 for a member, 404 for another org; auditors have it', async () => {
    assert.equal((await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/compliance/evidence` })).status, 401)
    const member = await principalWithRole(t(), acme, 'member')
    assert.equal((await as(acme, 'GET', '/compliance/evidence', undefined, member.token)).status, 403)
    assert.equal((await as(provider, 'GET', '/compliance/evidence', undefined, acme.ownerToken)).status, 404)
    const auditor = await principalWithRole(t(), acme, 'auditor')
    const { files, manifest } = await download(acme, auditor.token)
    assert.deepEqual(mismatches(manifest, files), [])
  })

  it('P10.2: the OSCAL catalog, component-definition and assessment-results are served with their media types, signed over their bytes, and valid against NIST’s schema', async () => {
    const href = (model: string) => `/v1/orgs/${acme.orgId}/compliance/oscal/${model}`
    const types = {
      catalog: 'application/oscal.catalog+json',
      'component-definition': 'application/oscal.component-definition+json',
      'assessment-results': 'application/oscal.assessment-results+json',
    }
    const served: Record<string, Record<string, unknown>> = {}
    for (const [model, type] of Object.entries(types)) {
      const response = await t().request({ method: 'GET', url: href(model), token: acme.ownerToken })
      assert.equal(response.status, 200, response.text)
      assert.equal(String(response.headers['content-type']).split(';')[0], type)
      const signature = String(response.headers['custodian-signature'])
      const ok = await verifyReport(response.raw, signature, `${model}.json`)
      assert.equal(ok.code, 0, ok.output)
      assert.match(ok.output, new RegExp(`^OK {3}oscal-${model} \\(json\\) [0-9a-f-]{36} of org ${acme.orgId}`))
      const document = JSON.parse(response.raw.toString('utf8')) as Record<string, unknown>
      const { valid, errors } = validateOscal(document)
      assert.ok(valid, `${model}: ${errors.slice(0, 5).join('; ')}`)
      served[model] = document
    }
    const catalog = served.catalog?.catalog as { groups: { controls: unknown[] }[] }
    assert.equal(catalog.groups.flatMap((g) => g.controls).length, PROMISES.length, 'one control per promise')
    const definition = served['component-definition']?.['component-definition'] as {
      components: { 'control-implementations': { source: string }[] }[]
    }
    const source = definition.components[0]?.['control-implementations'][0]?.source ?? ''
    assert.match(source, new RegExp(`^https://.+/v1/orgs/${acme.orgId}/compliance/oscal/catalog$`))
    assert.equal(new URL(source).pathname, href('catalog'), 'the component’s source is the catalog route')

    const member = await principalWithRole(t(), acme, 'member')
    assert.equal(
      (await t().request({ method: 'GET', url: href('assessment-results'), token: member.token })).status,
      403,
    )
    assert.equal((await t().request({ method: 'GET', url: href('catalog') })).status, 401)
  })
})
