import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { accessRoutes } from './access.routes.ts'
import { createAccessService } from './access.service.ts'

export function createAccessModule(deps: { db: Kysely<DB>; audit: Pick<AuditService, 'append'> }) {
  const service = createAccessService(deps)
  return { service, routes: accessRoutes({ access: service }) }
}
