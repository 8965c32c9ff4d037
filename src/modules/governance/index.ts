import type { Kysely } from 'kysely'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createGrantsService } from './grants.service.ts'
import { grantsRoutes } from './grants.routes.ts'

export function createGovernanceModule(deps: { db: Kysely<DB>; audit: AuditService; clock: Clock }) {
  const grants = createGrantsService({ db: deps.db, audit: deps.audit, clock: deps.clock })
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(grantsRoutes({ grants }))
  }
  return { grants, routes }
}
