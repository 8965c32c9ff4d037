import { ACCESS_CHECKS } from './access.ts'
import { AUTHENTICATION_CHECKS } from './authentication.ts'
import type { CheckDefinition } from './check.ts'
import { LOGGING_CHECKS } from './logging.ts'
import { OPERATIONS_CHECKS } from './operations.ts'
import { PRIVACY_CHECKS } from './privacy.ts'
import { RESPONSE_CHECKS } from './response.ts'
import { SECRETS_CHECKS } from './secrets.ts'
import { TRANSPORT_CHECKS } from './transport.ts'

/** Every live check, in the catalogue's order (docs/compliance.md#checks lists them). */
export const CHECKS: readonly CheckDefinition[] = [
  ...SECRETS_CHECKS,
  ...ACCESS_CHECKS,
  ...AUTHENTICATION_CHECKS,
  ...TRANSPORT_CHECKS,
  ...LOGGING_CHECKS,
  ...RESPONSE_CHECKS,
  ...PRIVACY_CHECKS,
  ...OPERATIONS_CHECKS,
]

export type { CheckContext, CheckDefinition, ComplianceEnvironment } from './check.ts'
