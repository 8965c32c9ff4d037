import type { Kysely } from 'kysely'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Keyring } from '../vault/vault.keyring.ts'
import { createRecordsService } from './records.service.ts'
import { recordsRoutes } from './records.routes.ts'
import { createRetentionService } from './retention.service.ts'
import { createSubjects } from './subjects.ts'
import type { ShredRing } from '../../crypto/shred-ring.ts'
import { createShredding } from './shredding.ts'
import type { IdentityService } from '../identity/identity.service.ts'
import { createOffboardingService } from './offboarding.service.ts'
import { offboardingRoutes } from './offboarding.routes.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { createRequestsService } from './requests.service.ts'
import { requestsRoutes } from './requests.routes.ts'
import type { ConsentPort } from './consent-port.ts'
import type { WebhooksService } from '../notify/webhooks.service.ts'

export function createPrivacyModule(deps: {
  db: Kysely<DB>
  audit: AuditService
  keyring: Keyring
  /** Keys the HMAC that finds a subject's rows without storing the subject id. */
  refKey: Buffer
  clock: Clock
  recordMaxBytes: number
  retentionCheckMs: number
  signer: Signer
  vault: () => VaultService
  shredRing: ShredRing
  shredRingTiming: { checkMs: number; graceMs: number }
  webhooks: WebhooksService
  deadlineCheckMs: number
  identity: IdentityService
  offboarding: { graceHours: number; checkMs: number }
  providerOrgId: () => Promise<string | undefined>
  log: { error(obj: object, msg: string): void }
  /** Consent, for erasure and access (reached lazily: created after this module). */
  consent: () => ConsentPort
}) {
  const subjects = createSubjects({ keyring: deps.keyring, ring: deps.shredRing, refKey: deps.refKey })
  const records = createRecordsService({
    db: deps.db,
    subjects,
    audit: deps.audit,
    clock: deps.clock,
    maxPayloadBytes: deps.recordMaxBytes,
  })
  const retention = createRetentionService({ db: deps.db, audit: deps.audit, clock: deps.clock })
  const retentionWorker = periodic(
    'retention-purge',
    deps.retentionCheckMs,
    async () => {
      await retention.purgeExpired()
    },
    deps.log,
  )
  const requests = createRequestsService({
    db: deps.db,
    subjects,
    records,
    audit: deps.audit,
    webhooks: deps.webhooks,
    signer: deps.signer,
    clock: deps.clock,
    consent: deps.consent,
  })
  const shredding = createShredding({
    db: deps.db,
    ring: deps.shredRing,
    graceMs: deps.shredRingTiming.graceMs,
    onRetired: () => requests.settlePendingErasures(),
  })
  const shredWorker = periodic(
    'shred-ring',
    deps.shredRingTiming.checkMs,
    async () => {
      await shredding.pass()
    },
    deps.log,
  )
  const deadlineWorker = periodic(
    'privacy-deadlines',
    deps.deadlineCheckMs,
    async () => {
      await requests.watchDeadlines()
    },
    deps.log,
  )
  const offboarding = createOffboardingService({
    db: deps.db,
    audit: deps.audit,
    identity: deps.identity,
    ring: deps.shredRing,
    signer: deps.signer,
    clock: deps.clock,
    defaultGraceHours: deps.offboarding.graceHours,
    providerOrgId: deps.providerOrgId,
  })
  const offboardingWorker = periodic(
    'org-offboarding',
    deps.offboarding.checkMs,
    async () => {
      await offboarding.runDue()
    },
    deps.log,
  )
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(recordsRoutes({ records, retention }))
    await app.register(offboardingRoutes({ offboarding }))
    await app.register(requestsRoutes({ requests }))
  }
  return {
    subjects,
    records,
    retention,
    requests,
    shredding,
    offboarding,
    retentionWorker,
    deadlineWorker,
    shredWorker,
    offboardingWorker,
    routes,
  }
}
