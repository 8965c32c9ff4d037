import { Readable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, pageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { OSCAL_MODELS, type ComplianceDocuments, type DocumentFormat, type OscalModel } from './documents.ts'
import type { ComplianceEvidence } from './evidence.ts'
import type { ComplianceService } from './compliance.service.ts'

const tags = ['compliance']
const Verdict = Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('not_applicable')])
const PromiseVerdict = Type.Union([Type.Literal('met'), Type.Literal('not_met'), Type.Literal('not_applicable')])
const Evidence = Type.Record(Type.String(), Type.Unknown(), {
  description: 'figures, ids and times that decided the verdict — never a secret or personal value',
})
const CheckResult = Type.Object({
  check: Type.String({ description: '`<promise>/<name>`, e.g. `p3.2/data-access-needs-2fa`' }),
  promise: Type.String({ description: 'the promise ID it proves (docs/promises.md)' }),
  scope: Type.Union([Type.Literal('service'), Type.Literal('org')]),
  title: Type.String(),
  verdict: Verdict,
  summary: Type.String(),
  evidence: Evidence,
  ranAt: Timestamp,
  since: Type.String({ format: 'date-time', description: 'since when the verdict has been this one' }),
})
const References = Type.Array(Type.String())
const Frameworks = Type.Object({
  soc2: References,
  iso27001: References,
  gdpr: References,
})
const PromiseStanding = Type.Object({
  id: Type.String(),
  area: Type.String(),
  promise: Type.String(),
  enforcedBy: Type.String(),
  frameworks: Frameworks,
  verdict: PromiseVerdict,
  checks: Type.Array(CheckResult),
})
const RunView = Type.Object({
  id: Uuid,
  trigger: Type.Union([Type.Literal('schedule'), Type.Literal('demand')]),
  startedAt: Timestamp,
  finishedAt: Timestamp,
  passed: Type.Integer(),
  failed: Type.Integer(),
  notApplicable: Type.Integer(),
})
const HistoryEntry = Type.Object({
  id: Uuid,
  check: Type.String(),
  promise: Type.String(),
  verdict: Verdict,
  previousVerdict: Type.Union([Verdict, Type.Null()]),
  summary: Type.String(),
  evidence: Evidence,
  ranAt: Timestamp,
})
const Format = Type.Union([Type.Literal('json'), Type.Literal('html'), Type.Literal('pdf')], {
  description: 'json (RFC 8785 canonical JSON), html (a self-contained page) or pdf',
})
const DocumentQuery = Type.Object({ format: Type.Optional(Format) }, Strict)
const CheckId = Type.String({ pattern: '^p[0-9]{1,2}\\.[0-9]{1,2}/[a-z0-9-]{1,60}$', maxLength: 70 })
const SIGNATURE_HEADER =
  'Custodian-Signature: a compact JWS (EdDSA) over the body’s SHA-256, verified offline with `custodian verify-report` against the key of GET /v1/audit/keys'

const CONTENT_TYPES: Record<DocumentFormat, string> = {
  json: 'application/json; charset=utf-8',
  html: 'text/html; charset=utf-8',
  pdf: 'application/pdf',
}

/** A signed document: its bytes, its detached signature in a header, a file name to save it as. */
function sendDocument(
  reply: FastifyReply,
  document: { bytes: Buffer; signature: string; filename: string; format: DocumentFormat },
): FastifyReply {
  reply.header('custodian-signature', document.signature)
  reply.header('content-disposition', `attachment; filename="${document.filename}"`)
  // A downloaded page renders nothing from elsewhere and runs no script.
  if (document.format === 'html')
    reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
  return reply.type(CONTENT_TYPES[document.format]).send(document.bytes)
}

const OSCAL_SUMMARIES: Record<OscalModel, string> = {
  catalog: 'The promise catalogue as an OSCAL 1.1.3 catalog: one control per promise, with its framework mappings',
  'component-definition':
    'Custodian as an OSCAL 1.1.3 component-definition implementing every control of the catalog (its `source` is this org’s catalog URL)',
  'assessment-results':
    'The org’s latest compliance evaluation as OSCAL 1.1.3 assessment-results: each check an observation, each pass or fail a finding',
}

export function complianceRoutes(deps: {
  compliance: ComplianceService
  documents: ComplianceDocuments
  evidence: ComplianceEvidence
  /** Documents one org may have generated a minute, per document route and process. */
  documentsPerMinute: number
}): FastifyPluginAsyncTypebox {
  const { compliance, documents, evidence } = deps
  // Rendering a document (the PDF above all, and the evidence bundle) is the heaviest work a
  // reader can ask for: bounded per org, counted only once the caller is authenticated,
  // allowed and its request valid (preHandler), so no one else can spend an org's budget.
  const documentLimit = {
    max: deps.documentsPerMinute,
    timeWindow: 60_000,
    hook: 'preHandler' as const,
    keyGenerator: (request: { params: unknown }) =>
      `compliance-documents:${(request.params as { orgId: string }).orgId}`,
  }
  return async (app) => {
    app.get('/v1/orgs/:orgId/compliance', {
      config: { access: { permission: 'compliance:read' } },
      schema: {
        tags,
        summary:
          'Every promise with its live checks’ latest results: the service’s checks and the org’s own (P5.4, P10.2)',
        params: OrgParams,
        response: {
          200: Type.Object({
            summary: Type.Object({
              promises: Type.Object({ met: Type.Integer(), notMet: Type.Integer(), notApplicable: Type.Integer() }),
              checks: Type.Object({ pass: Type.Integer(), fail: Type.Integer(), notApplicable: Type.Integer() }),
            }),
            lastRun: Type.Union([RunView, Type.Null()]),
            intervalSeconds: Type.Integer(),
            promises: Type.Array(PromiseStanding),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => documents.standing(ctxOf(request)),
    })

    app.post('/v1/orgs/:orgId/compliance/runs', {
      config: { access: { permission: 'compliance:run' } },
      schema: {
        tags,
        summary:
          'Evaluate the org’s checks now (the provider org: the service’s too); a check that turns to fail raises an alert',
        params: OrgParams,
        response: { 200: RunView, ...errorResponses('org') },
      },
      handler: async (request) => compliance.runNow(ctxOf(request)),
    })

    app.get('/v1/orgs/:orgId/compliance/runs', {
      config: { access: { permission: 'compliance:read' } },
      schema: {
        tags,
        summary: 'Evaluations of the org, scheduled and on demand, newest first, a page at a time',
        params: OrgParams,
        querystring: pageQuery({}),
        response: { 200: Type.Object({ runs: Type.Array(RunView), nextCursor: NextCursor }), ...errorResponses('org') },
      },
      handler: async (request) => {
        const { items, nextCursor } = await compliance.runs(ctxOf(request), request.query)
        return { runs: items, nextCursor }
      },
    })

    app.get('/v1/orgs/:orgId/compliance/history', {
      config: { access: { permission: 'compliance:read' } },
      schema: {
        tags,
        summary:
          'Each change of a check’s verdict or summary, newest first, a page at a time (optionally of one check)',
        params: OrgParams,
        querystring: pageQuery({ check: Type.Optional(CheckId) }),
        response: {
          200: Type.Object({ history: Type.Array(HistoryEntry), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { check, ...page } = request.query
        const { items, nextCursor } = await compliance.history(ctxOf(request), page, check)
        return { history: items, nextCursor }
      },
    })

    app.get('/v1/orgs/:orgId/compliance/report', {
      config: { access: { permission: 'compliance:read' }, rateLimit: documentLimit },
      schema: {
        tags,
        summary: `The signed compliance report (JSON, HTML or PDF) of the latest results. ${SIGNATURE_HEADER}`,
        params: OrgParams,
        querystring: DocumentQuery,
        response: { 200: Type.Unknown({ description: 'the document' }), ...errorResponses('org') },
      },
      handler: async (request, reply) =>
        sendDocument(reply, await documents.report(ctxOf(request), request.query.format ?? 'json')),
    })

    app.get('/v1/orgs/:orgId/compliance/policy', {
      config: { access: { permission: 'compliance:read' }, rateLimit: documentLimit },
      schema: {
        tags,
        summary: `The living security policy (P10.1), generated from the running configuration, each statement with its promise and verdict. ${SIGNATURE_HEADER}`,
        params: OrgParams,
        querystring: DocumentQuery,
        response: { 200: Type.Unknown({ description: 'the document' }), ...errorResponses('org') },
      },
      handler: async (request, reply) =>
        sendDocument(reply, await documents.policy(ctxOf(request), request.query.format ?? 'json')),
    })

    for (const model of Object.keys(OSCAL_MODELS) as OscalModel[]) {
      app.get(`/v1/orgs/:orgId/compliance/oscal/${model}`, {
        config: { access: { permission: 'compliance:read' }, rateLimit: documentLimit },
        schema: {
          tags,
          summary: `${OSCAL_SUMMARIES[model]} (${OSCAL_MODELS[model]}, RFC 8785 canonical JSON). ${SIGNATURE_HEADER}`,
          params: OrgParams,
          produces: [OSCAL_MODELS[model]],
          response: { 200: Type.Unknown({ description: `the OSCAL ${model} document` }), ...errorResponses('org') },
        },
        handler: async (request, reply) => {
          const document = await documents.oscal(ctxOf(request), model)
          reply.header('custodian-signature', document.signature)
          reply.header('content-disposition', `attachment; filename="${document.filename}"`)
          return reply.type(`${OSCAL_MODELS[model]}; charset=utf-8`).send(document.bytes)
        },
      })
    }

    app.get('/v1/orgs/:orgId/compliance/evidence', {
      config: { access: { permission: 'compliance:evidence' }, rateLimit: documentLimit },
      schema: {
        tags,
        summary:
          'The evidence bundle for auditors (ZIP): the signed report and policy, the OSCAL documents, the audit chain’s verification and latest checkpoint, closed access reviews, erasure and offboarding certificates, incidents and compliance history of the last 400 days, with manifest.json (every file’s SHA-256) and its signature manifest.json.jws (verify with `custodian verify-report`). Recorded in the audit log as compliance.evidence.export',
        params: OrgParams,
        produces: ['application/zip'],
        response: { 200: Type.Unknown({ description: 'the ZIP archive' }), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        const bundle = await evidence.bundle(ctxOf(request))
        reply.header('content-disposition', `attachment; filename="${bundle.filename}"`)
        reply.header('custodian-manifest-sha256', bundle.manifestSha256)
        return reply.type('application/zip').send(Readable.from(bundle.zip))
      },
    })

    app.get('/v1/operator/compliance', {
      config: { access: { permission: 'orgs:list' } },
      schema: {
        tags,
        summary:
          'Operators: the service’s checks, and each org check with how many orgs pass, fail or are not concerned (names of failing orgs, nothing inside them)',
        response: {
          200: Type.Object({
            service: Type.Array(CheckResult),
            orgChecks: Type.Array(
              Type.Object({
                check: Type.String(),
                promise: Type.String(),
                title: Type.String(),
                pass: Type.Integer(),
                fail: Type.Integer(),
                notApplicable: Type.Integer(),
                failingOrgs: Type.Array(Type.Object({ id: Uuid, name: Type.String() })),
              }),
            ),
          }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => documents.overview(ctxOf(request)),
    })

    app.get('/trust', {
      config: { access: { public: true }, providerPage: true },
      schema: {
        tags,
        summary:
          'The public trust page, when the operator enabled it (CUSTODIAN_TRUST_PAGE=on): the living security policy with the service’s verdicts (404 otherwise)',
        response: { 200: Type.String(), ...errorResponses('public') },
      },
      handler: async (_request, reply) => {
        const page = await documents.trustPage()
        reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
        return reply.type('text/html; charset=utf-8').send(page)
      },
    })
  }
}
