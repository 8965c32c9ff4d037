import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { DB } from '../../db/schema.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { Config } from '../../config.ts'
import { auditRoutes } from './audit.routes.ts'
import { createAuditService } from './audit.service.ts'
import { createSequencer } from './audit.sequencer.ts'

export function createAuditModule(deps: { db: Kysely<DB>; signer: Signer; hmacKey: Buffer; config: Pick<Config, 'audit'>; log: Logger }) {
  const service = createAuditService(deps)
  const sequencer = createSequencer({
    db: deps.db,
    signer: deps.signer,
    log: deps.log,
    options: {
      intervalMs: deps.config.audit.sequencerIntervalMs,
      checkpointEvery: deps.config.audit.checkpointEvery,
      checkpointSeconds: deps.config.audit.checkpointSeconds,
    },
  })
  return { service, sequencer, routes: auditRoutes({ audit: service, db: deps.db }) }
}
