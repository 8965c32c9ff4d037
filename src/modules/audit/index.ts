import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { DB } from '../../db/schema.ts'
import { refuseOrgsNotServed } from '../../db/tenant.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { RetiredAuditKey } from '../../crypto/key-record.ts'
import type { Config } from '../../config.ts'
import { auditRoutes } from './audit.routes.ts'
import { createAuditService } from './audit.service.ts'
import { createSequencer } from './audit.sequencer.ts'
import { createWitnessDelivery } from './audit.witness.ts'
import { systemClock, type Clock } from '../../clock.ts'
import { createOutboundFetch, type OutboundFetch } from '../../http/outbound.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { WebhooksService } from '../notify/webhooks.service.ts'
import { createCosigner, type SignalAlerts } from './audit.cosign.ts'
import type { WitnessTarget } from './audit.store.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Subjects } from '../privacy/subjects.ts'
import { createAppEventsService } from './app-events.service.ts'
import { appEventsRoutes } from './app-events.routes.ts'
import { createViewerService } from './viewer.service.ts'
import { viewerRoutes } from './viewer.routes.ts'
import { createRollbackGuard, orgNotServed } from './rollback.service.ts'
import { rollbackRoutes } from './rollback.routes.ts'

export function createAuditModule(deps: {
  db: Kysely<DB>
  signer: Signer
  hmacKey: Buffer
  /** Audit keys replaced after a loss: they verify the checkpoints they signed before. */
  retiredKeys?: readonly RetiredAuditKey[] | undefined
  config: Pick<Config, 'audit' | 'publicUrl' | 'webhooks' | 'extraCaFile'>
  log: Logger
  clock?: Clock | undefined
  /** The org's webhooks (notify module, created after this one): checkpoints are delivered to those subscribed to `audit.checkpoint`. */
  webhooks: () => Pick<WebhooksService, 'enqueue'>
  /** Outbound HTTPS behind the destination guard (`CUSTODIAN_OUTBOUND_ALLOW`): the tlog witnesses. */
  outbound: OutboundFetch
  /** The alerts service (response module, created after this one): witness alerts. */
  alerts: () => SignalAlerts
  /** The privacy module's subject keys (created after this one): they seal application events' personal fields. */
  subjects: () => Pick<Subjects, 'personal'>
  /** The provider org (identity module, created after this one): rollback acknowledgements are audited there too. */
  providerOrgId: () => Promise<string | undefined>
}) {
  const { audit } = deps.config
  const service = createAuditService({
    ...deps,
    tlogWitnesses: { names: audit.tlogWitnesses.map((w) => w.name), quorum: audit.witnessQuorum },
  })
  // The operator's witnesses are configuration, not tenant input: any address (as for their deliveries).
  const operatorFetch = createOutboundFetch({ caFile: deps.config.extraCaFile, allow: ['0.0.0.0/0', '::/0'] })
  const rollback = createRollbackGuard({
    db: deps.db,
    clock: deps.clock ?? systemClock,
    audit: service,
    witnessFile: audit.witnessFile,
    tlogWitnesses: audit.tlogWitnesses,
    originHost: originHost(deps.config.publicUrl),
    fetch: operatorFetch,
    timeoutMs: deps.config.webhooks.timeoutMs,
    providerOrgId: deps.providerOrgId,
    log: deps.log,
  })
  // P8.1: no org transaction of a refused org, whoever opens it (a request, a job).
  refuseOrgsNotServed(deps.db, {
    refusal(orgId) {
      const code = rollback.refusal(orgId)
      return code === undefined ? undefined : orgNotServed(code)
    },
    refused: () => rollback.refusedOrgs(),
  })
  const sequencer = createSequencer({
    db: deps.db,
    signer: deps.signer,
    log: deps.log,
    paused: (orgId) => rollback.refusal(orgId) !== undefined,
    options: {
      intervalMs: deps.config.audit.sequencerIntervalMs,
      checkpointEvery: deps.config.audit.checkpointEvery,
      checkpointSeconds: deps.config.audit.checkpointSeconds,
      originHost: originHost(deps.config.publicUrl),
      witnesses: witnessesOf(deps.config.audit),
    },
  })
  const { webhooks } = deps.config
  const cosigner = createCosigner({
    db: deps.db,
    clock: deps.clock ?? systemClock,
    fetch: deps.outbound,
    witnesses: audit.tlogWitnesses,
    quorum: audit.witnessQuorum,
    unwitnessedAlertSeconds: audit.unwitnessedAlertSeconds,
    timeoutMs: webhooks.timeoutMs,
    alerts: deps.alerts,
    log: deps.log,
  })
  const witnesses = createWitnessDelivery({
    db: deps.db,
    clock: deps.clock ?? systemClock,
    // The operator's own witness endpoint is configuration, not tenant input (like the SMTP
    // relay): it may sit on a private network, so the special-range guard does not apply.
    fetch: operatorFetch,
    url: deps.config.audit.witnessUrl,
    file: deps.config.audit.witnessFile,
    webhooks: deps.webhooks,
    cosigner,
    retry: { baseMs: webhooks.retryBaseMs, maxAttempts: webhooks.maxAttempts, timeoutMs: webhooks.timeoutMs },
    log: deps.log,
    pausedOrgs: () => rollback.refusedOrgs(),
  })
  const appEvents = createAppEventsService({
    db: deps.db,
    hmacKey: deps.hmacKey,
    audit: service,
    subjects: deps.subjects,
  })
  const viewer = createViewerService({ db: deps.db, audit: service, clock: deps.clock ?? systemClock })
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(viewerRoutes({ viewer }))
    await app.register(auditRoutes({ audit: service, db: deps.db, originHost: originHost(deps.config.publicUrl) }))
    await app.register(rollbackRoutes({ rollback, db: deps.db }))
    await app.register(
      appEventsRoutes({ appEvents, batch: { max: audit.appEvents.batchMax, bytes: audit.appEvents.batchBytes } }),
    )
  }
  let caughtUp = false
  const witnessWorker = periodic(
    'audit-witness',
    webhooks.checkMs,
    async () => {
      if (!caughtUp) {
        const queued = await cosigner.catchUp()
        if (queued > 0)
          deps.log.info({ queued }, 'audit witnesses: newest checkpoints queued for witnesses new to a log')
        caughtUp = true
      }
      await witnesses.deliverDue()
      await cosigner.checkUnwitnessed()
    },
    deps.log,
  )
  // Once at start (buildApp, before anything is served), then on this schedule.
  const rollbackWorker = periodic(
    'audit-rollback-check',
    audit.rollbackCheckMs,
    async () => {
      await rollback.checkAll()
    },
    deps.log,
  )
  return {
    service,
    rollback,
    rollbackWorker,
    sequencer,
    witnesses,
    cosigner,
    witnessWorker,
    appEvents,
    viewer,
    routes,
  }
}

/** The host of the public URL names the log in checkpoint origins; `localhost` without one. */
export function originHost(publicUrl: string | undefined): string {
  return publicUrl === undefined ? 'localhost' : new URL(publicUrl).host
}

/** Every checkpoint goes to the org's webhooks; to the operator's witnesses where configured. */
function witnessesOf(audit: Config['audit']): WitnessTarget[] {
  return [
    { kind: 'webhooks' },
    ...(audit.witnessUrl === undefined ? [] : [{ kind: 'https' as const }]),
    ...(audit.witnessFile === undefined ? [] : [{ kind: 'file' as const }]),
    ...audit.tlogWitnesses.map((w) => ({ kind: 'tlog' as const, name: w.name })),
  ]
}
