import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { RequestContext } from '../../context.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import type { ComplianceService, OverviewCheck, RunView } from './compliance.service.ts'
import type { CheckResult, ComplianceReport, PromiseStanding, SecurityPolicy } from './compliance.types.ts'
import { securityPolicy, type PolicyFacts } from './policy.ts'
import { PROMISES } from './catalogue.ts'
import {
  type OscalAssessmentResults,
  type OscalCatalog,
  type OscalComponentDefinition,
  oscalAssessmentResults,
  oscalCatalog,
  oscalComponentDefinition,
} from './oscal.ts'
import { policyHtml, policyPdf, reportHtml, reportPdf } from './render.ts'
import { buildReport, canonicalJson, signDocument } from './report.ts'

export type DocumentFormat = 'json' | 'html' | 'pdf'

/** The OSCAL models served, each with its media type (OSCAL 1.1.3, https://pages.nist.gov/OSCAL/). */
export const OSCAL_MODELS = {
  catalog: 'application/oscal.catalog+json',
  'component-definition': 'application/oscal.component-definition+json',
  'assessment-results': 'application/oscal.assessment-results+json',
} as const
export type OscalModel = keyof typeof OSCAL_MODELS

/** An OSCAL document as served: its bytes (RFC 8785 canonical JSON), its detached signature, a file name. */
export interface SignedOscal {
  bytes: Buffer
  signature: string
  filename: string
  model: OscalModel
}

/**
 * Where the org's OSCAL catalog is served: the deployment's public URL of
 * `GET /v1/orgs/{orgId}/compliance/oscal/catalog` (the component-definition's `source`).
 */
export function oscalCatalogHref(publicUrl: string, orgId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/v1/orgs/${orgId}/compliance/oscal/catalog`
}

/**
 * The three OSCAL documents of a compliance report (oscal.ts, docs/compliance.md#oscal): the
 * catalogue as a catalog and a component-definition (last modified at the report's time) and
 * the report's evaluation as assessment-results, all naming the org's catalog URL.
 */
export function oscalDocuments(
  report: ComplianceReport,
  service: { publicUrl: string; version: string },
): {
  catalog: OscalCatalog
  componentDefinition: OscalComponentDefinition
  assessmentResults: OscalAssessmentResults
} {
  const catalogHref = oscalCatalogHref(service.publicUrl, report.org.id)
  const at = { generatedAt: report.generatedAt, version: service.version }
  return {
    catalog: oscalCatalog(PROMISES, at),
    componentDefinition: oscalComponentDefinition(PROMISES, { ...at, catalogHref }),
    assessmentResults: oscalAssessmentResults(report, { catalogHref }),
  }
}

/** A document as served: its bytes, its detached signature (compact JWS) and a file name. */
export interface SignedFile {
  bytes: Buffer
  signature: string
  filename: string
  format: DocumentFormat
}

export interface ComplianceDocuments {
  /** The org's promises with their checks' latest results, the last run and the interval. */
  standing(ctx: RequestContext): Promise<{
    summary: ComplianceReport['summary']
    lastRun: RunView | null
    intervalSeconds: number
    promises: PromiseStanding[]
  }>
  /** The signed compliance report of the caller's org (the provider org's: `scope` service). */
  report(ctx: RequestContext, format: DocumentFormat): Promise<SignedFile>
  /** The signed living security policy of the caller's org. */
  policy(ctx: RequestContext, format: DocumentFormat): Promise<SignedFile>
  /**
   * One OSCAL document of the caller's org (the catalog and component-definition are the
   * service's catalogue; assessment-results the org's latest evaluation), signed like the report
   * (`document` `oscal-<model>`, `id` the document's UUID).
   */
  oscal(ctx: RequestContext, model: OscalModel): Promise<SignedOscal>
  /** Operators: the service's checks and every org check across orgs. */
  overview(ctx: RequestContext): Promise<{ service: CheckResult[]; orgChecks: OverviewCheck[] }>
  /** The public trust page (HTML), or NOT_FOUND when the operator has not enabled it. */
  trustPage(): Promise<string>
  /** The report and policy objects themselves (for the evidence bundle and OSCAL). */
  build(orgId: string): Promise<{ report: ComplianceReport; policy: SecurityPolicy }>
}

/** How long the public trust page is served as built before it is built again (ms). */
const TRUST_PAGE_TTL_MS = 30_000

/**
 * The compliance report and the living security policy, built from the latest results and
 * the running configuration, rendered (JSON, HTML, PDF) and signed with the service's
 * Ed25519 key (report.ts `signDocument`).
 */
export function createComplianceDocuments(deps: {
  db: Kysely<DB>
  clock: Clock
  signer: Signer
  compliance: ComplianceService
  facts: PolicyFacts
  service: { publicUrl: string; version: string }
  providerOrgId: () => Promise<string | undefined>
  intervalMs: number
  trustPage: boolean
}): ComplianceDocuments {
  const { db, compliance } = deps
  let trustPageCache: { at: number; page: Promise<string> } | undefined

  async function buildTrustPage(): Promise<string> {
    const providerOrgId = await deps.providerOrgId()
    if (providerOrgId === undefined) throw new AppError('NOT_FOUND', 'this service publishes no trust page')
    // The provider's policy: the service's checks and the provider org's own (its staff's
    // second factors, its plan), each statement with its verdict only — no evidence.
    const { policy } = await build(providerOrgId)
    return policyHtml(policy)
  }

  async function orgOf(orgId: string) {
    const org = await withOwner(db, (trx) =>
      trx.selectFrom('orgs').select(['id', 'name', 'kind']).where('id', '=', orgId).executeTakeFirst(),
    )
    if (org === undefined) throw new AppError('NOT_FOUND', 'no such org')
    return org
  }

  async function build(orgId: string) {
    const org = await orgOf(orgId)
    const results = await compliance.results(orgId)
    const generatedAt = deps.clock()
    const report = buildReport({
      scope: org.kind === 'provider' ? 'service' : 'org',
      org: { id: org.id, name: org.name },
      results,
      generatedAt,
      service: deps.service,
    })
    const policy = securityPolicy({
      facts: deps.facts,
      org: { id: org.id, name: org.name },
      results,
      generatedAt,
      service: deps.service,
    })
    return { report, policy }
  }

  const stamp = (at: string) => at.slice(0, 19).replaceAll(':', '').replace('T', '-')

  return {
    build,

    async standing(ctx) {
      const { report } = await build(ctx.orgId)
      const lastRun = await withOrg(db, ctx.orgId, (trx) =>
        trx
          .selectFrom('compliance_runs')
          .selectAll()
          .where('org_id', '=', ctx.orgId)
          .orderBy('started_at', 'desc')
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst(),
      )
      return {
        summary: report.summary,
        lastRun:
          lastRun === undefined
            ? null
            : {
                id: lastRun.id,
                trigger: lastRun.trigger,
                startedAt: lastRun.started_at.toISOString(),
                finishedAt: lastRun.finished_at.toISOString(),
                passed: lastRun.passed,
                failed: lastRun.failed,
                notApplicable: lastRun.not_applicable,
              },
        intervalSeconds: Math.round(deps.intervalMs / 1000),
        promises: report.promises,
      }
    },

    async report(ctx, format) {
      const { report } = await build(ctx.orgId)
      const bytes =
        format === 'json'
          ? canonicalJson(report)
          : format === 'html'
            ? Buffer.from(reportHtml(report), 'utf8')
            : await reportPdf(report)
      return {
        bytes,
        format,
        filename: `compliance-report-${stamp(report.generatedAt)}.${format}`,
        signature: signDocument(deps.signer, bytes, {
          document: 'compliance-report',
          format,
          id: report.reportId,
          orgId: report.org.id,
          generatedAt: report.generatedAt,
        }),
      }
    },

    async policy(ctx, format) {
      const { policy, report } = await build(ctx.orgId)
      const bytes =
        format === 'json'
          ? canonicalJson(policy)
          : format === 'html'
            ? Buffer.from(policyHtml(policy), 'utf8')
            : await policyPdf(policy)
      return {
        bytes,
        format,
        filename: `security-policy-${stamp(policy.generatedAt)}.${format}`,
        signature: signDocument(deps.signer, bytes, {
          document: 'security-policy',
          format,
          id: report.reportId,
          orgId: policy.org.id,
          generatedAt: policy.generatedAt,
        }),
      }
    },

    async oscal(ctx, model) {
      const { report } = await build(ctx.orgId)
      const documents = oscalDocuments(report, deps.service)
      const [document, uuid] =
        model === 'catalog'
          ? [documents.catalog, documents.catalog.catalog.uuid]
          : model === 'component-definition'
            ? [documents.componentDefinition, documents.componentDefinition['component-definition'].uuid]
            : [documents.assessmentResults, documents.assessmentResults['assessment-results'].uuid]
      const bytes = canonicalJson(document)
      return {
        bytes,
        model,
        filename: `oscal-${model}-${stamp(report.generatedAt)}.json`,
        signature: signDocument(deps.signer, bytes, {
          document: `oscal-${model}`,
          format: 'json',
          id: uuid,
          orgId: report.org.id,
          generatedAt: report.generatedAt,
        }),
      }
    },

    async overview(ctx) {
      // Operators only: a customer role can never hold orgs:list, and this says so again.
      if (ctx.principal.orgKind !== 'provider') throw new AppError('FORBIDDEN', 'operators of the provider org only')
      const service = (await compliance.results(ctx.orgId)).filter((r) => r.scope === 'service')
      return { service, orgChecks: await compliance.overview() }
    },

    async trustPage() {
      if (!deps.trustPage) throw new AppError('NOT_FOUND', 'this service publishes no trust page')
      // Public and without sign-in: anyone may ask for it as often as they like, so it is
      // built at most once per TRUST_PAGE_TTL_MS per process (concurrent requests share the
      // build) — its verdicts change only when checks run, hourly by default.
      const now = deps.clock().getTime()
      if (trustPageCache === undefined || now - trustPageCache.at >= TRUST_PAGE_TTL_MS) {
        const building = buildTrustPage()
        trustPageCache = { at: now, page: building }
        building.catch(() => {
          if (trustPageCache?.page === building) trustPageCache = undefined
        })
      }
      return trustPageCache.page
    },
  }
}
