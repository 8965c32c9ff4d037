import { readFileSync } from 'node:fs'
import type { Kysely } from 'kysely'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { DB } from '../../db/schema.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AlertsService } from '../response/alerts.service.ts'
import { PROMISES } from './catalogue.ts'
import { CHECKS, type ComplianceEnvironment } from './checks/index.ts'
import { createComplianceService } from './compliance.service.ts'
import { complianceRoutes } from './compliance.routes.ts'
import { createComplianceDocuments } from './documents.ts'
import { createComplianceEvidence, type EvidenceSources } from './evidence.ts'
import { policyPromises, type PolicyFacts } from './policy.ts'

/** The service's version (package.json), as the report and the policy name it. */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version

/** How many due orgs the job takes (and locks) at a time. */
const DUE_BATCH = 5

/** Where the process listens, once it does (server.ts tells the module). */
export interface Listeners {
  host: string
  httpsPort: number
  httpPort: number | null
}

/**
 * Compliance (P5.4, P10.1, P10.2): live checks of every promise, on a schedule and on
 * demand, with their history and alerts; the signed report and the living security policy.
 */
export function createComplianceModule(deps: {
  db: Kysely<DB>
  config: Config
  engine: 'pglite' | 'postgres'
  clock: Clock
  signer: Signer
  rootKey: Pick<RootKeyProvider, 'kind' | 'keyId' | 'sealed'>
  audit: AuditService
  alerts: () => Pick<AlertsService, 'raiseIn'>
  /** What the evidence bundle reads from the governance, privacy and response modules. */
  evidence: Omit<EvidenceSources, 'audit' | 'compliance'>
  providerOrgId: () => Promise<string | undefined>
  log: { error(obj: object, msg: string): void }
}) {
  const { config } = deps
  let listening: Listeners | null = null
  let openRoutes: () => readonly string[] = () => []
  const publicUrl = config.publicUrl ?? `https://localhost:${config.httpsPort}`
  const facts: PolicyFacts = { config, engine: deps.engine, rootKeyProvider: deps.rootKey.kind }
  const checked = new Set(CHECKS.map((c) => c.promise))
  const env: ComplianceEnvironment = {
    config,
    engine: deps.engine,
    version: VERSION,
    publicUrl,
    rootKey: deps.rootKey,
    publicRoutes: () => openRoutes(),
    listeners: () => listening,
    checkedPromises: () => checked,
    catalogue: () => PROMISES,
    policyPromises: () => policyPromises(facts),
    auditStatus: (orgId) => deps.audit.status(orgId),
  }
  const service = createComplianceService({
    db: deps.db,
    clock: deps.clock,
    audit: deps.audit,
    alerts: deps.alerts,
    env,
    checks: CHECKS,
    providerOrgId: deps.providerOrgId,
    intervalMs: config.compliance.intervalMs,
    onDemandMs: config.compliance.onDemandMs,
  })
  const documents = createComplianceDocuments({
    db: deps.db,
    clock: deps.clock,
    signer: deps.signer,
    compliance: service,
    facts,
    service: { publicUrl, version: VERSION },
    providerOrgId: deps.providerOrgId,
    intervalMs: config.compliance.intervalMs,
    trustPage: config.compliance.trustPage,
  })
  const evidence = createComplianceEvidence({
    db: deps.db,
    clock: deps.clock,
    signer: deps.signer,
    documents,
    sources: { ...deps.evidence, audit: deps.audit, compliance: service },
    service: { publicUrl, version: VERSION },
    providerOrgId: deps.providerOrgId,
  })
  const worker = periodic(
    'compliance-checks',
    config.compliance.checkMs,
    async () => {
      // Batch after batch while orgs are due, for up to a tick: five orgs a tick alone would
      // cap a process at 300 evaluations an hour, and past that many orgs every org would fall
      // behind its interval (and fail P5.4's own check). The bound keeps `stop` prompt.
      const until = deps.clock().getTime() + config.compliance.checkMs
      while ((await service.runDue(DUE_BATCH)) === DUE_BATCH && deps.clock().getTime() < until);
    },
    deps.log,
  )
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(
      complianceRoutes({
        compliance: service,
        documents,
        evidence,
        documentsPerMinute: config.compliance.documentsPerMinute,
      }),
    )
  }
  return {
    service,
    documents,
    evidence,
    worker,
    routes,
    /** The process listens: the checks of TLS, the redirect and security.txt connect here. */
    listening: (at: Listeners | null): void => {
      listening = at
    },
    /** The routes open without credentials (the access-control point knows them once routes are registered). */
    publicRoutesFrom: (list: () => readonly string[]): void => {
      openRoutes = list
    },
  }
}
