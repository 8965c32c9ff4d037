/**
 * One error type with stable codes. The HTTP layer maps each code to a status through
 * {@link ERROR_STATUS} and renders RFC 9457 problem+json; tests assert the code, never
 * the message. Messages are written for the caller and must never contain a secret.
 */
export const ERROR_STATUS = {
  // 400 — the request itself is wrong
  VALIDATION_FAILED: 400,
  BAD_REQUEST: 400,
  UNSEAL_SHARES_INVALID: 400,
  MFA_CODE_INVALID: 400,
  PASSKEY_INVALID: 400,
  DECRYPTION_FAILED: 400,
  TRANSIT_VERSION_TOO_OLD: 400,
  SSO_STATE_INVALID: 400,
  // 401 — who are you?
  UNAUTHENTICATED: 401,
  LOGIN_FAILED: 401,
  MFA_REQUIRED: 401,
  SSO_FAILED: 401,
  VIEWER_TOKEN_EXPIRED: 401,
  // 403 — we know who you are; no
  FORBIDDEN: 403,
  CSRF_FAILED: 403,
  MFA_ENROLMENT_REQUIRED: 403,
  STEP_UP_REQUIRED: 403,
  BOOTSTRAP_TOKEN_INVALID: 403,
  INVITATION_INVALID: 403,
  IP_NOT_ALLOWED: 403,
  EXCEEDS_OWN_PERMISSIONS: 403,
  SSO_REQUIRED: 403,
  SSO_EMAIL_NOT_ALLOWED: 403,
  SSO_NOT_A_MEMBER: 403,
  ORIGIN_NOT_ALLOWED: 403,
  // 404 — absent, or not yours (never says which)
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  // 409 — conflicts with current state
  CONFLICT: 409,
  ALREADY_BOOTSTRAPPED: 409,
  LAST_OWNER: 409,
  SECRET_PAUSED: 409,
  SECRET_EXPOSED: 409,
  SECRET_VERSION_EXPOSED: 409,
  CONNECTOR_NOT_READ_ONLY: 409,
  SIGNING_SECRET_NOT_REVEALED: 409,
  ALLOWLIST_EXCLUDES_CALLER: 409,
  SSO_NOT_READY: 409,
  ORG_REGION_PINNED: 409,
  PROCESSING_RESTRICTED: 409,
  VERIFICATION_REQUIRED: 409,
  APP_EVENT_CONFLICT: 409,
  CONSENT_EVENT_CONFLICT: 409,
  CONSENT_BASIS_MISMATCH: 409,
  CONSENT_RECEIPT_PENDING: 409,
  // 410 — it existed and was destroyed on purpose
  SECRET_VERSION_DESTROYED: 410,
  SECRET_VERSION_DELETED: 410,
  EXPORT_EXPIRED: 410,
  SUBJECT_DATA_UNAVAILABLE: 410,
  WEBHOOK_PAYLOAD_ERASED: 410,
  // 421 — data residency (P8.2)
  REGION_MISDIRECTED: 421,
  // 413, 415, 429
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  // 5xx — ours
  INTERNAL: 500,
  ROTATION_FAILED: 502,
  SSO_PROVIDER_UNAVAILABLE: 502,
  VAULT_INTEGRITY_FAILED: 500,
  VAULT_SEALED: 503,
  AUDIT_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  ORG_ROLLED_BACK: 503,
  ORG_ROLLBACK_UNCHECKED: 503,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

/** Extra, caller-safe fields rendered into the problem document. */
export interface ErrorExtras {
  /** Per-field validation messages: `{ path: '/body/email', message: 'must match format "email"' }`. */
  errors?: { path: string; message: string }[]
  /** The permission a 403 refusal was missing. */
  permission?: string
  /** EXCEEDS_OWN_PERMISSIONS: what the credential or role would carry that the caller lacks. */
  missingPermissions?: string[]
  /** EXCEEDS_OWN_PERMISSIONS: the secret path patterns beyond the caller's own scope; FORBIDDEN: the path refused. */
  secretPaths?: string[]
  /** Seconds before a retry can succeed (429, 503). */
  retryAfter?: number
  /** REGION_MISDIRECTED: the region whose deployment serves the org, and that deployment's URL (null when unknown here). */
  region?: string | null
  regionUrl?: string | null
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly extras: ErrorExtras
  /** Set when the service already recorded this refusal in the audit log. */
  audited = false
  /**
   * False for a 404 that says the caller's own org has no such one-per-org thing (no single
   * sign-on set up, no offboarding under way): an answer, not a refused attempt, so it is not
   * recorded as `access.denied` (under a diagnostic access grant it would read as an attempt
   * beyond it). Anything reached by an id stays a refusal: it may be another org's.
   */
  refusal = true

  constructor(code: ErrorCode, message: string, extras: ErrorExtras = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AppError'
    this.code = code
    this.status = ERROR_STATUS[code]
    this.extras = extras
  }
}

/** A 404 saying the caller's org has none of a one-per-org thing (see AppError.refusal). */
export function absent(message: string): AppError {
  const error = new AppError('NOT_FOUND', message)
  error.refusal = false
  return error
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError
}
