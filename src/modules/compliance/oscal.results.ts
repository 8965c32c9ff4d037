import type { CheckResult, ComplianceReport, EvidenceValue, PromiseStanding } from './compliance.types.ts'
import {
  controlId,
  dateTime,
  ns,
  OSCAL_VERSION,
  type OscalLink,
  type OscalMetadata,
  type OscalPart,
  type OscalProperty,
  type OscalResource,
  objectiveId,
  some,
  token,
  uuidFor,
} from './oscal.common.ts'

export interface OscalObservation {
  uuid: string
  title: string
  description: string
  props: OscalProperty[]
  methods: ['TEST']
  types: ['control-objective']
  origins: { actors: { type: 'tool'; 'actor-uuid': string }[] }[]
  subjects: { 'subject-uuid': string; type: 'component' | 'party'; title: string }[]
  'relevant-evidence'?: { description: string; props: OscalProperty[] }[]
  collected: string
  remarks?: string
}
export interface OscalFinding {
  uuid: string
  title: string
  description: string
  props: OscalProperty[]
  origins: { actors: { type: 'tool'; 'actor-uuid': string }[] }[]
  target: {
    type: 'objective-id' | 'statement-id'
    'target-id': string
    status: { state: 'satisfied' | 'not-satisfied'; reason: 'pass' | 'fail' }
  }
  'related-observations'?: { 'observation-uuid': string }[]
}
export interface OscalAssessmentResults {
  'assessment-results': {
    uuid: string
    metadata: OscalMetadata
    'import-ap': { href: string; remarks: string }
    'local-definitions'?: {
      'objectives-and-methods': {
        'control-id': string
        description: string
        props: OscalProperty[]
        parts: OscalPart[]
      }[]
    }
    results: {
      uuid: string
      title: string
      description: string
      start: string
      props: OscalProperty[]
      'local-definitions': {
        components: {
          uuid: string
          type: string
          title: string
          description: string
          props?: OscalProperty[]
          status: { state: 'operational' }
        }[]
        'assessment-assets': {
          components: {
            uuid: string
            type: 'software'
            title: string
            description: string
            status: { state: 'operational' }
          }[]
          'assessment-platforms': { uuid: string; title: string; 'uses-components': { 'component-uuid': string }[] }[]
        }
      }
      'reviewed-controls': {
        links?: OscalLink[]
        'control-selections': { 'include-controls'?: { 'control-id': string }[] }[]
        'control-objective-selections'?: { 'include-objectives': { 'objective-id': string }[] }[]
      }
      observations?: OscalObservation[]
      findings?: OscalFinding[]
      remarks: string
    }[]
    'back-matter': { resources: OscalResource[] }
  }
}

/**
 * An evidence value as an OSCAL property value (a non-empty string without surrounding white
 * space): a string that is one already stays as it is; anything else (numbers, booleans, null,
 * lists, an empty string) is written as its JSON text, so no value is lost or made up.
 */
function evidenceValue(value: EvidenceValue): string {
  return typeof value === 'string' && /^\S(.*\S)?$/s.test(value) ? value : JSON.stringify(value)
}

const VERDICT: Record<CheckResult['verdict'], string> = { pass: 'pass', fail: 'fail', not_applicable: 'not-applicable' }

/**
 * A compliance report as OSCAL assessment-results (OSCAL 1.1.3 assessment results model,
 * https://pages.nist.gov/OSCAL/resources/concepts/layer/assessment/assessment-results/):
 *
 * - one `result` for the report's run: `start` is `generatedAt` (when the report gathered each
 *   check's latest result); reviewed-controls names every promise's control and every check's
 *   objective;
 * - each check is an assessment objective of its promise's control, declared in
 *   `local-definitions.objectives-and-methods` (`p3-2_obj.members-without-2fa`);
 * - each check result is an observation: method `TEST`, the tool that ran it as origin (Custodian),
 *   the deployment (service checks) or the org (org checks) as subject, `collected` its `ranAt`,
 *   its verdict, `since` and check id as props and its evidence as the props of one
 *   relevant-evidence;
 * - each passing or failing check is a finding on its objective (`objective-id`), status
 *   `satisfied` / `not-satisfied` with reason `pass` / `fail`; each promise met or not met is a
 *   finding on its control's statement (`statement-id`). A check or promise that does not apply
 *   has its observation but no finding: OSCAL's finding states are only satisfied and not satisfied.
 *
 * `import-ap` is required by the schema and must point to an assessment plan. Custodian has
 * no separate OSCAL assessment-plan document: its plan is the set of checks that run
 * continuously, each listed here as a local objective. So `import-ap` points to a back-matter
 * resource that names the assessment (the report id and the deployment) and says so — an
 * honest reference rather than an href to a document that does not exist.
 *
 * @param report - a signed compliance report's content (`custodian-compliance-report/v1`).
 * @param options.catalogHref - where the `oscalCatalog` document is served (a URI reference);
 *   when given, reviewed-controls links to it through a back-matter resource.
 * @returns `{ 'assessment-results' }`, valid against the NIST OSCAL 1.1.3 JSON schema; every
 *   UUID derives from the report id (or from the org id and the deployment URL for the subjects),
 *   so the same report gives the same document.
 * @throws RangeError when `generatedAt` or a check's `ranAt` is not an RFC 3339 date-time with a time zone.
 */
export function oscalAssessmentResults(
  report: ComplianceReport,
  options: { catalogHref?: string } = {},
): OscalAssessmentResults {
  const run = `report/${report.reportId}`
  const toolUuid = uuidFor('tool/custodian-compliance-checks')
  const platformUuid = uuidFor('assessment-platform/custodian')
  const deploymentUuid = uuidFor(`deployment/${report.service.publicUrl}`)
  const orgUuid = uuidFor(`org/${report.org.id}`)
  const planUuid = uuidFor(`${run}/assessment-plan`)
  const catalogUuid = uuidFor(`catalog-document/${options.catalogHref}`)
  const origins = [{ actors: [{ type: 'tool' as const, 'actor-uuid': toolUuid }] }]
  const checks = report.promises.flatMap((p) => p.checks)
  const observationUuid = (c: CheckResult): string => uuidFor(`${run}/observation/${c.check}`)

  const observation = (c: CheckResult): OscalObservation => {
    const evidence = Object.entries(c.evidence).map(([key, value]) => ns(token(key), evidenceValue(value), 'evidence'))
    return {
      uuid: observationUuid(c),
      title: c.title,
      description: c.summary,
      props: [ns('check-id', c.check), ns('verdict', VERDICT[c.verdict]), ns('since', dateTime(c.since, 'since'))],
      methods: ['TEST'],
      types: ['control-objective'],
      origins,
      subjects:
        c.scope === 'service'
          ? [{ 'subject-uuid': deploymentUuid, type: 'component', title: 'The Custodian deployment' }]
          : [{ 'subject-uuid': orgUuid, type: 'party', title: 'The org' }],
      ...(evidence.length > 0
        ? { 'relevant-evidence': [{ description: `What check ${c.check} counted and read.`, props: evidence }] }
        : {}),
      collected: dateTime(c.ranAt, 'ranAt'),
    }
  }

  const checkFinding = (c: CheckResult): OscalFinding[] =>
    c.verdict === 'not_applicable'
      ? []
      : [
          {
            uuid: uuidFor(`${run}/finding/${c.check}`),
            title: c.title,
            description: c.summary,
            props: [ns('check-id', c.check)],
            origins,
            target: {
              type: 'objective-id',
              'target-id': objectiveId(c),
              status:
                c.verdict === 'pass'
                  ? { state: 'satisfied', reason: 'pass' }
                  : { state: 'not-satisfied', reason: 'fail' },
            },
            'related-observations': [{ 'observation-uuid': observationUuid(c) }],
          },
        ]

  const promiseFinding = (p: PromiseStanding): OscalFinding[] => {
    if (p.verdict === 'not_applicable') return []
    const failing = p.checks.filter((c) => c.verdict === 'fail').length
    return [
      {
        uuid: uuidFor(`${run}/finding/${p.id}`),
        title: `${p.id}: ${p.promise}`,
        description:
          p.verdict === 'met'
            ? `Promise met: every check that applies passes (${p.checks.length} checks).`
            : `Promise not met: ${failing} of ${p.checks.length} checks fail.`,
        props: [ns('promise', p.id)],
        origins,
        target: {
          type: 'statement-id',
          'target-id': `${controlId(p.id)}_smt`,
          status:
            p.verdict === 'met' ? { state: 'satisfied', reason: 'pass' } : { state: 'not-satisfied', reason: 'fail' },
        },
        ...some(
          'related-observations',
          p.checks.map((c) => ({ 'observation-uuid': observationUuid(c) })),
        ),
      },
    ]
  }

  const { promises: pv, checks: cv } = report.summary
  const resources: OscalResource[] = [
    {
      uuid: planUuid,
      title: 'Custodian live compliance checks',
      description: `The assessment this document reports: Custodian's checks of its promises, run continuously by the deployment at ${report.service.publicUrl}, gathered in compliance report ${report.reportId}. Custodian keeps no separate OSCAL assessment plan; the checks are the plan, listed here as local objectives.`,
      props: [ns('report-id', report.reportId), ns('report-scope', report.scope)],
    },
    ...(options.catalogHref
      ? [
          {
            uuid: catalogUuid,
            title: 'Custodian promise catalogue',
            rlinks: [{ href: options.catalogHref, 'media-type': 'application/oscal.catalog+json' }],
          },
        ]
      : []),
  ]

  return {
    'assessment-results': {
      uuid: uuidFor(`${run}/assessment-results`),
      metadata: {
        title: `Custodian compliance evaluation: ${report.org.name}`,
        'last-modified': dateTime(report.generatedAt, 'generatedAt'),
        version: report.reportId,
        'oscal-version': OSCAL_VERSION,
        props: [ns('custodian-version', report.service.version), ns('report-format', report.format)],
        parties: [{ uuid: orgUuid, type: 'organization', name: report.org.name, props: [ns('org-id', report.org.id)] }],
      },
      'import-ap': {
        href: `#${planUuid}`,
        remarks:
          'Custodian has no separate OSCAL assessment plan: its checks run continuously and are the plan. This reference names the assessment (a back-matter resource with the report id); the checks are the local objectives below.',
      },
      ...(checks.length > 0
        ? {
            'local-definitions': {
              'objectives-and-methods': checks.map((c) => ({
                'control-id': controlId(c.promise),
                description: c.title,
                props: [ns('check-id', c.check), ns('scope', c.scope)],
                parts: [{ id: objectiveId(c), name: 'assessment-objective', prose: c.title }],
              })),
            },
          }
        : {}),
      results: [
        {
          uuid: uuidFor(`${run}/result`),
          title: `Compliance report ${report.reportId}`,
          description: `Promises: ${pv.met} met, ${pv.notMet} not met, ${pv.notApplicable} not applicable. Checks: ${cv.pass} pass, ${cv.fail} fail, ${cv.notApplicable} not applicable.`,
          start: dateTime(report.generatedAt, 'generatedAt'),
          props: [ns('report-id', report.reportId), ns('report-scope', report.scope)],
          'local-definitions': {
            components: [
              {
                uuid: deploymentUuid,
                type: 'this-system',
                title: 'The Custodian deployment',
                description: `Custodian ${report.service.version} at ${report.service.publicUrl}.`,
                props: [ns('public-url', report.service.publicUrl), ns('version', report.service.version)],
                status: { state: 'operational' },
              },
            ],
            'assessment-assets': {
              components: [
                {
                  uuid: toolUuid,
                  type: 'software',
                  title: 'Custodian compliance checks',
                  description: "Custodian's live checks, each proving one promise from the running service's data.",
                  status: { state: 'operational' },
                },
              ],
              'assessment-platforms': [
                { uuid: platformUuid, title: 'Custodian', 'uses-components': [{ 'component-uuid': toolUuid }] },
              ],
            },
          },
          'reviewed-controls': {
            ...(options.catalogHref ? { links: [{ href: `#${catalogUuid}`, rel: 'reference' }] } : {}),
            'control-selections': [
              {
                ...some(
                  'include-controls',
                  report.promises.map((p) => ({ 'control-id': controlId(p.id) })),
                ),
              },
            ],
            ...(checks.length > 0
              ? {
                  'control-objective-selections': [
                    { 'include-objectives': checks.map((c) => ({ 'objective-id': objectiveId(c) })) },
                  ],
                }
              : {}),
          },
          ...some('observations', checks.map(observation)),
          ...some('findings', [...checks.flatMap(checkFinding), ...report.promises.flatMap(promiseFinding)]),
          remarks:
            "Each observation's collected time is when its check last ran; start is when the report gathered those latest results.",
        },
      ],
      'back-matter': { resources },
    },
  }
}
