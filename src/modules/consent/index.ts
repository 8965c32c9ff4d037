import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { DB } from '../../db/schema.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Subjects } from '../privacy/subjects.ts'
import { consentRoutes } from './consent.routes.ts'
import { createConsentService } from './consent.service.ts'

/** How long a decision token is valid: a processor may cache a decision that long, no longer. */
export const DECISION_TOKEN_TTL_SECONDS = 300

/** Consent (P7.7): the service and its routes (docs/consent.md). */
export function createConsentModule(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  subjects: Pick<Subjects, 'ref' | 'key' | 'personal'>
  signer: Signer
  fingerprintKey: Buffer
  clock: Clock
}) {
  const service = createConsentService({ ...deps, tokenTtlSeconds: DECISION_TOKEN_TTL_SECONDS })
  return { service, routes: consentRoutes({ consent: service }) }
}
