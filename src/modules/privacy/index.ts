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

export function createPrivacyModule(deps: {
  db: Kysely<DB>
  audit: AuditService
  keyring: Keyring
  /** Keys the HMAC that finds a subject's rows without storing the subject id. */
  refKey: Buffer
  clock: Clock
  recordMaxBytes: number
  retentionCheckMs: number
  log: { error(obj: object, msg: string): void }
}) {
  const subjects = createSubjects({ keyring: deps.keyring, refKey: deps.refKey })
  const records = createRecordsService({ db: deps.db, subjects, audit: deps.audit, clock: deps.clock, maxPayloadBytes: deps.recordMaxBytes })
  const retention = createRetentionService({ db: deps.db, audit: deps.audit, clock: deps.clock })
  const retentionWorker = periodic('retention-purge', deps.retentionCheckMs, async () => void (await retention.purgeExpired()), deps.log)
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(recordsRoutes({ records, retention }))
  }
  return { subjects, records, retention, retentionWorker, routes }
}
