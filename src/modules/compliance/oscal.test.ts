import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import {
  OSCAL_SCHEMA_PATH as schemaPath,
  OSCAL_SCHEMA_SHA256 as SCHEMA_SHA256,
  validateOscal,
} from '../../../test/helpers/oscal-schema.ts'
import { PROMISES, type PromiseEntry } from './catalogue.ts'
import type { CheckResult, ComplianceReport, PromiseStanding } from './compliance.types.ts'
import {
  CUSTODIAN_OSCAL_NS,
  controlId,
  OSCAL_VERSION,
  type OscalObservation,
  objectiveId,
  oscalAssessmentResults,
  oscalCatalog,
  oscalComponentDefinition,
  uuidV5,
} from './oscal.ts'

const GENERATED_AT = '2026-12-01T09:00:00.000Z'
const CATALOG_HREF = 'https://custodian.example/api/v1/compliance/oscal/catalog'

function promise(id: string): PromiseEntry {
  const entry = PROMISES.find((p) => p.id === id)
  assert.ok(entry, `${id} is in the catalogue`)
  return entry
}

function check(
  promiseId: string,
  name: string,
  verdict: CheckResult['verdict'],
  evidence: CheckResult['evidence'],
): CheckResult {
  return {
    check: `${promiseId.toLowerCase()}/${name}`,
    promise: promiseId,
    scope: promiseId === 'P1.1' ? 'service' : 'org',
    title: `Checks ${name.replaceAll('-', ' ')}`,
    verdict,
    summary: `${name}: ${verdict}`,
    evidence,
    ranAt: '2026-12-01T08:55:00.000Z',
    since: '2026-11-30T12:00:00.000Z',
  }
}

function standing(id: string, checks: CheckResult[]): PromiseStanding {
  const verdict = checks.some((c) => c.verdict === 'fail')
    ? 'not_met'
    : checks.some((c) => c.verdict === 'pass')
      ? 'met'
      : 'not_applicable'
  return { ...promise(id), verdict, checks }
}

/** Three promises: one met (service check), one not met (a pass and a fail), one not applicable. */
function sampleReport(reportId = 'rep_01J0000000000000000000000'): ComplianceReport {
  return {
    format: 'custodian-compliance-report/v1',
    reportId,
    scope: 'org',
    org: { id: 'org_acme', name: 'Acme' },
    generatedAt: GENERATED_AT,
    service: { publicUrl: 'https://custodian.example', version: '0.1.0' },
    summary: { promises: { met: 1, notMet: 1, notApplicable: 1 }, checks: { pass: 2, fail: 1, notApplicable: 1 } },
    promises: [
      standing('P1.1', [
        check('P1.1', 'root-key-provider', 'pass', { provider: 'local', keyBits: 256, sealed: false, rotatedAt: null }),
      ]),
      standing('P3.2', [
        check('P3.2', 'members-without-2fa', 'fail', {
          members: 12,
          withoutSecondFactor: 2,
          roles: ['admin', 'owner'],
        }),
        check('P3.2', 'admins-without-2fa', 'pass', { admins: 3, withoutSecondFactor: 0, note: '' }),
      ]),
      standing('P9.2', [check('P9.2', 'security-txt', 'not_applicable', {})]),
    ],
  }
}

const validate = validateOscal

/** Every string under `key` anywhere in the document. */
function collect(document: unknown, key: string, into: string[] = []): string[] {
  if (Array.isArray(document)) for (const item of document) collect(item, key, into)
  else if (document && typeof document === 'object') {
    for (const [k, v] of Object.entries(document)) {
      if (k === key && typeof v === 'string') into.push(v)
      else collect(v, key, into)
    }
  }
  return into
}

/** An observation's evidence props as name → value. */
function evidenceOf(observation: OscalObservation | undefined): Record<string, string> {
  return Object.fromEntries((observation?.['relevant-evidence']?.[0]?.props ?? []).map((p) => [p.name, p.value]))
}

const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[45][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}$/
const TOKEN = /^(\p{L}|_)(\p{L}|\p{N}|[.\-_])*$/u

describe('OSCAL export of the promise catalogue and its evaluation (P10.2)', () => {
  it('computes UUID v5 as RFC 9562 does: its example for DNS www.example.com (P10.2)', () => {
    assert.equal(
      uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'),
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    )
  })

  it('makes every promise one control, grouped by area, with its statement, guidance and framework mappings (P10.2)', () => {
    const { catalog } = oscalCatalog(PROMISES, { generatedAt: GENERATED_AT, version: '0.1.0' })
    assert.equal(catalog.metadata['oscal-version'], OSCAL_VERSION)
    const controls = catalog.groups.flatMap((g) => g.controls)
    assert.deepEqual(
      controls.map((c) => c.id),
      PROMISES.map((p) => controlId(p.id)),
    )
    assert.deepEqual(
      catalog.groups.map((g) => g.title),
      [...new Set(PROMISES.map((p) => p.area))],
    )
    for (const p of PROMISES) {
      const group = catalog.groups.find((g) => g.title === p.area)
      const c = group?.controls.find((x) => x.id === controlId(p.id))
      assert.ok(c, `${p.id} is a control of the group "${p.area}"`)
      assert.equal(c.props.find((x) => x.name === 'label')?.value, p.id)
      assert.equal(c.parts.find((x) => x.name === 'statement')?.prose, p.promise)
      assert.equal(c.parts.find((x) => x.name === 'guidance')?.prose, p.enforcedBy)
      const mapped = (name: string) =>
        c.props.filter((x) => x.ns === CUSTODIAN_OSCAL_NS && x.name === name).map((x) => x.value)
      assert.deepEqual(mapped('soc2-tsc'), p.frameworks.soc2)
      assert.deepEqual(mapped('iso27001-annex-a'), p.frameworks.iso27001)
      assert.deepEqual(mapped('gdpr'), p.frameworks.gdpr)
    }
    const resources = new Set(catalog['back-matter'].resources.map((r) => `#${r.uuid}`))
    for (const href of controls.flatMap((c) => c.links ?? []).map((l) => l.href)) {
      assert.ok(resources.has(href), `${href} names a back-matter resource`)
    }
  })

  it('implements every control in the component-definition, described by what enforces it (P10.2)', () => {
    const definition = oscalComponentDefinition(PROMISES, {
      generatedAt: GENERATED_AT,
      version: '0.1.0',
      catalogHref: CATALOG_HREF,
    })['component-definition']
    const [implementation] = definition.components[0]?.['control-implementations'] ?? []
    assert.equal(implementation?.source, CATALOG_HREF)
    assert.deepEqual(
      implementation?.['implemented-requirements'].map((r) => [r['control-id'], r.description]),
      PROMISES.map((p) => [controlId(p.id), p.enforcedBy]),
    )
  })

  it('records each check result as a TEST observation collected when it ran, with its evidence (P10.2)', () => {
    const report = sampleReport()
    const [result] = oscalAssessmentResults(report)['assessment-results'].results
    const checks = report.promises.flatMap((p) => p.checks)
    assert.equal(result?.start, report.generatedAt)
    assert.equal(result?.observations?.length, checks.length)
    for (const c of checks) {
      const o: OscalObservation | undefined = result?.observations?.find((x) =>
        x.props.some((p) => p.name === 'check-id' && p.value === c.check),
      )
      assert.ok(o, `${c.check} is observed`)
      assert.deepEqual(o.methods, ['TEST'])
      assert.equal(o.collected, c.ranAt)
      assert.equal(Object.keys(evidenceOf(o)).length, Object.keys(c.evidence).length)
    }
    const rootKey = result?.observations?.find((o) => o.title.includes('root key provider'))
    assert.deepEqual(evidenceOf(rootKey), { provider: 'local', keyBits: '256', sealed: 'false', rotatedAt: 'null' })
  })

  it('makes each failing check a not-satisfied finding and each passing one satisfied; a check that does not apply none (P10.2)', () => {
    const report = sampleReport()
    const document = oscalAssessmentResults(report)['assessment-results']
    const findings = document.results[0]?.findings ?? []
    const objectives = new Set(
      document['local-definitions']?.['objectives-and-methods'].flatMap((o) => o.parts.map((p) => p.id)),
    )
    for (const c of report.promises.flatMap((p) => p.checks)) {
      const onCheck = findings.filter(
        (f) => f.target.type === 'objective-id' && f.target['target-id'] === objectiveId(c),
      )
      assert.ok(objectives.has(objectiveId(c)), `${c.check} is a declared objective`)
      if (c.verdict === 'not_applicable') assert.equal(onCheck.length, 0, `${c.check} has no finding`)
      else {
        assert.equal(onCheck.length, 1, `${c.check} has one finding`)
        assert.equal(onCheck[0]?.target.status.state, c.verdict === 'fail' ? 'not-satisfied' : 'satisfied')
      }
    }
    const onStatement = Object.fromEntries(
      findings
        .filter((f) => f.target.type === 'statement-id')
        .map((f) => [f.target['target-id'], f.target.status.state]),
    )
    assert.deepEqual(onStatement, { 'p1-1_smt': 'satisfied', 'p3-2_smt': 'not-satisfied' })
    assert.deepEqual(
      document.results[0]?.['reviewed-controls']['control-selections'][0]?.['include-controls']?.map(
        (c) => c['control-id'],
      ),
      ['p1-1', 'p3-2', 'p9-2'],
    )
  })

  it('gives the same document for the same input, unique well-formed UUIDs and ids, and new UUIDs for another report (P10.2)', () => {
    const first = oscalAssessmentResults(sampleReport(), { catalogHref: CATALOG_HREF })
    assert.equal(
      JSON.stringify(oscalAssessmentResults(sampleReport(), { catalogHref: CATALOG_HREF })),
      JSON.stringify(first),
    )
    const catalog = oscalCatalog(PROMISES, { generatedAt: GENERATED_AT, version: '0.1.0' })
    assert.equal(
      JSON.stringify(oscalCatalog(PROMISES, { generatedAt: GENERATED_AT, version: '0.1.0' })),
      JSON.stringify(catalog),
    )

    const uuids = collect(first, 'uuid')
    assert.ok(uuids.every((u) => UUID.test(u)))
    assert.equal(new Set(uuids).size, uuids.length, 'no UUID is used twice')
    for (const id of [...collect(catalog, 'id'), ...collect(first, 'target-id'), ...collect(first, 'control-id')]) {
      assert.match(id, TOKEN)
    }
    const other = oscalAssessmentResults(sampleReport('rep_other'), { catalogHref: CATALOG_HREF })
    assert.notEqual(other['assessment-results'].uuid, first['assessment-results'].uuid)
    assert.notEqual(other['assessment-results'].results[0]?.uuid, first['assessment-results'].results[0]?.uuid)
  })

  it('refuses a generatedAt without a time zone, which OSCAL cannot carry (P10.2)', () => {
    assert.throws(() => oscalCatalog(PROMISES, { generatedAt: '2026-12-01T09:00:00', version: '0.1.0' }), RangeError)
    assert.throws(() => oscalAssessmentResults({ ...sampleReport(), generatedAt: '2026-12-01' }), RangeError)
  })

  describe('against the NIST OSCAL JSON schema', () => {
    it('is NIST’s published schema, unmodified (its digest)', { skip: process.env.OSCAL_SCHEMA !== undefined }, () => {
      assert.equal(createHash('sha256').update(readFileSync(schemaPath)).digest('hex'), SCHEMA_SHA256)
    })

    it('accepts the catalog, the component-definition and the assessment-results (P10.2)', () => {
      const documents = {
        catalog: oscalCatalog(PROMISES, { generatedAt: GENERATED_AT, version: '0.1.0' }),
        componentDefinition: oscalComponentDefinition(PROMISES, {
          generatedAt: GENERATED_AT,
          version: '0.1.0',
          catalogHref: CATALOG_HREF,
        }),
        assessmentResults: oscalAssessmentResults(sampleReport(), { catalogHref: CATALOG_HREF }),
        assessmentResultsWithoutCatalog: oscalAssessmentResults(sampleReport()),
      }
      for (const [name, document] of Object.entries(documents)) {
        const { valid, errors } = validate(document)
        assert.ok(valid, `${name}: ${errors.slice(0, 5).join('; ')}`)
      }
    })

    it('rejects a broken copy: a finding without its status, an observation without a method, a bad UUID (P10.2)', () => {
      const broken = structuredClone(oscalAssessmentResults(sampleReport())) as unknown as {
        'assessment-results': {
          uuid: string
          results: { findings: { target: { status?: unknown } }[]; observations: { methods: unknown[] }[] }[]
        }
      }
      const [result] = broken['assessment-results'].results
      assert.ok(result?.findings[0] && result.observations[0])
      delete result.findings[0].target.status
      assert.equal(validate(broken).valid, false, 'a finding target needs a status')

      const noMethod = structuredClone(oscalAssessmentResults(sampleReport())) as unknown as typeof broken
      ;(
        noMethod['assessment-results'].results[0] as (typeof broken)['assessment-results']['results'][0]
      ).observations[0] = {
        methods: [],
      }
      assert.equal(validate(noMethod).valid, false, 'an observation needs a method')

      const badUuid = structuredClone(oscalCatalog(PROMISES, { generatedAt: GENERATED_AT, version: '0.1.0' }))
      badUuid.catalog.uuid = 'not-a-uuid'
      assert.equal(validate(badUuid).valid, false, 'a catalog needs a UUID')
    })
  })
})
