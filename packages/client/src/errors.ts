/**
 * One error type with stable codes, like the API's own (docs/errors.md): every failure the
 * SDK reports is a {@link CustodianError}; match on `code`, never on the message.
 *
 * Codes from the server are the problem document's `code`, as they are. The SDK adds a few
 * of its own for failures that never reached an answer ({@link CLIENT_ERROR_CODES}).
 *
 * No error ever carries a secret: the server's problem documents hold none (its promise,
 * docs/errors.md); the SDK never puts a request, its headers or its body into an error, and
 * a failure to connect keeps only the system's code and message as its `cause`.
 */

/** The API's stable codes (docs/errors.md; a test keeps this list equal to the server's). */
export const API_ERROR_CODES = [
  'VALIDATION_FAILED',
  'BAD_REQUEST',
  'UNSEAL_SHARES_INVALID',
  'MFA_CODE_INVALID',
  'PASSKEY_INVALID',
  'DECRYPTION_FAILED',
  'TRANSIT_VERSION_TOO_OLD',
  'SSO_STATE_INVALID',
  'UNAUTHENTICATED',
  'VIEWER_TOKEN_EXPIRED',
  'LOGIN_FAILED',
  'MFA_REQUIRED',
  'SSO_FAILED',
  'FORBIDDEN',
  'CSRF_FAILED',
  'MFA_ENROLMENT_REQUIRED',
  'STEP_UP_REQUIRED',
  'BOOTSTRAP_TOKEN_INVALID',
  'INVITATION_INVALID',
  'IP_NOT_ALLOWED',
  'ORIGIN_NOT_ALLOWED',
  'EXCEEDS_OWN_PERMISSIONS',
  'SSO_REQUIRED',
  'SSO_EMAIL_NOT_ALLOWED',
  'SSO_NOT_A_MEMBER',
  'NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'NOT_ACCEPTABLE',
  'CONFLICT',
  'APP_EVENT_CONFLICT',
  'CONSENT_EVENT_CONFLICT',
  'CONSENT_BASIS_MISMATCH',
  'CONSENT_RECEIPT_PENDING',
  'ALREADY_BOOTSTRAPPED',
  'LAST_OWNER',
  'SECRET_PAUSED',
  'SECRET_EXPOSED',
  'SECRET_VERSION_EXPOSED',
  'CONNECTOR_NOT_READ_ONLY',
  'SIGNING_SECRET_NOT_REVEALED',
  'ALLOWLIST_EXCLUDES_CALLER',
  'SSO_NOT_READY',
  'PROCESSING_RESTRICTED',
  'VERIFICATION_REQUIRED',
  'SECRET_VERSION_DESTROYED',
  'SECRET_VERSION_DELETED',
  'EXPORT_EXPIRED',
  'WEBHOOK_PAYLOAD_ERASED',
  'SUBJECT_DATA_UNAVAILABLE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'INTERNAL',
  'ROTATION_FAILED',
  'SSO_PROVIDER_UNAVAILABLE',
  'VAULT_INTEGRITY_FAILED',
  'VAULT_SEALED',
  'AUDIT_UNAVAILABLE',
  'SERVICE_UNAVAILABLE',
  'ORG_ROLLED_BACK',
  'ORG_REGION_PINNED',
  'REGION_MISDIRECTED',
  'ORG_ROLLBACK_UNCHECKED',
] as const

/**
 * The SDK's own codes, for failures without a problem document:
 * - `CONNECTION_FAILED`: no answer: refused, reset, DNS, or TLS (an untrusted certificate:
 *   give the service's CA as `ca`);
 * - `TIMEOUT`: no answer within `timeoutMs`;
 * - `UNEXPECTED_RESPONSE`: an answer that is not the API's (not problem+json, or not JSON);
 * - `INVALID_ARGUMENT`: the call itself is wrong (checked before anything is sent);
 * - `CLIENT_CLOSED`: the client was closed;
 * - `AUDIT_BUFFER_FULL`: `audit.record` with `whenFull: 'throw'` and a full buffer.
 */
export const CLIENT_ERROR_CODES = [
  'CONNECTION_FAILED',
  'TIMEOUT',
  'UNEXPECTED_RESPONSE',
  'INVALID_ARGUMENT',
  'CLIENT_CLOSED',
  'AUDIT_BUFFER_FULL',
] as const

export type ApiErrorCode = (typeof API_ERROR_CODES)[number]
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number]
/** A known code, or a newer server's code this SDK does not know yet (still a string). */
export type ErrorCode = ApiErrorCode | ClientErrorCode | (string & {})

/** One entry of a validation problem: a JSON pointer into the request (`/body/name`) and why. */
export interface FieldProblem {
  path: string
  message: string
}

export interface CustodianErrorFields {
  /** The HTTP status of the answer; undefined when there was none. */
  status?: number | undefined
  /** The server's `requestId`: it finds the request in the service's log. */
  requestId?: string | undefined
  errors?: FieldProblem[] | undefined
  /** FORBIDDEN: the permission that was missing. */
  permission?: string | undefined
  /** EXCEEDS_OWN_PERMISSIONS: what the caller lacks. */
  missingPermissions?: string[] | undefined
  /** 429 and 503: seconds before a retry can succeed. */
  retryAfter?: number | undefined
  /** REGION_MISDIRECTED (421): the region whose deployment serves the org, and that deployment's URL (null when unknown there). */
  region?: string | null | undefined
  regionUrl?: string | null | undefined
  cause?: Error | undefined
}

/** The one error type of the SDK. */
export class CustodianError extends Error {
  readonly code: ErrorCode
  readonly status: number | undefined
  /** For people; may change. The code is what to match on. */
  readonly detail: string
  readonly requestId: string | undefined
  readonly errors: FieldProblem[]
  readonly permission: string | undefined
  readonly missingPermissions: string[] | undefined
  readonly retryAfter: number | undefined
  /**
   * REGION_MISDIRECTED (421): the org lives in another region's deployment (data residency);
   * `regionUrl` is where to send its requests — point a client for that org there.
   */
  readonly region: string | null | undefined
  readonly regionUrl: string | null | undefined

  constructor(code: ErrorCode, detail: string, fields: CustodianErrorFields = {}) {
    super(`${code}: ${detail}`, fields.cause === undefined ? undefined : { cause: fields.cause })
    this.name = 'CustodianError'
    this.code = code
    this.detail = detail
    this.status = fields.status
    this.requestId = fields.requestId
    this.errors = fields.errors ?? []
    this.permission = fields.permission
    this.missingPermissions = fields.missingPermissions
    this.retryAfter = fields.retryAfter
    this.region = fields.region
    this.regionUrl = fields.regionUrl
  }
}

/** Whether `error` is a CustodianError (with `code`, when given). */
export function isCustodianError(error: unknown, code?: ErrorCode): error is CustodianError {
  return error instanceof CustodianError && (code === undefined || error.code === code)
}

/** A CustodianError from an answer's problem+json body (or UNEXPECTED_RESPONSE when it is none). */
export function problemError(status: number, body: unknown, retryAfter: number | undefined): CustodianError {
  const problem = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const code = text(problem?.code)
  if (problem === undefined || code === undefined) {
    return new CustodianError('UNEXPECTED_RESPONSE', `the server answered ${status} without a problem document`, {
      status,
      retryAfter,
    })
  }
  const list = (v: unknown) => (Array.isArray(v) ? v : undefined)
  return new CustodianError(code, text(problem.detail) ?? `the server answered ${status}`, {
    status,
    requestId: text(problem.requestId),
    errors: list(problem.errors)?.filter(
      (e): e is FieldProblem =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as FieldProblem).path === 'string' &&
        typeof (e as FieldProblem).message === 'string',
    ),
    permission: text(problem.permission),
    missingPermissions: list(problem.missingPermissions)?.filter((p): p is string => typeof p === 'string'),
    retryAfter: typeof problem.retryAfter === 'number' ? problem.retryAfter : retryAfter,
    ...('region' in problem ? { region: text(problem.region) ?? null } : {}),
    ...('regionUrl' in problem ? { regionUrl: text(problem.regionUrl) ?? null } : {}),
  })
}
