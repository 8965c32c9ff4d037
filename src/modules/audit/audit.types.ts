/** Who did it. `id` is null for an anonymous caller. */
export interface AuditActor {
  type: 'user' | 'service_account' | 'anonymous' | 'system'
  id: string | null
}

/** Where a request came from; filled by the HTTP layer, absent for background jobs. */
export interface RequestMeta {
  requestId: string | null
  ip: string | null
  userAgent: string | null
  /** Set when the request acts under a diagnostic access grant (P2.8): every event it writes names it. */
  grantId?: string | undefined
}

export interface AuditEventInput {
  orgId: string
  actor: AuditActor
  /** `resource.verb`, e.g. `member.remove`, `auth.login`. */
  action: string
  target?: { type: string; id: string | null } | undefined
  outcome: 'success' | 'denied' | 'failure'
  /** Non-secret facts. A secret value never goes here: put it in `sensitive`. */
  details?: Record<string, unknown> | undefined
  /** Values recorded only as keyed HMACs (`hmac-sha256:…`) under `details[key]`. */
  sensitive?: Record<string, string> | undefined
  /**
   * Personal fields of a data subject, already sealed with the subject's key by the
   * privacy module: the chained event holds only `details.personal` = the commitment
   * (salted SHA-256), so erasing the sealed fields leaves the chain verifiable.
   */
  personal?: { subjectRef: Buffer; commitment: string; sealed: Buffer } | undefined
  /**
   * The event's id (a UUID) chosen by the caller, for a document that names its own audit
   * event before the event is written (an erasure or offboarding certificate signs it, and
   * its receipt is found by it). Default: a random UUID.
   */
  eventId?: string | undefined
  meta: RequestMeta
}

export interface AuditEventView {
  id: string
  seq: number | null
  time: string
  /** `application`: recorded by the host application (docs/application-events.md); `custodian`: Custodian's own. */
  origin: 'custodian' | 'application'
  actor: AuditActor
  action: string
  target: { type: string; id: string | null } | null
  outcome: 'success' | 'denied' | 'failure'
  ip: string | null
  userAgent: string | null
  requestId: string | null
  details: Record<string, unknown>
  hash: string | null
  prevHash: string | null
}

/**
 * An event as the org's own events page shows it: with `actorEmail`, the actor's email when
 * the actor is a current member of the org (null for anyone else, an operator under a grant
 * included). Never in the embedded viewer, which serves the host application's end users.
 */
export interface NamedAuditEventView extends AuditEventView {
  actorEmail: string | null
}
