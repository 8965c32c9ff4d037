import type { Kysely } from 'kysely'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { AccessService } from '../access/access.service.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { IdentityService } from '../identity/identity.service.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { createGrantsService } from './grants.service.ts'
import { grantsRoutes } from './grants.routes.ts'
import { createReviewsService } from './reviews.service.ts'
import { reviewsRoutes } from './reviews.routes.ts'
import { createUsageRecorder } from './usage.ts'

export function createGovernanceModule(deps: {
  db: Kysely<DB>
  audit: AuditService
  access: AccessService
  identity: IdentityService
  vault: Pick<VaultService, 'existingIn' | 'outsideScopeIn'>
  clock: Clock
  reviewCheckMs: number
  log: { error(obj: object, msg: string): void }
}) {
  const grants = createGrantsService({ db: deps.db, audit: deps.audit, clock: deps.clock, vault: deps.vault })
  const usage = createUsageRecorder({ db: deps.db, clock: deps.clock, log: deps.log })
  const reviews = createReviewsService({
    db: deps.db,
    clock: deps.clock,
    audit: deps.audit,
    identity: deps.identity,
    access: deps.access,
    grants,
    usage,
  })
  const reviewScheduler = periodic(
    'access-review-scheduler',
    deps.reviewCheckMs,
    async () => {
      await reviews.runScheduled()
    },
    deps.log,
  )
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(grantsRoutes({ grants }))
    await app.register(reviewsRoutes({ reviews }))
  }
  return { grants, reviews, usage, reviewScheduler, routes }
}
