import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { DB } from '../../db/schema.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Subjects } from '../privacy/subjects.ts'
import type { WebhooksService } from '../notify/webhooks.service.ts'
import type { DestinationGuard } from '../../http/outbound.ts'
import type { AlertsService } from '../response/alerts.service.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { createConsentPropagation } from './consent.propagation.ts'
import { consentPropagationRoutes } from './consent.propagation.routes.ts'
import { createConsentRecipients } from './consent.recipients.ts'
import { periodic } from '../../jobs/periodic.ts'
import { createConsentJobs } from './consent.jobs.ts'
import { consentReceiptRoutes, createConsentReceipts } from './consent.receipts.ts'
import { consentReportRoutes, createConsentReports } from './consent.reports.ts'
import { consentRoutes } from './consent.routes.ts'
import { createConsentService } from './consent.service.ts'
import { consentPageRoutes } from './page/page.routes.ts'
import { createConsentPageService, type ConsentReceipts } from './page/page.service.ts'
import type { OrgServedGuard } from '../audit/rollback.service.ts'

/** How long a decision token is valid: a processor may cache a decision that long, no longer. */
export const DECISION_TOKEN_TTL_SECONDS = 300

/** Consent (P7.7): the service and its routes (docs/consent.md). */
export function createConsentModule(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'receiptIn'>
  subjects: Pick<Subjects, 'ref' | 'key' | 'personal'>
  signer: Signer
  fingerprintKey: Buffer
  clock: Clock
  /** The org's webhooks: re-consent batches go to those subscribed to `consent.reconsent_required`. */
  webhooks: Pick<WebhooksService, 'enqueue' | 'enqueueTo'>
  /** Recipients' signing secrets are kept in the vault. */
  vault: () => Pick<VaultService, 'keepValue' | 'currentVersionIn' | 'removeIn' | 'existingIn'>
  /** The outbound destination guard: a recipient's endpoint is checked when registered. */
  guard: Pick<DestinationGuard, 'checkUrl'>
  /** Overdue acknowledgements raise `consent_propagation_overdue`. */
  alerts: () => Pick<AlertsService, 'raiseIn'>
  /** Keys each recipient's reference of a subject (so recipients cannot correlate). */
  recipientRefKey: Buffer
  /** How often the consent jobs run (expiry, objection deadlines, re-consent batches). */
  checkMs: number
  /** Requests per minute per client address to the public acknowledgement route. */
  ackRateLimitPerMinute: number
  log: { error(obj: object, msg: string): void }
  /** Custodian's public base URL: where preference-page links point. */
  publicUrl: string
  /** The receipts the preference page offers (default: the signed consent receipt of each event). */
  receipts?: ConsentReceipts
  /** Rollback detection (P8.1): the preference page and recipients' acknowledgements find their org themselves. */
  served: OrgServedGuard
}) {
  const recipients = createConsentRecipients(deps)
  const propagation = createConsentPropagation(deps)
  const service = createConsentService({
    ...deps,
    tokenTtlSeconds: DECISION_TOKEN_TTL_SECONDS,
    propagation,
    recipients,
  })
  const jobs = createConsentJobs({ ...deps, propagation })
  const worker = periodic('consent-jobs', deps.checkMs, () => jobs.run(), deps.log)
  const receipts = createConsentReceipts(deps)
  const reports = createConsentReports(deps)
  const page = createConsentPageService({
    ...deps,
    consent: service,
    receipts: deps.receipts ?? {
      kind: 'Consent receipt',
      forEvent: (orgId, eventId) => receipts.ofEvent(orgId, eventId),
    },
  })
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(consentRoutes({ consent: service }))
    await app.register(consentReceiptRoutes({ receipts }))
    await app.register(consentReportRoutes({ reports }))
    await app.register(consentPageRoutes({ page }))
    await app.register(
      consentPropagationRoutes({ recipients, propagation, ackRateLimitPerMinute: deps.ackRateLimitPerMinute }),
    )
  }
  /** What the privacy module's requests ask of consent (privacy/consent-port.ts). */
  const port = {
    withdrawForErasure: (...args: Parameters<typeof service.withdrawForErasure>) => service.withdrawForErasure(...args),
    historyOf: (...args: Parameters<typeof receipts.historyOf>) => receipts.historyOf(...args),
    tellOfRequest: (...args: Parameters<typeof service.tellOfRequest>) => service.tellOfRequest(...args),
  }
  return { service, jobs, worker, receipts, port, page, routes, recipients, propagation }
}
