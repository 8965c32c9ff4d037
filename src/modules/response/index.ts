import type { Kysely } from 'kysely'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import type { Trx } from '../../db/tenant.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createAlertsService } from './alerts.service.ts'
import { alertsRoutes } from './alerts.routes.ts'
import { createIncidentsService } from './incidents.service.ts'
import { incidentsRoutes } from './incidents.routes.ts'
import { createPlanService } from './plan.service.ts'

export function createResponseModule(deps: {
  db: Kysely<DB>
  audit: AuditService
  clock: Clock
  orgTimeZone: (trx: Trx, orgId: string) => Promise<string>
  alertCheckMs: number
  auditVerifyMs: number
  watchMs: number
  log: { error(obj: object, msg: string): void }
}) {
  const alerts = createAlertsService({
    db: deps.db,
    audit: deps.audit,
    clock: deps.clock,
    orgTimeZone: deps.orgTimeZone,
  })
  const plan = createPlanService({ db: deps.db, audit: deps.audit, alerts, clock: deps.clock })
  const incidents = createIncidentsService({ db: deps.db, audit: deps.audit, alerts, plan, clock: deps.clock })
  const watchWorker = periodic(
    'incident-clocks',
    deps.watchMs,
    async () => {
      await incidents.watch()
      await plan.watchReviews()
    },
    deps.log,
  )
  const alertWorker = periodic(
    'alert-rules',
    deps.alertCheckMs,
    async () => {
      await alerts.evaluate()
    },
    deps.log,
  )
  const verifyWorker = periodic(
    'audit-verify',
    deps.auditVerifyMs,
    async () => {
      await alerts.verifyChains()
    },
    deps.log,
  )
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(alertsRoutes({ alerts }))
    await app.register(incidentsRoutes({ incidents, plan }))
  }
  return { alerts, plan, incidents, alertWorker, verifyWorker, watchWorker, routes }
}
