import type { Kysely } from 'kysely'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import type { DB } from '../../db/schema.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Subjects } from '../privacy/subjects.ts'
import type { AlertsService } from '../response/alerts.service.ts'
import type { Keyring } from '../vault/vault.keyring.ts'
import { disclosurePages, type PageLimits } from './disclosure.pages.ts'
import { disclosurePublicRoutes, disclosureTeamRoutes } from './disclosure.routes.ts'
import { createReportSealing } from './reports.sealing.ts'
import { createReportsService } from './reports.service.ts'
import { createSecurityTxt } from './security-txt.ts'

export function createDisclosureModule(deps: {
  db: Kysely<DB>
  keyring: Keyring
  subjects: Subjects
  audit: AuditService
  alerts: AlertsService
  clock: Clock
  providerOrgId: () => Promise<string | undefined>
  config: Pick<Config, 'publicUrl' | 'disclosure' | 'auth'>
  log: { error(obj: object, msg: string): void }
}) {
  const { config } = deps
  const d = config.disclosure
  const securityTxt = createSecurityTxt(config)
  const reports = createReportsService({
    db: deps.db,
    sealing: createReportSealing({ keyring: deps.keyring, subjects: deps.subjects }),
    subjects: deps.subjects,
    audit: deps.audit,
    alerts: deps.alerts,
    clock: deps.clock,
    providerOrgId: deps.providerOrgId,
    config: d,
    calendar: { timeZone: d.timeZone, weekend: d.weekend, holidays: d.holidays },
  })
  const worker = periodic(
    'disclosure-deadlines',
    d.checkMs,
    async () => {
      await reports.watch()
    },
    deps.log,
  )
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    // Per address, one bucket each whether it comes through the API or the report pages.
    const reporter = { max: config.auth.rateLimitPerMinute, timeWindow: '1 minute' }
    const limits: PageLimits = {
      submit: app.rateLimit({ max: d.rateLimitPerHour, timeWindow: '1 hour' }),
      status: app.rateLimit(reporter),
      message: app.rateLimit(reporter),
    }
    await app.register(disclosurePublicRoutes({ reports, securityTxt, config, limits, clock: deps.clock }))
    await app.register(disclosurePages({ reports, config, limits }))
    await app.register(disclosureTeamRoutes({ reports }))
  }
  return { reports, securityTxt, worker, routes }
}
