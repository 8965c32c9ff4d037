import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import type { DB } from '../../db/schema.ts'
import { trustedCas, type DestinationGuard, type OutboundFetch } from '../../http/outbound.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { originHost } from '../audit/index.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { createDelivery } from './siem.delivery.ts'
import { siemRoutes } from './siem.routes.ts'
import { createSender } from './siem.send.ts'
import { createSiemService } from './siem.service.ts'

/** SIEM streaming: the destinations' service and routes, and the job that streams to them. */
export function createSiemModule(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'chainedAfter' | 'chainedHeads' | 'chainedHeadSeq'>
  vault: () => Pick<VaultService, 'keepValue' | 'openCurrent' | 'removeIn'>
  /** Outbound HTTPS through the destination guard (`CUSTODIAN_OUTBOUND_ALLOW`); the guard also checks syslog hosts. */
  outbound: OutboundFetch & { guard: DestinationGuard }
  clock: Clock
  config: Pick<Config, 'siem' | 'publicUrl' | 'extraCaFile'>
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
}) {
  const { siem } = deps.config
  const sender = createSender({
    fetch: deps.outbound,
    guard: deps.outbound.guard,
    originHost: originHost(deps.config.publicUrl),
    defaultCa: trustedCas(deps.config.extraCaFile),
    timeoutMs: siem.timeoutMs,
    batchBytes: siem.batchBytes,
  })
  const service = createSiemService({
    db: deps.db,
    audit: deps.audit,
    vault: deps.vault,
    guard: deps.outbound.guard,
    sender,
    clock: deps.clock,
  })
  const delivery = createDelivery({
    db: deps.db,
    audit: deps.audit,
    vault: deps.vault,
    sender,
    clock: deps.clock,
    options: {
      batchEvents: siem.batchEvents,
      retryBaseMs: siem.retryBaseMs,
      maxAttempts: siem.maxAttempts,
      timeoutMs: siem.timeoutMs,
    },
    log: deps.log,
  })
  const worker = periodic(
    'siem-delivery',
    siem.checkMs,
    async () => {
      await delivery.deliverDue()
    },
    deps.log,
  )
  return { service, delivery, worker, routes: siemRoutes({ siem: service }) }
}
