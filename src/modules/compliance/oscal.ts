import type { PromiseEntry } from './catalogue.ts'
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
  some,
  token,
  uuidFor,
} from './oscal.common.ts'

/**
 * Custodian's promise catalogue and its compliance evaluation as OSCAL JSON (NIST OSCAL 1.1.3,
 * https://pages.nist.gov/OSCAL/resources/concepts/layer/): the catalogue as a `catalog` (one
 * control per promise) and a `component-definition` (Custodian implementing those controls);
 * a compliance report as `assessment-results` (each check result an observation, each pass or
 * fail a finding). Pure functions: the same input gives the same document, byte for byte, since
 * every UUID is a name-based UUID v5 (RFC 9562 §5.5) and nothing reads a clock or a random source.
 *
 * Names in Custodian's own namespace (`CUSTODIAN_OSCAL_NS`) carry what OSCAL has no word for
 * (the framework mappings, a check's id, verdict and evidence); every name without `ns` is one
 * the OSCAL 1.1.3 metaschema allows in its place.
 */

export {
  CUSTODIAN_OSCAL_NS,
  CUSTODIAN_OSCAL_UUID_NAMESPACE,
  controlId,
  OSCAL_VERSION,
  objectiveId,
  type OscalLink,
  type OscalMetadata,
  type OscalPart,
  type OscalProperty,
  type OscalResource,
  uuidV5,
} from './oscal.common.ts'
export {
  type OscalAssessmentResults,
  type OscalFinding,
  type OscalObservation,
  oscalAssessmentResults,
} from './oscal.results.ts'

export interface OscalControl {
  id: string
  class?: string
  title: string
  props: OscalProperty[]
  links?: OscalLink[]
  parts: OscalPart[]
}
export interface OscalCatalog {
  catalog: {
    uuid: string
    metadata: OscalMetadata
    groups: { id: string; class?: string; title: string; controls: OscalControl[] }[]
    'back-matter': { resources: OscalResource[] }
  }
}

/** The frameworks a promise maps to, each with its prop name and back-matter resource. */
const FRAMEWORKS = [
  {
    key: 'soc2',
    prop: 'soc2-tsc',
    title: 'AICPA Trust Services Criteria (2017, revised points of focus 2022)',
    label: 'SOC 2 TSC',
  },
  { key: 'iso27001', prop: 'iso27001-annex-a', title: 'ISO/IEC 27001:2022, Annex A', label: 'ISO/IEC 27001:2022' },
  {
    key: 'gdpr',
    prop: 'gdpr',
    title: 'Regulation (EU) 2016/679 (General Data Protection Regulation)',
    label: 'GDPR',
    href: 'https://eur-lex.europa.eu/eli/reg/2016/679/oj',
  },
] as const

function frameworkResources(): OscalResource[] {
  return FRAMEWORKS.map((f) => ({
    uuid: uuidFor(`framework/${f.key}`),
    title: f.title,
    props: [ns('framework', f.prop)],
    citation: { text: f.title },
    ...('href' in f ? { rlinks: [{ href: f.href }] } : {}),
  }))
}

/** `P1.10` → `p01.10`, so that sorting the strings sorts the promises. */
function sortId(promiseId: string): string {
  return promiseId
    .slice(1)
    .split('.')
    .map((n) => n.padStart(2, '0'))
    .join('.')
    .replace(/^/, 'p')
}

function control(p: PromiseEntry): OscalControl {
  const id = controlId(p.id)
  const mappings = FRAMEWORKS.flatMap((f) => p.frameworks[f.key].map((ref) => ns(f.prop, ref, 'framework-mapping')))
  const links = FRAMEWORKS.filter((f) => p.frameworks[f.key].length > 0).map((f) => ({
    href: `#${uuidFor(`framework/${f.key}`)}`,
    rel: 'reference',
    text: `${f.label}: ${p.frameworks[f.key].join(', ')}`,
  }))
  return {
    id,
    class: 'custodian-promise',
    title: p.promise,
    props: [{ name: 'label', value: p.id }, { name: 'sort-id', value: sortId(p.id) }, ...mappings],
    ...some('links', links),
    parts: [
      { id: `${id}_smt`, name: 'statement', prose: p.promise },
      { id: `${id}_gdn`, name: 'guidance', title: 'How Custodian enforces it', prose: p.enforcedBy },
    ],
  }
}

/**
 * The promise catalogue as an OSCAL catalog (OSCAL 1.1.3 catalog model,
 * https://pages.nist.gov/OSCAL/resources/concepts/layer/control/catalog/): one group per area
 * (id from the area's words), one control per promise (`P1.1` → `p1-1`, title the promise),
 * each with a `statement` part (the promise) and a `guidance` part (what Custodian does so it
 * holds), OSCAL props `label` (`P1.1`) and `sort-id`, and one Custodian-namespace prop per
 * framework reference (`soc2-tsc`, `iso27001-annex-a`, `gdpr`, class `framework-mapping`),
 * with a `reference` link to that framework's back-matter resource. OSCAL 1.1 has no mapping
 * model (1.2 adds one), so props are the faithful place for "this control is evidence for".
 *
 * @param promises - the catalogue, normally `PROMISES`.
 * @param options.generatedAt - RFC 3339 with a time zone: `metadata.last-modified`.
 * @param options.version - Custodian's version: `metadata.version`.
 * @returns `{ catalog }`, valid against the NIST OSCAL 1.1.3 JSON schema. Its `uuid` is
 *   derived from the version and the promises, so it changes exactly when they do.
 * @throws RangeError when `generatedAt` is not an RFC 3339 date-time with a time zone.
 */
export function oscalCatalog(
  promises: readonly PromiseEntry[],
  options: { generatedAt: string; version: string },
): OscalCatalog {
  const areas = [...new Set(promises.map((p) => p.area))]
  return {
    catalog: {
      uuid: uuidFor(`catalog\n${options.version}\n${JSON.stringify(promises)}`),
      metadata: {
        title: 'Custodian promise catalogue',
        'last-modified': dateTime(options.generatedAt, 'generatedAt'),
        version: options.version,
        'oscal-version': OSCAL_VERSION,
        remarks:
          'The promises a SaaS security policy makes that Custodian makes true (docs/promises.md), each mapped to the SOC 2 Trust Services Criteria, ISO/IEC 27001:2022 Annex A and the GDPR.',
      },
      groups: areas.map((area) => ({
        id: token(
          area
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, '-')
            .replace(/^-|-$/g, ''),
        ),
        class: 'area',
        title: area,
        controls: promises.filter((p) => p.area === area).map(control),
      })),
      'back-matter': { resources: frameworkResources() },
    },
  }
}

export interface OscalComponentDefinition {
  'component-definition': {
    uuid: string
    metadata: OscalMetadata
    components: {
      uuid: string
      type: 'software'
      title: string
      description: string
      purpose: string
      props: OscalProperty[]
      'control-implementations': {
        uuid: string
        source: string
        description: string
        'implemented-requirements': {
          uuid: string
          'control-id': string
          description: string
          props: OscalProperty[]
        }[]
      }[]
    }[]
  }
}

/** The UUID of Custodian as a software component, the same in every document. */
const CUSTODIAN_COMPONENT_UUID = uuidFor('component/custodian')

/**
 * Custodian as an OSCAL component-definition (OSCAL 1.1.3 component definition model,
 * https://pages.nist.gov/OSCAL/resources/concepts/layer/implementation/component-definition/):
 * one `software` component implementing every control of the catalogue at `catalogHref`, each
 * implemented-requirement describing what Custodian does (`enforcedBy`) and labelled with the
 * promise id.
 *
 * @param promises - the catalogue, normally `PROMISES`.
 * @param options.generatedAt - RFC 3339 with a time zone: `metadata.last-modified`.
 * @param options.version - Custodian's version: `metadata.version` and the component's `version` prop.
 * @param options.catalogHref - where the `oscalCatalog` document of the same promises is served
 *   (a URI reference): the control-implementation's `source`.
 * @throws RangeError when `generatedAt` is not an RFC 3339 date-time with a time zone.
 */
export function oscalComponentDefinition(
  promises: readonly PromiseEntry[],
  options: { generatedAt: string; version: string; catalogHref: string },
): OscalComponentDefinition {
  const name = `component-definition\n${options.version}\n${options.catalogHref}\n${JSON.stringify(promises)}`
  return {
    'component-definition': {
      uuid: uuidFor(name),
      metadata: {
        title: 'Custodian: the controls it implements',
        'last-modified': dateTime(options.generatedAt, 'generatedAt'),
        version: options.version,
        'oscal-version': OSCAL_VERSION,
      },
      components: [
        {
          uuid: CUSTODIAN_COMPONENT_UUID,
          type: 'software',
          title: 'Custodian',
          description:
            'A self-hosted trust and data-protection service: secrets, tenant isolation, access, audit, privacy and incident response for a SaaS provider.',
          purpose: "Makes a SaaS security policy's promises true and proves them with live checks.",
          props: [ns('version', options.version)],
          'control-implementations': [
            {
              uuid: uuidFor(`${name}\ncontrol-implementation`),
              source: options.catalogHref,
              description: 'Every promise of the Custodian promise catalogue, as Custodian enforces it.',
              'implemented-requirements': promises.map((p) => ({
                uuid: uuidFor(`${name}\n${p.id}`),
                'control-id': controlId(p.id),
                description: p.enforcedBy,
                props: [ns('promise', p.id)],
              })),
            },
          ],
        },
      ],
    },
  }
}
